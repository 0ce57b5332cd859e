"""The model's hyper-parameters."""

from __future__ import annotations

from dataclasses import dataclass

from recsys.errors import UsageError

KINDS = ("hybrid", "reference")


@dataclass
class ModelConfig:
    """Hyper-parameters (defaults chosen by 5-fold measurements, see bench/RESULTS.md).

    Attributes:
        kind: ``hybrid`` (the model) or ``reference`` (the original course architecture).
        factors: embedding size.
        l2: per-example L2 penalty on the embeddings and biases used by each rating.
        learning_rate, batch_size: Adam settings.
        max_epochs, patience: early stopping on the validation slice (best weights restored).
        validation_fraction: share of training ratings held out for early stopping.
        implicit: include the SVD++-style implicit term.
        ranker_l2: EASE regularisation.
        ranker_max_items: EASE covers this many of the most-rated movies (all of them in
            MovieLens 100K and 1M; its inverse is ranker_max_items^2 doubles).
        ranker_rating_weight: weight of a rating r in the EASE matrix is 1 + w * (r - 3).
        rank_blend: weight of the user's standardised predicted ratings added to their
            standardised EASE scores in the ranking score (0: EASE alone).
        ensemble: number of hybrid networks trained with consecutive seeds and averaged
            (the reference model always trains one).
        seed: seed for initialisation, shuffling and the validation slice.
    """

    kind: str = "hybrid"
    factors: int = 32
    l2: float = 0.05
    learning_rate: float = 2e-3
    batch_size: int = 512
    max_epochs: int = 30
    patience: int = 2
    validation_fraction: float = 0.05
    implicit: bool = True
    ranker_l2: float = 500.0
    ranker_max_items: int = 10_000
    ranker_rating_weight: float = 0.3
    rank_blend: float = 0.3
    ensemble: int = 3
    seed: int = 42

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"kind must be 'hybrid' or 'reference', got {self.kind!r}")

    @property
    def members(self) -> int:
        """How many networks are trained (the reference model always one)."""
        return self.ensemble if self.kind == "hybrid" else 1
