"""Files written atomically (recsys/datasets/files.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_atomic_write_replaces_whole_with_the_users_permissions(tmp_path: Path) -> None:
    """The written file has 0666 less the umask (as any file the user writes), replaces the
    old one whole, and a failed write leaves the old file and no temporary file behind."""
    import os
    import stat

    from recsys.datasets.tables import atomic_write_text

    path = tmp_path / "sub" / "metrics.json"
    previous = os.umask(0o027)
    try:
        atomic_write_text(path, "first")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        atomic_write_text(path, "second ñ")
        with pytest.raises(TypeError):
            atomic_write_text(path, 42)  # type: ignore[arg-type]
    finally:
        os.umask(previous)
    assert path.read_text(encoding="utf-8") == "second ñ"
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]
