"""The pipeline's closing lines (recsys/pipeline/runner.py): the model's holdout quality beside
the best baseline of each metric, read from what 04_training recorded; and mappings shown as
tables (recsys/pipeline/notebook.py)."""

from __future__ import annotations

from recsys.pipeline import runner


def test_the_quality_line_names_the_best_baseline_of_each_metric() -> None:
    metrics = {"04_training": {"holdout": {"fraction": 0.1, "results": {
        "model": {"rmse": 0.91234, "ndcg@10": 0.41},
        "previous": {"rmse": 0.90, "ndcg@10": 0.45},  # the model itself: never a baseline
        "global_mean": {"rmse": 1.12, "ndcg@10": None},
        "biases": {"rmse": 0.944, "ndcg@10": 0.12},
        "ease": {"rmse": None, "ndcg@10": 0.371}}}}}
    assert runner.quality(metrics) == ("Model on a 10% holdout: RMSE 0.9123 (best baseline: "
                                       "biases 0.9440), NDCG@10 0.4100 (best baseline: ease "
                                       "0.3710)")


def test_no_holdout_no_quality_line() -> None:
    assert runner.quality({}) is None
    assert runner.quality({"04_training": {"training": {}}}) is None


def test_a_mapping_is_shown_as_a_table_with_nested_entries_as_rows() -> None:
    from recsys.pipeline.notebook import as_table

    table = as_table({"rows": 12000, "seconds_by_step": {"read": 0.004, "write": 0.047}},
                     column="value")
    assert list(table.index) == ["rows", "seconds_by_step: read", "seconds_by_step: write"]
    assert table["value"].tolist() == [12000, 0.004, 0.047]
