"""Notebooks are committed clean and paired: no outputs, and each .ipynb equals its py:percent script."""

from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest
from conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _cells(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[str]]]:
    return [(c.cell_type, c.source.strip(), sorted(c.get("metadata", {}).get("tags", []))) for c in nb.cells]


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs; run `nbstripout {path}` "
                       "(make setup installs it as a git filter)")
    assert "widgets" not in nb.metadata, f"{path.name}: widget state is committed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_equals_its_py_percent_pair(path: Path) -> None:
    script = path.with_suffix(".py")
    assert script.is_file(), f"{script.name} is missing: run `jupytext --sync {path}`"
    paired = jupytext.read(script)
    assert _cells(paired) == _cells(nbformat.read(path, as_version=4)), (
        f"{path.name} and {script.name} differ: edit one, then `jupytext --sync notebooks/*.ipynb`")
