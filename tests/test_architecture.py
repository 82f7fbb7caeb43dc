"""The package layout stays as ARCHITECTURE.md draws it: every module on the map, imports only
from earlier stages (lazy imports inside functions included), no cycles, no module past ~400 lines."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "bayesmoe"
BASE = {
    "errors",
    "config",
    "intervals",
    "rowstats",
    "files",
    "interrupt",
    "progress",
    "_optional",
    "_resources",
    "_version",
}
STAGES = ["runs", "laws", "inference", "decisions", "criticism", "viz", "<root>", "cli"]
MAX_LINES = 400


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module(p): p for p in sorted(PKG.rglob("*.py"))}


def _rank(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return STAGES.index("<root>") + 1
    if parts[1] in BASE:
        return 0
    return STAGES.index(parts[1]) + 1


def _imports(module: str) -> set[str]:
    """bayesmoe modules that ``module`` imports, anywhere in its body."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            # "from pkg import submodule" is an edge to the submodule itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        out |= {n for n in names if n.split(".")[0] == "bayesmoe" and n in MODULES and n != module}
    return out


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_is_on_the_map():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    mapped = set(re.findall(r"`(bayesmoe/[\w/]+\.py)`", text))
    actual = {str(p.relative_to(ROOT)) for p in MODULES.values()}
    assert actual - mapped == set(), "modules missing from ARCHITECTURE.md"
    assert mapped - actual == set(), "ARCHITECTURE.md lists modules that do not exist"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_from_earlier_stages(module):
    late = {m for m in GRAPH[module] if _rank(m) > _rank(module)}
    assert not late, f"{module} (stage {_rank(module)}) imports from later stages: {sorted(late)}"


def test_no_import_cycles():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                cycle = [*stack[stack.index(n) :], n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(MODULES):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_small(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines; split it (limit {MAX_LINES})"


def test_no_module_shadows_a_function_of_its_package():
    """``bm.plan`` is the function; no sub-package exposes a module and a function under one name."""
    import importlib

    for module in MODULES:
        if MODULES[module].name != "__init__.py":
            continue
        pkg = importlib.import_module(module)
        for name in getattr(pkg, "__all__", []):
            sub = f"{module}.{name}"
            if sub in MODULES:
                assert getattr(pkg, name).__name__ == sub, f"{sub} is shadowed in {module}"
            else:
                assert not (PKG / Path(*sub.split(".")[1:])).with_suffix(".py").exists()
