"""Shared fixtures: the optional ../shared data folder and small temporary datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ECGNET_SHARED", REPO.parent / "shared"))


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
