"""``recsys ingest`` as users run it (recsys/cli/data.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from recsys import datasets


def test_cli_ingest_on_sqlite(tmp_path: Path, synthetic: datasets.Dataset) -> None:
    data_dir = tmp_path / "data"
    datasets.save(synthetic, data_dir)
    env = {"RECSYS_DATA_DIR": str(data_dir), "RECSYS_VAR_DIR": str(tmp_path / "var"),
           "PATH": "/usr/bin:/bin"}
    for _ in range(2):
        done = subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert re.search(rf"^\s*scores\s.*\s{len(synthetic.scores)}$", done.stdout, re.M)
        assert "Dangling references: none" in done.stdout
    assert (tmp_path / "var" / "recsys.db").is_file()
    assert (tmp_path / "var" / "reports" / "load_report.csv").is_file()


def test_cli_reports_missing_data_without_traceback(tmp_path: Path) -> None:
    env = {"RECSYS_DATA_DIR": str(tmp_path / "nothing"), "RECSYS_VAR_DIR": str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "recsys.cli", "ingest"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "personas.csv is missing" in done.stderr
    assert "Traceback" not in done.stderr
