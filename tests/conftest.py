"""Shared fixtures: the optional ../shared data folder and small temporary datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGNET_SHARED", REPO.parent / "shared"))


# The test files that take longest (pytest --durations), started first so that the two worker processes
# (pyproject.toml's addopts) end together instead of one finishing a long file alone.
LONGEST_FILES = ("test_bench_scripts.py", "test_contract.py", "test_crossval.py", "test_ddp.py", "test_docker_recipe.py",
                 "test_official_harness_2021.py", "test_train.py", "test_demo.py", "test_driver_robustness.py",
                 "test_train_robustness.py", "test_entry_points.py")


def pytest_collection_modifyitems(items):
    """The longest files first (a stable sort: the rest, and the tests within a file, keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FILES)))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, skipping the calling test (with the reason) when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data folder), which is absent on this machine")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests run on 2-core CI machines, often beside other processes: keep torch to one thread."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a pinned requirement
        return
    torch.set_num_threads(1)
