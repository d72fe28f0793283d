"""The lessons: each notebook matches its jupytext source, carries no outputs and no pairing
with its source, runs top to bottom without an error within its time budget, and every
formula of docs/FORMULAS.md is walked through in the lessons its table names."""

import importlib.util
import re
import time
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
LESSONS = ROOT / "lessons"
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


def formula_table() -> dict[int, list[str]]:
    """docs/FORMULAS.md's table: formula number -> the lessons ("03", ...) said to teach it."""
    rows = re.findall(
        r"^\| F(\d+) \|[^|]*\|[^|]*\| ([\d, ]+) \|$",
        (ROOT / "docs" / "FORMULAS.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    return {int(number): re.findall(r"\d\d", lessons) for number, lessons in rows}


def test_every_formula_is_walked_through_in_the_lessons_the_table_names():
    """Each F<n> of docs/FORMULAS.md appears in the markdown of every lesson its table row
    lists, and the formulas are numbered F1, F2, ... without a gap."""
    table = formula_table()
    assert sorted(table) == list(range(1, len(table) + 1)) and len(table) >= 22, sorted(table)
    named = {}  # lesson number -> formula numbers its markdown names
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        markdown = " ".join(c.source for c in notebook.cells if c.cell_type == "markdown")
        named[path.stem[:2]] = {int(n) for n in re.findall(r"\bF(\d{1,2})\b", markdown)}
    for number, lessons in table.items():
        assert lessons, f"F{number} names no lesson in docs/FORMULAS.md"
        for lesson in lessons:
            assert number in named.get(lesson, set()), f"lesson {lesson} never names F{number}"


def test_notebooks_are_not_paired_with_their_sources():
    """Saving a lesson in Jupyter must not rewrite lessons/src: no notebook carries jupytext's
    pairing, and no jupytext configuration in the repository pairs them."""
    for path in NOTEBOOKS:
        assert "jupytext" not in nbformat.read(path, as_version=4).metadata, (
            f"{path.name} is paired with its source: run `python lessons/sync.py`"
        )
    for folder in (LESSONS, LESSONS / "src", ROOT):
        found = jupytext.config.find_jupytext_configuration_file(folder, search_parent_dirs=False)
        assert found is None, f"{found} would pair the lessons with their sources"


@pytest.fixture
def sync(monkeypatch, tmp_path):
    """lessons/sync.py as a module, working on a copy of lesson 05's source in tmp_path."""
    spec = importlib.util.spec_from_file_location("lesson_sync", LESSONS / "sync.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    (tmp_path / "src").mkdir()
    source = SOURCES[5]
    (tmp_path / "src" / source.name).write_text(source.read_text(encoding="utf-8"))
    monkeypatch.setattr(module, "LESSONS", tmp_path)
    monkeypatch.setattr(module, "SOURCES", tmp_path / "src")
    return module


def test_copies_are_clean_and_a_learners_copy_is_never_replaced(sync, tmp_path, capsys):
    mine = tmp_path / "mine"
    assert sync.main(["--copy", str(mine), "05"]) == 0
    (copy,) = mine.glob("*.ipynb")
    notebook = nbformat.read(copy, as_version=4)
    assert cells(notebook) == cells(jupytext.read(SOURCES[5], fmt="py:percent"))
    assert "jupytext" not in notebook.metadata
    copy.write_text("my experiments")
    assert sync.main(["--copy", str(mine)]) == 0
    assert copy.read_text() == "my experiments"
    assert f"left as they are (yours): {copy.name}" in capsys.readouterr().out


def test_pairing_is_for_developers_and_a_plain_sync_undoes_it(sync, tmp_path):
    assert sync.main(["--pair"]) == 0
    (notebook,) = tmp_path.glob("*.ipynb")
    assert nbformat.read(notebook, as_version=4).metadata["jupytext"]["formats"] == sync.PAIRING
    assert sync.main(["--check"]) == 1  # a paired notebook is not what we commit
    assert sync.main([]) == 0
    assert "jupytext" not in nbformat.read(notebook, as_version=4).metadata
    assert sync.main(["--check"]) == 0
