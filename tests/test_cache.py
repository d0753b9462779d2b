"""The preprocessing cache: contents, bad records, reuse, rebuilds and atomic writes."""
from __future__ import annotations

import csv
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from challenge_files import sine_counts, write_pair
from conftest import shared_path

import ecgnet.data.cache as cache_module
from ecgnet.config import PRESETS
from ecgnet.data.cache import Cache, build_cache, fingerprint, prepare_inputs
from ecgnet.errors import RecordError
from ecgnet.records.reader import read_record
from ecgnet.signal import TARGET_FS, encode_demographics, prepare_input, resample


def _write_record(directory: Path, name: str, seconds: float = 4.0, fs: int = 500, age: str = "50", sex: str = "Male", dx: str = "426783006") -> None:
    write_pair(directory, name, sine_counts(int(seconds * fs), fs), fs=fs, age=age, sex=sex, dx=dx)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "data"
    directory.mkdir()
    _write_record(directory, "A0001", 6.0, dx="164889003,59118001")
    _write_record(directory, "E00002", 3.0, fs=1000, age="NaN", sex="Female")
    _write_record(directory, "HR00003", 10.0, fs=300)
    _write_record(directory, "Q0004")
    (directory / "Q0004.mat").write_bytes(b"")  # bad: empty signal file
    _write_record(directory, "S0005")
    (directory / "S0005.mat").unlink()  # bad: no signal file
    return directory


def test_cache_holds_the_preprocessed_records(data_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ecgnet.data.cache"):
        cache = build_cache(data_dir, tmp_path / "cache", workers=1)
    assert len(cache) == 3 and cache.names.tolist() == ["A0001", "E00002", "HR00003"]
    assert cache.sources.tolist() == ["CPSC", "Georgia", "PTB-XL"]
    assert cache.fs.tolist() == [500.0, 1000.0, 300.0]
    assert cache.labels.shape == (3, 24) and cache.labels[0].sum() == 2 and cache.labels[1].sum() == 1
    np.testing.assert_array_equal(cache.demographics[1], encode_demographics(None, "Female"))
    for i, name in enumerate(cache.names):
        record = read_record(data_dir / f"{name}.hea")
        expected = resample(record.signal, record.fs)
        assert cache.lengths[i] == expected.shape[1] == int(record.signal.shape[1] / record.fs * TARGET_FS)
        assert cache.signal(i).dtype == np.float32
        np.testing.assert_array_equal(cache.signal(i), expected)
    reasons = dict((Path(f).name, r) for f, r in cache.bad_records)
    assert set(reasons) == {"Q0004.mat", "S0005.hea"} and "empty" in reasons["Q0004.mat"] and "missing" in reasons["S0005.hea"]
    with open(cache.path / "bad_records.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert any("skipped 2 bad record(s)" in m for m in caplog.messages)


def test_parallel_build_equals_serial_build(data_dir, tmp_path):
    serial = build_cache(data_dir, tmp_path / "one", workers=1)
    parallel = build_cache(data_dir, tmp_path / "two", workers=2)
    assert serial.fingerprint == parallel.fingerprint
    for i in range(len(serial)):
        np.testing.assert_array_equal(serial.signal(i), parallel.signal(i))


def test_cache_is_reused_then_rebuilt_when_files_or_settings_change(data_dir, tmp_path, monkeypatch):
    root = tmp_path / "cache"
    first = build_cache(data_dir, root, workers=1)

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "_write", no_rebuild)
        again = build_cache(data_dir, root, workers=1)
    assert again.fingerprint == first.fingerprint and again.path == first.path

    _write_record(data_dir, "A0001", 8.0)  # new content and mtime
    os.utime(data_dir / "A0001.mat", ns=(1, 1))
    changed = build_cache(data_dir, root, workers=1)
    assert changed.fingerprint != first.fingerprint
    assert changed.lengths[0] == int(8.0 * TARGET_FS)
    assert not first.path.exists()  # the superseded cache of the same directory and settings is removed

    other_policy = build_cache(data_dir, root, gain_policy="header", workers=1)
    assert other_policy.fingerprint != changed.fingerprint and changed.path.exists()
    assert fingerprint(data_dir, "header") == other_policy.fingerprint


def test_a_failed_build_leaves_nothing_behind(data_dir, tmp_path, monkeypatch):
    root = tmp_path / "cache"

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        build_cache(data_dir, root, workers=1)
    assert list(root.iterdir()) == []


def test_open_rejects_an_incomplete_cache(data_dir, tmp_path):
    cache = build_cache(data_dir, tmp_path / "cache", workers=1)
    copy = tmp_path / "partial"
    shutil.copytree(cache.path, copy)
    (copy / "index.npz").unlink()
    with pytest.raises(RecordError, match="not a complete record cache"):
        Cache.open(copy)
    assert len(Cache.open(cache.path)) == 3


def test_cache_of_real_edge_cases(tmp_path):
    edge = shared_path("data", "cinc2020-real", "edge-cases")
    cache = build_cache(edge, tmp_path / "cache", workers=1)
    assert cache.names.tolist() == ["A0001", "ETEST", "HR00001", "JS20005", "Q0002"]
    assert [Path(f).name for f, _ in cache.bad_records] == ["I0001.hea"]
    for i in range(len(cache)):
        p2p = np.median(np.ptp(cache.signal(i), axis=1))
        assert 0.3 < p2p < 10, cache.names[i]  # mV after the gain policy
    with open(cache.path / "warnings.csv", newline="") as handle:
        overridden = {row["name"] for row in csv.DictReader(handle) if row["warning"].startswith("gain override")}
    assert overridden == {"ETEST", "HR00001"}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def test_prepared_inputs_are_each_record_filtered_once_stored_beside_it_and_reused(data_dir, tmp_path, monkeypatch):
    """The adopted band-pass on every whole record, the numbers prepare_input gives; a later run, or another process
    reopening the folder, reads them back; the data folder is only read (it may be read-only)."""
    before = _tree(data_dir)
    data_dir.chmod(0o555)
    try:
        cache = build_cache(data_dir, tmp_path / "cache", workers=1)
        config = PRESETS["default"]
        prepared = prepare_inputs(cache, config, workers=1)
    finally:
        data_dir.chmod(0o755)
    assert _tree(data_dir) == before
    assert prepared.inputs and prepared.fingerprint == cache.fingerprint and len(prepared) == len(cache)
    for i in range(len(cache)):
        assert np.array_equal(prepared.signal(i), prepare_input(cache.signal(i), config))
    assert [p.name for p in cache.path.iterdir() if p.name.startswith((".", "inputs-"))] == [f"inputs-{prepared.inputs}.f32"]
    monkeypatch.setattr(cache_module, "_write_inputs", lambda *args: pytest.fail("the prepared inputs should be reused"))
    again = prepare_inputs(build_cache(data_dir, tmp_path / "cache", workers=1), config)
    reopened = Cache.open(cache.path, prepared.inputs)
    for i in range(len(cache)):
        assert np.array_equal(again.signal(i), prepared.signal(i)) and np.array_equal(reopened.signal(i), prepared.signal(i))
    assert prepare_inputs(cache, PRESETS["smoke"]) is cache  # no input lever: the raw records


def test_a_cache_folder_that_cannot_take_the_prepared_inputs_leaves_nothing_and_says_so(data_dir, tmp_path, monkeypatch, caplog):
    cache = build_cache(data_dir, tmp_path / "cache", workers=1)
    listing = sorted(p.name for p in cache.path.iterdir())

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_module.os, "posix_fallocate", full_disk)
    with caplog.at_level(logging.WARNING, logger="ecgnet.data.cache"):
        assert prepare_inputs(cache, PRESETS["default"], workers=1) is None
    assert sorted(p.name for p in cache.path.iterdir()) == listing
    assert any("cannot store the prepared inputs" in m and "No space left" in m for m in caplog.messages)
