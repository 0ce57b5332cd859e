"""The model's hyper-parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from recsys.errors import UsageError

KINDS = ("hybrid", "reference")

#: Scale rules (docs/SCALING.md): measured on this 2-core machine, they change nothing at
#: MovieLens 100K and keep training within minutes at 1M and within the hour at 25M.
#: The SVD++ implicit term costs O(training ratings x movies) per epoch (25 s per epoch at
#: 1M ratings x 3,706 movies against 7 s without it): it is left out above this much work.
IMPLICIT_MAX_WORK = 5e8
#: An ensemble multiplies training time: above this many ratings one network is trained.
ENSEMBLE_MAX_RATINGS = 500_000
#: The batch grows (a power of two, learning rate scaled by its square root) so that an epoch
#: is at most this many steps: a step costs about 6 ms plus 5 us per example here, so small
#: batches at millions of ratings spend most of the time in per-step overhead.
MAX_STEPS_PER_EPOCH = 1_000
MAX_BATCH = 16_384
#: Epochs are capped so that training sees at most this many examples per network (about
#: 8 minutes here): 30 epochs at 1M ratings, 11 at 10M, 5 at 25M, where each epoch already
#: carries thousands of steps and early stopping rarely waits longer at that size.
MAX_EXAMPLES = 100_000_000
MIN_EPOCHS = 3
#: The rating blend's users x movies correction matrix and item-item similarities are dense:
#: above this many ratings the networks' prediction is served alone (as the ensemble rule).
BLEND_MAX_RATINGS = ENSEMBLE_MAX_RATINGS
#: The ranking as it was before the iALS ensemble and the liking score (what the scale
#: benchmarks at 10M-25M ratings measured, bench/RESULTS.md): above this many ratings the
#: ranking score stays EASE + 0.3 x standardised predicted rating.
RANKING_ENSEMBLE_MAX_RATINGS = 2_000_000
#: Between ENSEMBLE_MAX_RATINGS and RANKING_ENSEMBLE_MAX_RATINGS (MovieLens 1M's size) the
#: ranking keeps iALS and the liking score with this many iALS members: one member fits
#: beside the one network, five would outlast it (bench/RESULTS.md, issue 26's second pass).
LARGE_IALS_MEMBERS = 1
#: Above this many ratings EASE's lambda is chosen on the validation slice
#: (:data:`recsys.models.ranker.L2_GRID`): the best value grows with the ratings per movie,
#: and the slice is large enough to choose on (25,000 ratings and more; at MovieLens 100K
#: its 5,000 would be noise, and 500 was chosen there by 5-fold measurements).
L2_SEARCH_MIN_RATINGS = ENSEMBLE_MAX_RATINGS
PREVIOUS_RANKING: dict[str, Any] = {"ials": 0, "rank_liking": False, "rank_blend": 0.3}
#: The model before this round's ensembles (no rating blend, the previous ranking): notebook
#: 04 and bench/model.py compare against it.
PREVIOUS: dict[str, Any] = {"blend": False, **PREVIOUS_RANKING}


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
        ranker_l2: EASE regularisation (the value chosen, after a search).
        ranker_l2_search: choose ``ranker_l2`` on the validation slice, climbing
            :data:`recsys.models.ranker.L2_GRID` (a scale rule turns it on).
        ranker_max_items: EASE covers this many of the most-rated movies (all of them in
            MovieLens 100K and 1M; its inverse is ranker_max_items^2 doubles).
        ranker_rating_weight: weight of a rating r in the EASE matrix is 1 + w * (r - 3).
        rank_blend: weight of the user's standardised liking scores (or predicted ratings,
            see ``rank_liking``) added to their standardised EASE scores in the ranking
            score (0: no rating part).
        rank_liking: the rating part of the ranking score is the log-chance that the user
            likes the movie, ``log sigmoid((r - 3.5) / 0.5)`` of the predicted rating ``r``
            (what the evaluation counts as relevant: rated 4 or more); False: ``r`` itself
            (the previous model).
        ials: members of the iALS ranking model added to the ranking score (their scores
            summed; 0: none; :mod:`recsys.models.ials`).
        rank_ials: weight of the user's standardised iALS scores in the ranking score.
        ensemble: number of hybrid networks trained with consecutive seeds and averaged
            (the reference model always trains one).
        blend: combine the networks with an item-based AutoRec, a KNN-baseline, a
            neighbourhood model on their residuals and day effects by a linear blend fitted
            on the validation slice (:mod:`recsys.models.blend`; hybrid only).
        blend_days: include the user-day effects in the blend (they apply when a rating's
            date is known).
        neighbours: how many similar movies the blend's neighbourhood models read.
        autorec: include an item-based AutoRec in the blend (:mod:`recsys.models.autorec`).
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
    ranker_l2_search: bool = False
    ranker_max_items: int = 10_000
    ranker_rating_weight: float = 0.3
    rank_blend: float = 1.2
    rank_liking: bool = True
    ials: int = 5
    rank_ials: float = 1.0
    ensemble: int = 3
    blend: bool = True
    blend_days: bool = True
    neighbours: int = 40
    autorec: bool = True
    seed: int = 42

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"kind must be 'hybrid' or 'reference', got {self.kind!r}")

    @property
    def members(self) -> int:
        """How many networks are trained (the reference model always one)."""
        return self.ensemble if self.kind == "hybrid" else 1

    def adapted(self, n_ratings: int, n_movies: int) -> tuple[ModelConfig, list[str]]:
        """This configuration adjusted to the data's size by the scale rules above, and one
        line per adjustment (what changed and why); unchanged on MovieLens 100K."""
        changes: dict[str, Any] = {}
        notes = []
        if self.implicit and n_ratings * n_movies > IMPLICIT_MAX_WORK:
            changes["implicit"] = False
            notes.append(f"implicit term off: {n_ratings:,} ratings x {n_movies:,} movies "
                         f"exceeds {IMPLICIT_MAX_WORK:.0e} per epoch")
        if self.kind == "hybrid" and self.ensemble > 1 and n_ratings > ENSEMBLE_MAX_RATINGS:
            changes["ensemble"] = 1
            notes.append(f"one network instead of {self.ensemble}: more than "
                         f"{ENSEMBLE_MAX_RATINGS:,} ratings")
        if self.blend and n_ratings > BLEND_MAX_RATINGS:
            changes["blend"] = False
            notes.append(f"no rating blend: more than {BLEND_MAX_RATINGS:,} ratings")
        if self.ials and n_ratings > RANKING_ENSEMBLE_MAX_RATINGS:
            changes.update(PREVIOUS_RANKING)
            notes.append("ranking by EASE and predicted rating, no iALS: more than "
                         f"{RANKING_ENSEMBLE_MAX_RATINGS:,} ratings")
        elif self.ials > LARGE_IALS_MEMBERS and n_ratings > ENSEMBLE_MAX_RATINGS:
            changes["ials"] = LARGE_IALS_MEMBERS
            notes.append(f"{LARGE_IALS_MEMBERS} iALS member(s) instead of {self.ials}: more "
                         f"than {ENSEMBLE_MAX_RATINGS:,} ratings")
        if not self.ranker_l2_search and n_ratings > L2_SEARCH_MIN_RATINGS:
            changes["ranker_l2_search"] = True
            notes.append("EASE lambda chosen on the validation slice: more than "
                         f"{L2_SEARCH_MIN_RATINGS:,} ratings")
        steps = n_ratings * (1 - self.validation_fraction) / self.batch_size
        if steps > MAX_STEPS_PER_EPOCH:
            wanted = n_ratings * (1 - self.validation_fraction) / MAX_STEPS_PER_EPOCH
            batch = min(MAX_BATCH, 2 ** math.ceil(math.log2(wanted)))
            if batch > self.batch_size:
                rate = self.learning_rate * math.sqrt(batch / self.batch_size)
                changes.update(batch_size=batch, learning_rate=rate)
                notes.append(f"batch {batch} (learning rate {rate:.2g}): at most "
                             f"{MAX_STEPS_PER_EPOCH} steps per epoch")
        epochs = max(MIN_EPOCHS, int(MAX_EXAMPLES // max(1.0, n_ratings
                                                          * (1 - self.validation_fraction))))
        if epochs < self.max_epochs:
            changes["max_epochs"] = epochs
            notes.append(f"at most {epochs} epochs: {MAX_EXAMPLES:,} examples per network")
        return replace(self, **changes), notes
