"""The lessons: each notebook matches its jupytext source, carries no outputs, and runs
top to bottom without an error within its time budget (F1-F21 are walked through there)."""

import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

LESSONS = Path(__file__).resolve().parent.parent / "lessons"
SOURCES = sorted((LESSONS / "src").glob("[0-9][0-9]_*.py"))
NOTEBOOKS = sorted(LESSONS.glob("[0-9][0-9]_*.ipynb"))
BUDGET_SECONDS = 60  # per lesson on two cores; a lesson that trains ("train" in its name): 300
TRAINING_BUDGET_SECONDS = 300


def cells(notebook):
    return [(cell.cell_type, cell.source) for cell in notebook.cells]


def test_every_source_has_a_notebook_and_back():
    assert SOURCES, "no lesson sources in lessons/src"
    assert [p.stem for p in SOURCES] == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_is_in_sync_with_its_source(source):
    expected = jupytext.read(source, fmt="py:percent")
    actual = nbformat.read(LESSONS / f"{source.stem}.ipynb", as_version=4)
    assert cells(actual) == cells(expected), (
        f"{source.stem}.ipynb differs from src/{source.name}: run `python lessons/sync.py`"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_no_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name} cell {index} has outputs: run `python lessons/sync.py`"
            )


@pytest.mark.kernel_sensitive  # their prose is asserted against what they compute and train
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_within_its_budget(path, monkeypatch):
    budget = TRAINING_BUDGET_SECONDS if "train" in path.stem else BUDGET_SECONDS
    monkeypatch.setenv("MPLBACKEND", "Agg")  # the kernel inherits it: no display needed
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=budget,  # per cell; the total is checked below
        resources={"metadata": {"path": str(LESSONS)}},
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first failing cell
    seconds = time.perf_counter() - start
    assert seconds < budget, f"{path.name} took {seconds:.0f} s, over its {budget} s budget"


def test_the_lessons_walk_through_every_formula():
    """F1-F21 (docs/FORMULAS.md) each appear in the markdown of some lesson."""
    import re

    named = set()
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                named.update(int(n) for n in re.findall(r"\bF(\d{1,2})\b", cell.source))
    assert set(range(1, 22)) <= named, f"no lesson names {sorted(set(range(1, 22)) - named)}"
