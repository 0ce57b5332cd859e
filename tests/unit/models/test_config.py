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


def test_movielens_1m_keeps_the_full_ranking_with_one_ials_member() -> None:
    # one iALS member fits beside the one network at this size; five would outlast it
    config = ModelConfig()
    mid, notes = config.adapted(1_000_209, 3_706)
    assert mid.ials == 1 < config.ials and mid.rank_liking and mid.rank_blend == config.rank_blend
    assert mid.ensemble == 1 and not mid.blend
    assert any("1 iALS member(s) instead of 5" in note for note in notes)
    # past 2M ratings: the ranking the scale benchmarks measured, no iALS at all
    assert config.adapted(2_000_001, 3_706)[0].ials == 0

