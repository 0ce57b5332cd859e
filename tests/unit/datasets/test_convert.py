"""MovieLens 100K converted into the course tables (recsys/datasets/convert.py)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from recsys import datasets


def _fake_ml100k() -> bytes:
    """A miniature archive in the GroupLens layout (3 users, 3 items, 5 ratings)."""
    flags = "|".join(["0"] * 19)
    action = "|".join(["0", "1"] + ["0"] * 17)
    files = {
        "ml-100k/u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|T8H1N\n",
        "ml-100k/u.item": (f"1|Toy Story (1995)|01-Jan-1995||http://x/1|{flags}\n"
                           f"2|GoldenEye (1995)|01-Jan-1995||http://x/2|{action}\n"
                           f"3|unknown||||{flags}\n"),
        "ml-100k/u.data": ("1\t1\t5\t874965758\n1\t2\t3\t876893171\n2\t1\t4\t878542960\n"
                           "3\t3\t2\t876893119\n3\t2\t1\t889751712\n"),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buffer.getvalue()


def test_convert_ml100k_produces_valid_course_tables(tmp_path: Path) -> None:
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(_fake_ml100k())
    datasets.convert_ml100k(archive, tmp_path / "data", n_workers=1)
    result = datasets.load(tmp_path / "data")
    assert result.rejected.empty
    assert result.dataset.counts() == {"persons": 3, "users": 3, "workers": 1, "movies": 3,
                                       "scores": 5}
    persons = result.dataset.persons.set_index("id")
    assert persons.loc[1, "birth_year"] == 1974 and persons.loc[3, "zip_code"] == "T8H1N"
    assert (result.dataset.users["occupation"] == "ITBA").sum() == 1
    assert result.dataset.movies.set_index("id").loc[2, "genres"] == ["Action"]
