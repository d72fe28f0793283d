"""Write every lessons/NN_name.ipynb from lessons/src/NN_name.py, without outputs.

    python lessons/sync.py            # after editing a lesson's .py
    python lessons/sync.py --check    # exit 1 if a notebook is missing or out of date

The .py files (jupytext's py:percent format) are the source we edit and review; the
notebooks are what a learner opens. Equivalent by hand, one lesson at a time:
``jupytext --to ipynb --update-metadata '{"jupytext": null}' -o lessons/NN_name.ipynb
lessons/src/NN_name.py``. Needs jupytext (``pip install -e ".[lessons]"``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat

LESSONS = Path(__file__).resolve().parent
SOURCES = LESSONS / "src"
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def notebook_from_source(source: Path) -> nbformat.NotebookNode:
    """The notebook of one lesson source: its cells, a python3 kernel, no outputs."""
    notebook = jupytext.read(source, fmt="py:percent")
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "jupytext": {"formats": "ipynb,src//py:percent"},
    }
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"  # stable ids: re-syncing an unchanged lesson changes nothing
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale notebooks")
    args = parser.parse_args(argv)
    stale = []
    for source in sorted(SOURCES.glob("[0-9][0-9]_*.py")):
        target = LESSONS / f"{source.stem}.ipynb"
        text = jupytext.writes(notebook_from_source(source), fmt="ipynb")
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target.name)
        if not args.check:
            target.write_text(text, encoding="utf-8")
    verb = "out of date" if args.check else "written"
    print(f"{len(stale)} notebook(s) {verb}" + (f": {', '.join(stale)}" if stale else ""))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
