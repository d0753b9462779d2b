"""The code's reading promises: functions that fit on a screen, and public functions that say what they do.

A newcomer reads ecgnet one function at a time; these checks keep that possible as it grows.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_LINES = 60
# Functions allowed past a screen, each with its reason.
LONGER_ON_PURPOSE = {
    "train_fold": "the training loop (epochs, batches, checkpoint) reads top to bottom in one body, as nanoGPT's train.py",
}
SOURCES = sorted([*REPO.glob("*.py"), *(REPO / "ecgnet").rglob("*.py"), *(REPO / "bench").glob("*.py"),
                  *(REPO / "experiments").glob("*.py"), *(REPO / "tests").glob("*.py")])


def _functions(tree: ast.AST, nested: bool):
    """(node, is_public_api) of every function; nested functions and those named ``_x`` are not public API."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, not nested and not node.name.startswith("_")
            yield from _functions(node, nested=True)
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, nested=nested or node.name.startswith("_"))
        else:
            yield from _functions(node, nested)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_function_is_longer_than_a_screen(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node, _ in _functions(tree, nested=False)
            if node.end_lineno - node.lineno + 1 > MAX_LINES and node.name not in LONGER_ON_PURPOSE]
    assert not long, f"{path.name}: split these: {', '.join(long)}"


@pytest.mark.parametrize("path", [p for p in SOURCES if p.parent.name != "tests" and p.parent.name != "bench"],
                         ids=lambda p: str(p.relative_to(REPO)))
def test_every_public_function_has_a_docstring(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    missing = [node.name for node, public in _functions(tree, nested=False) if public and not ast.get_docstring(node)]
    assert not missing, f"{path.name}: public functions without a docstring: {', '.join(missing)}"


def test_references_point_where_a_reader_can_look():
    """A clone has no issue tracker: code and docs cite papers, specifications and bench/RESULTS.md, never an issue number."""
    texts = [*SOURCES, *REPO.glob("*.md"), *(REPO / "bench").glob("*.md"), *(REPO / "docs").glob("*.md")]
    cited = [f"{path.relative_to(REPO)}:{number}: {line.strip()}" for path in texts
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bissues? #?\d+\b", line, re.IGNORECASE)]
    assert not cited, "issue numbers cited:\n" + "\n".join(cited)
