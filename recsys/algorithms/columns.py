"""Column names shared by every evaluation function (one home, as in Microsoft Recommenders'
``constants``), and what counts as relevant."""

from recsys.rules import LIKED_RATING

USER, ITEM, RATING, PREDICTION, RANK = "user_id", "movie_id", "rating", "predicted", "rank"
#: When a rating was given (optional in an explicit train/test pair).
RATED_AT = "rated_at"
#: Held-out ratings at least this high are the relevant movies of ranking metrics.
RELEVANT_RATING = LIKED_RATING
