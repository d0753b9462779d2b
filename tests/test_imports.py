"""The package's imports run one way: no cycle among its modules (imports inside functions count),
and no module imports one of a layer above its own (``LAYERS``, the README's "Layout").

A light module stays light: ``config``, ``analysis.report`` and ``data.cache`` load no torch.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FRONT_DOORS = {"ecgnet.cli", "ecgnet.entry_points", "ecgnet.api", "ecgnet.demo", "ecgnet.scoring", "ecgnet.scoring2021",
               "ecgnet.__main__"}
# From the top down: a module may import its own layer's modules and those of the layers below.
LAYERS = [
    {"__main__", "cli"}, {"entry_points", "api", "demo", "scoring", "scoring2021"}, {"analysis", "synth"}, {"training"}, {"inference"},
    {"modeldir"}, {"data"}, {"network"}, {"device"}, {"config"}, {"fileio"}, {"records"}, {"challenge"}, {"signal"},
    {"console", "errors", "leads"}, {"__init__"},
]


def layer_of(module: str) -> int:
    """The index in ``LAYERS`` of ``ecgnet.X...``'s part ``X`` (``__init__`` for the package itself)."""
    part = module.split(".")[1] if "." in module else "__init__"
    return next(i for i, layer in enumerate(LAYERS) if part in layer)


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its body (relative and absolute, at any depth)."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in modules and t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle as [a, b, ..., a], or [] when there is none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return []


def test_the_package_has_no_import_cycle():
    graph = import_graph(REPO / "ecgnet")
    assert len(graph) > 40
    assert find_cycle(graph) == []


def test_no_module_imports_a_layer_above_its_own():
    graph = import_graph(REPO / "ecgnet")
    upward = [f"{m} -> {t}" for m, targets in graph.items() for t in targets if layer_of(t) < layer_of(m)]
    assert not upward


def test_a_planted_cycle_is_found(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g  # inside a function: still an import\n")
    (package / "c.py").write_text("from . import a\n")
    assert find_cycle(import_graph(package)) == ["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]


def test_the_front_doors_and_root_scripts_are_imported_by_nothing_in_the_package():
    graph = import_graph(REPO / "ecgnet")
    assert not {f"{m} -> {t}" for m, targets in graph.items() for t in targets & FRONT_DOORS if m not in FRONT_DOORS}
    assert not any("ecgnet.entry_points" in targets for targets in graph.values())
    roots = {p.stem for p in REPO.glob("*.py")}
    for path in (REPO / "ecgnet").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module] if isinstance(node, ast.ImportFrom) else []
            assert not roots & {str(n).split(".")[0] for n in names}, f"{path} imports a root script"


def test_config_the_report_and_the_record_cache_load_no_torch():
    # the cache's worker processes import ecgnet.data.cache: each would pay seconds for torch
    code = ("import sys, ecgnet.config, ecgnet.analysis.report, ecgnet.data.cache; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
