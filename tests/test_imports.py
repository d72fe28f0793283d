"""The package's shape: stage modules never reach up into training, the package never runs its
reference implementations, no import cycle, no function longer than a screenful or two."""

import ast
from pathlib import Path

import minirpn

PACKAGE = Path(minirpn.__file__).parent
# The pipeline's stages and the maths under them: what lessons import one at a time.
STAGES = (
    "model",
    "backbone",
    "rpn",
    "rpn_head",
    "roi_head",
    "roi_ops",
    "ground_truth",
    "anchors",
    "anchor_target",
    "proposal_target",
    "boxes",
    "matching",
    "proposal",
    "ops",
    "nn",
    "receptive_field",
)
# What drives the stages: a stage module importing one of these would tie it to a recipe.
DRIVERS = (
    "train",
    "schemes",
    "batching",
    "run_state",
    "checkpoint",
    "memory",
    "report",
    "paper_claims",
    "cli",
    "runs",
)
# The reference implementations: the oracle the tests compare the fast code with and what
# the lessons read. Inside the package only what shows them (pictures, the lessons'
# exercises) may import them; the pipeline itself never runs them.
REFERENCES = ("minirpn.ops.reference", "minirpn.nn.reference")
MAY_SHOW_REFERENCES = ("visualize", "exercises")
MAX_FUNCTION_LINES = 100  # from the ``def`` line to the last line of the body (issue 20)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """The minirpn names a file imports: ``from minirpn.x import y`` gives minirpn.x.y, which
    :func:`graph` resolves to the module minirpn.x.y if there is one, else to minirpn.x."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == "minirpn" or name.startswith("minirpn.")}


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(path):
            # "from minirpn.ops import reference" may name a submodule or an attribute.
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                targets.add(target)
        edges[name] = targets
    return edges


def top_level(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def test_stage_modules_import_nothing_that_drives_training():
    edges = graph()
    for name, targets in edges.items():
        if top_level(name) in STAGES:
            bad = sorted(t for t in targets if top_level(t) in DRIVERS)
            assert not bad, f"{name} imports {bad}"


def test_the_package_never_runs_the_reference_implementations():
    edges = graph()
    assert set(REFERENCES) <= edges.keys()
    for name, targets in edges.items():
        if name not in REFERENCES and top_level(name) not in MAY_SHOW_REFERENCES:
            bad = sorted(targets & set(REFERENCES))
            assert not bad, f"{name} imports the reference implementations {bad}"


def test_the_import_graph_has_no_cycle():
    edges = graph()
    # The package's __init__ re-exports; its edges are not layering.
    edges = {k: {t for t in v if t != "minirpn"} for k, v in edges.items()}
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_reader_finds_imports_in_the_forms_the_package_uses(tmp_path):
    source = tmp_path / "x.py"
    source.write_text("from minirpn.ops import box_iou\nimport minirpn.nn\nfrom . import y\n")
    assert imports_of(source) == {"minirpn.ops.box_iou", "minirpn.nn"}


def function_lengths(path: Path) -> dict[str, int]:
    """Lines of every function and method in a file, ``def`` to the end of its body (its
    decorators not counted), by ``name:line``."""
    return {
        f"{node.name}:{node.lineno}": node.end_lineno - node.lineno + 1
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }


def test_no_function_is_longer_than_100_lines():
    long = {
        f"{module_name(path)}.{name}": lines
        for path in PACKAGE.rglob("*.py")
        for name, lines in function_lengths(path).items()
        if lines > MAX_FUNCTION_LINES
    }
    assert not long, f"functions longer than {MAX_FUNCTION_LINES} lines: {long}"


def test_function_lengths_count_from_def_to_the_end_of_the_body(tmp_path):
    source = tmp_path / "x.py"
    source.write_text(
        "@decorator\ndef f(\n    a,\n):\n    x = 1\n\n    return x\n\n\n"
        "class C:\n    def g(self):\n        pass\n"
    )
    assert function_lengths(source) == {"f:2": 6, "g:11": 2}
