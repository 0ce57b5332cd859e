"""Benchmark: the whole notebook pipeline on the real data with the embedded defaults
(SQLite + local vector index, default parameters), from an empty var folder, as
`recsys pipeline` runs it.

Usage: RECSYS_DATA_DIR=../shared/datasets .venv/bin/python bench/pipeline.py
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, RECSYS_VAR_DIR=str(Path(tmp) / "var"))
        env.pop("RECSYS_DATABASE_URL", None)
        env.pop("RECSYS_VECTOR_BACKEND", None)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "recsys.cli", "pipeline", "--quiet",
                        "--runs-dir", str(Path(tmp) / "runs")], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        total = time.perf_counter() - start
        summary = json.loads(next((Path(tmp) / "runs").glob("*/summary.json")).read_text())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; embedded defaults, default parameters\n")
    print("| notebook | seconds |\n|---|---|")
    for step in summary["steps"]:
        print(f"| {step['notebook']} | {step['seconds']:.1f} |")
    print(f"| **whole pipeline (wall clock, with kernel start-ups)** | **{total:.0f}** |")


if __name__ == "__main__":
    main()
