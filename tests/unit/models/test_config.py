"""The training scale rules (recsys/models/config.py): MovieLens 100K left alone, larger data
adapted."""

from __future__ import annotations

from recsys.models import ModelConfig


def test_scale_rules_leave_movielens_100k_alone_and_adapt_larger_data() -> None:
    config = ModelConfig()
    same, notes = config.adapted(100_000, 1_682)
    assert same == config and notes == []
    big, notes = config.adapted(25_000_000, 62_000)
    assert not big.implicit and big.ensemble == 1 and big.batch_size > config.batch_size
    assert not big.blend and config.blend
    # the ranking as the scale benchmarks measured it: EASE + 0.3 x rating, no iALS
    assert (big.ials, big.rank_liking, big.rank_blend) == (0, False, 0.3) and config.ials
    assert big.ranker_l2_search and not config.ranker_l2_search
    assert big.learning_rate > config.learning_rate and len(notes) == 7
    assert 3 <= big.max_epochs < config.max_epochs
    steps = 25_000_000 * (1 - config.validation_fraction) / big.batch_size
    assert steps <= 1_000 or big.batch_size == 16_384
