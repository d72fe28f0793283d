"""Write the lesson notebooks from their sources; give learners copies of their own.

    python lessons/sync.py                      # after editing lessons/src/NN_name.py
    python lessons/sync.py --check              # exit 1 if a notebook is missing, stale or paired
    python lessons/sync.py --copy DIR [NN ...]  # learners: your own copies, to run and change
    python lessons/sync.py --pair               # developers: edit the lessons in Jupyter Lab

The .py files in ``lessons/src`` (jupytext's py:percent format) are the source we edit and
review; ``lessons/NN_name.ipynb`` are written from them, without outputs and without any
jupytext pairing, so opening and saving a notebook in Jupyter changes that notebook alone,
never a source. ``LESSON`` arguments (``05`` or ``05_box_coding_and_rpn_loss``) pick some
lessons; the default is all of them.

``--copy DIR`` writes clean notebooks into ``DIR`` (made if needed) and never replaces a
notebook already there: to get a clean copy of a lesson back, rename or delete yours and
run the command again.

``--pair`` marks each notebook in ``lessons/`` as paired with its source (jupytext's
``formats`` metadata): with jupytext installed, Jupyter Lab then saves every change of a
notebook into its source too. A plain ``python lessons/sync.py`` writes the notebooks
unpaired and without outputs again; run it before committing (``--check`` and
``tests/test_lessons.py`` refuse a paired notebook). Needs jupytext
(``pip install -e ".[lessons]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

from minirpn.fileio import atomic_write

LESSONS = Path(__file__).resolve().parent
SOURCES = LESSONS / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}
PAIRING = "ipynb,src//py:percent"  # a notebook in lessons/, its source in lessons/src/


def notebook_from_source(source: Path, paired: bool = False) -> nbformat.NotebookNode:
    """The notebook of one lesson source: its cells, a python3 kernel, no outputs; paired
    with the source (jupytext's ``formats``) only when ``paired``."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    if paired:
        notebook.metadata["jupytext"] = {"formats": PAIRING}
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: re-syncing an unchanged lesson changes nothing
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def lesson_sources(names) -> list[Path]:
    """The sources of the lessons named (``05`` or ``05_box_coding_and_rpn_loss``), or all.

    Raises ValueError naming a name that matches no lesson.
    """
    sources = sorted(SOURCES.glob("[0-9][0-9]_*.py"))
    if not names:
        return sources
    chosen = []
    for name in names:
        found = [s for s in sources if s.stem == name or s.stem.split("_")[0] == name]
        if not found:
            known = ", ".join(s.stem for s in sources)
            raise ValueError(f"no lesson {name!r}; the lessons are {known}")
        chosen += [s for s in found if s not in chosen]
    return chosen


def write(path: Path, text: str) -> None:
    with atomic_write(path) as f:
        f.write(text.encode("utf-8"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report stale notebooks")
    mode.add_argument("--copy", metavar="DIR", type=Path, help="write clean copies into DIR")
    mode.add_argument("--pair", action="store_true", help="pair the notebooks with their sources")
    parser.add_argument("lessons", nargs="*", metavar="LESSON", help="e.g. 05 (default: all)")
    args = parser.parse_args(argv)
    try:
        sources = lesson_sources(args.lessons)
    except ValueError as error:
        parser.error(str(error))

    if args.copy is not None:
        written, kept = [], []
        for source in sources:
            target = args.copy / f"{source.stem}.ipynb"
            if target.exists():
                kept.append(target.name)
                continue
            write(target, jupytext.writes(notebook_from_source(source), fmt="ipynb"))
            written.append(target.name)
        print(f"{len(written)} lesson(s) copied into {args.copy}")
        if kept:
            print(f"left as they are (yours): {', '.join(kept)}")
            print("for a clean copy of one, rename or delete yours and run this again")
        return 0

    stale = []
    for source in sources:
        target = LESSONS / f"{source.stem}.ipynb"
        text = jupytext.writes(notebook_from_source(source, paired=args.pair), fmt="ipynb")
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target.name)
        if not args.check:
            write(target, text)
    verb = "out of date or paired" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
