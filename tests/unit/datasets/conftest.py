"""Fixtures the tests of this folder share."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import saved_to

from recsys import datasets


@pytest.fixture
def folder(tmp_path: Path, synthetic: datasets.Dataset) -> Path:
    return saved_to(synthetic, tmp_path)
