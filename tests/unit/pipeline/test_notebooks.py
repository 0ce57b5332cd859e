"""The notebooks as committed (recsys/pipeline/): seven, in order, clean and thin; the repository
URL in one place; secrets kept out of papermill's parameters."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from support import NOTEBOOK_NAMES

from recsys.pipeline import runner as pipeline

NOTEBOOKS = sorted((pipeline.DEFAULT_NOTEBOOKS_DIR).glob("*.ipynb"))


def test_the_seven_notebooks_exist_in_order() -> None:
    assert [p.stem for p in NOTEBOOKS] == list(pipeline.NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_clean_and_thin(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    for cell in code:
        assert not cell.outputs and cell.execution_count is None, "outputs are committed"
    assert nb.cells[0].cell_type == "markdown" and "colab.research.google.com" in \
        nb.cells[0].source, "the introduction with an Open in Colab badge comes first"
    assert "parameters" in nb.cells[1].metadata.get("tags", []), "then the parameters cell"
    assert "google.colab" in nb.cells[2].source and "notebook.setup(" in nb.cells[2].source
    for cell in code:  # narrative, parameters and calls into recsys: no logic of their own
        assert "def " not in cell.source and "class " not in cell.source, cell.source


def test_split_secrets_keeps_a_password_out_of_parameters_and_records() -> None:
    url = "postgresql+psycopg2://recsys:Pa55-w0rd@db.example:5432/recsys"
    given, environment, recorded = pipeline.split_secrets({"database_url": url, "epochs": 4})
    assert given == {"database_url": "", "epochs": 4}
    assert environment == {"RECSYS_DATABASE_URL": url}
    assert "Pa55-w0rd" not in json.dumps(recorded) and recorded["epochs"] == 4
    plain = "sqlite:////tmp/x/recsys.db"  # nothing secret: passed as it is
    assert pipeline.split_secrets({"database_url": plain}) == (
        {"database_url": plain}, {}, {"database_url": plain})


def test_the_repository_url_lives_in_one_place() -> None:
    from recsys.pipeline.notebook import repository_url

    url = repository_url()
    slug = url.removeprefix("https://github.com/")
    for name in NOTEBOOK_NAMES:
        nb = nbformat.read(pipeline.DEFAULT_NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
        assert f"colab.research.google.com/github/{slug}/blob/main/notebooks/{name}" in \
            nb.cells[0].source
        assert f'repo_url = "{url}"' in nb.cells[1].source
        text = "".join(c.source for c in nb.cells)
        assert text.count(slug) == 2, name  # the badge and repo_url, nothing else
