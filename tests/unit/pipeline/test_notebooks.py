"""The notebooks as committed (recsys/pipeline/): seven, in order, clean and thin; the repository
URL in one place; secrets kept out of papermill's parameters."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest
from support import NOTEBOOK_NAMES

from recsys.pipeline import runner as pipeline

NOTEBOOKS = sorted((pipeline.DEFAULT_NOTEBOOKS_DIR).glob("*.ipynb"))
#: Table operations that are logic when a notebook does them itself (recsys/ does them).
TABLE_OPERATIONS = {"merge", "join", "query", "eval", "apply", "map", "groupby", "pivot",
                    "pivot_table", "value_counts", "sort_values", "drop", "assign", "loc",
                    "iloc", "at", "isin", "agg", "explode", "set_index", "reset_index",
                    "to_dict", "tolist", "round"}
#: Arithmetic that is logic (``/`` joins paths and ``%`` formats, so they are left alone).
ARITHMETIC = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Pow, ast.BitAnd, ast.BitOr)


def logic(source: str) -> list[str]:
    """What in a code cell is logic of its own rather than narrative, parameters and calls
    into recsys: definitions, lambdas, comprehensions, loops, asserts, imports from outside
    recsys, arithmetic, boolean filters and table operations."""
    found = []
    for node in ast.walk(ast.parse(source)):
        shape = None
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            shape = "a definition"
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            shape = "a comprehension"
        elif isinstance(node, ast.For | ast.AsyncFor | ast.While):
            shape = "a loop"
        elif isinstance(node, ast.Assert):
            shape = "an assert"
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
                [alias.name for alias in node.names]
            if any(name != "recsys" and not name.startswith("recsys.") for name in names):
                shape = "an import from outside recsys"
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ARITHMETIC):
            shape = "arithmetic"
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Compare | ast.BoolOp
                                                                | ast.BinOp | ast.UnaryOp):
            shape = "a filter"
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.List):
            shape = "a column selection"
        elif isinstance(node, ast.Attribute) and node.attr in TABLE_OPERATIONS:
            shape = f"a table operation ({node.attr})"
        if shape:
            found.append(f"{shape}: {ast.unparse(node).splitlines()[0][:80]}")
    return found


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
    # narrative, parameters and calls into recsys: no logic of their own (the setup cell,
    # which installs the package in Colab before recsys exists, is the one exception)
    for cell in code[2:]:
        assert logic(cell.source) == [], cell.source


@pytest.mark.parametrize("shape,source", [
    ("arithmetic", 'warnings = int(len(result.report) - len(result.rejected))'),
    ("a table operation (value_counts)", 'int(data.scores["movie_id"].value_counts().index[0])'),
    ("a definition", 'data.movies["genres"].map(lambda g: g[0] if g else "none")'),
    ("a filter", 'liked = data.scores[(data.scores["user_id"] == 1)]'),
    ("a table operation (merge)", 'liked.merge(data.movies, left_on="movie_id", right_on="id")'),
    ("an assert", "assert answer.status == 201, answer"),
    ("a comprehension", '[c["description"] for c in answer.body["clusters"]]'),
    ("an import from outside recsys", "import pandas as pd"),
    ("a loop", 'for line in profiles["description"]:\n    print(line)'),
    ("a definition", "def helper():\n    return 1"),
    ("a column selection", 'profiles[["cluster", "size"]]'),
    ("a table operation (set_index)", 'result.selection.set_index("k")'),
])
def test_the_logic_check_sees_each_shape(shape: str, source: str) -> None:
    """A test of the test: each shape found in the notebooks once is flagged by name."""
    assert any(found.startswith(shape) for found in logic(source)), logic(source)


def test_the_logic_check_lets_narrative_and_calls_through() -> None:
    clean = ('from recsys.vectors import clustering\n'
             'result = clustering.cluster_users(vectors, k=k, seed=settings.seed)\n'
             'print(f"k = {result.k}")\nsettings.var_dir / "model"\nresult.figure')
    assert logic(clean) == []


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
