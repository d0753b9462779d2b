"""Atomic writes leave whole files with the permissions a plain write would give them."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from ecgnet.challenge.classes import CLASSES
from ecgnet.inference.outputs import write_output
from ecgnet.config import load_config
from ecgnet.fileio import atomic_write_bytes, atomic_write_text, current_umask, write_summary
from ecgnet.modeldir import MANIFEST, save_weights, write_manifest
from ecgnet.network.model import SEResNet


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask():
    """Set the process umask for one test and restore it afterwards."""
    previous = os.umask(0o022)
    os.umask(previous)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(previous)


@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_new_file_gets_0666_minus_the_umask_like_a_plain_write(tmp_path, umask, mask, expected):
    umask(mask)
    assert current_umask() == mask
    atomic_write_text(tmp_path / "atomic.txt", "x")
    (tmp_path / "plain.txt").write_text("x")
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "plain.txt") == expected


def test_an_existing_file_keeps_its_mode(tmp_path, umask):
    umask(0o022)
    path = tmp_path / "kept.csv"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"new" and _mode(path) == 0o640


def test_weights_manifest_summary_and_driver_outputs_are_readable_by_others(tmp_path, umask):
    umask(0o022)
    save_weights(tmp_path / "fold_0.pt", SEResNet(load_config("smoke").network).state_dict())
    write_manifest(tmp_path, {"format": 1})
    write_output(tmp_path / "A0001.csv", "A0001", CLASSES, np.zeros(len(CLASSES), dtype=bool), np.zeros(len(CLASSES)))
    summary = write_summary(tmp_path, {"pooled": {}})
    for name in ("fold_0.pt", MANIFEST, "A0001.csv", summary.name):
        assert _mode(tmp_path / name) == 0o644, name
