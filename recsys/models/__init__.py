"""The recommendation model: configuration, Keras networks, the EASE ranker, the fitted state,
the :class:`Recommender` that serves both ratings and rankings, and its artifact.

Importing this package does not import Keras; fitting or loading a model does.
"""

from recsys.errors import ModelError, ModelNotFound
from recsys.models.config import ModelConfig
from recsys.models.recommender import Recommender
from recsys.models.state import FittedModel, catalogue_fingerprint, fingerprint

__all__ = ["FittedModel", "ModelConfig", "ModelError", "ModelNotFound", "Recommender",
           "catalogue_fingerprint", "fingerprint"]
