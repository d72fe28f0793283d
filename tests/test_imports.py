"""The package's layering: stage modules never reach up into training, and no import cycle."""

import ast
from pathlib import Path

import minirpn

PACKAGE = Path(minirpn.__file__).parent
# The pipeline's stages and the maths under them: what lessons import one at a time.
STAGES = (
    "backbone",
    "rpn",
    "roi_head",
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
DRIVERS = ("train", "schemes", "report", "cli", "runs", "batching")


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
