"""The inputs of ../shared/hunt-cases give the right behaviour, and so do others of the same kind.

Each folder there is one kind of fault (its README): WFDB's invalid-sample value,
gains in other units, a record too short to hold a beat, label files with CR-only
line ends. The shared files are checked as they are (skipped with a reason where
../shared is absent); inputs of the same kind are generated here from them, or
from scratch, so the kind is fixed rather than the file.
"""
from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from challenge_files import sine_counts, write_pair
from conftest import shared_path
from helpers import assert_same_answers, official_driver_files
from model_dirs import random_model_dir

from ecgnet.challenge import metrics
from ecgnet.config import PRESETS
from ecgnet.errors import RecordError
from ecgnet.inference.predict import main
from ecgnet.records.header import read_header_text
from ecgnet.records.reader import GAIN_POLICIES, read_record, record_from_arrays
from ecgnet.scoring import score_directories
from ecgnet.synth import generate_dataset
from ecgnet.training.train import train_ensemble


def _hunt(*parts: str) -> Path:
    return shared_path("hunt-cases", *parts)


def _driver_reading(header_path: Path):
    """The record as the organisers' driver hands it over: float64 ``val`` and the header's lines."""
    data = np.asarray(scipy.io.loadmat(header_path.with_suffix(".mat"))["val"], dtype=np.float64)
    lines = io.StringIO(read_header_text(header_path), newline=None).readlines()
    return record_from_arrays(data, lines, where=header_path.stem)


# ---- invalid-sample-marker ---------------------------------------------------

def test_inval_reads_exactly_like_nanrep_with_one_warning():
    folder = _hunt("invalid-sample-marker")
    inval, nanrep, clean = (read_record(folder / f"{name}.hea") for name in ("INVAL", "NANREP", "CLEAN"))
    assert np.array_equal(inval.signal, nanrep.signal)
    assert not np.array_equal(inval.signal, clean.signal) and clean.warnings == ()
    assert len(inval.warnings) == 1 and inval.warnings == nanrep.warnings
    assert "500 NaN/infinite or invalid sample(s)" in inval.warnings[0] and "lead(s) V2" in inval.warnings[0]
    driven = _driver_reading(folder / "INVAL.hea")
    assert np.array_equal(driven.signal, inval.signal) and driven.warnings == inval.warnings
    assert np.isnan(read_record(folder / "INVAL.hea", repair=False).signal).sum() == 500


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_invalid_runs_anywhere_read_like_nan_at_the_same_places(tmp_path, seed):
    """Same kind, other places: random runs of -32768 in random leads of CLEAN's counts."""
    clean = _hunt("invalid-sample-marker", "CLEAN.hea")
    val = scipy.io.loadmat(clean.with_suffix(".mat"))["val"]
    rng = np.random.default_rng(seed)
    gaps = np.zeros(val.shape, dtype=bool)
    for _ in range(4):
        lead, start = rng.integers(12), rng.integers(val.shape[1] - 200)
        gaps[lead, start:start + rng.integers(1, 200)] = True
    with_marker, with_nan = val.copy(), val.astype(np.float64)
    with_marker[gaps], with_nan[gaps] = -32768, np.nan
    header = clean.read_text()
    for name, array in (("M", with_marker), ("N", with_nan)):
        write_pair(tmp_path, name, array, header=header.replace("CLEAN", name))
    marker, nan = read_record(tmp_path / "M.hea"), read_record(tmp_path / "N.hea")
    assert np.array_equal(marker.signal, nan.signal) and (marker.signal[gaps] == 0).all()
    assert [w for w in marker.warnings if "invalid sample" in w] == [w for w in nan.warnings if "invalid sample" in w]
    assert np.array_equal(_driver_reading(tmp_path / "M.hea").signal, marker.signal)


# ---- gain-units ----------------------------------------------------------------

@pytest.mark.parametrize("policy", GAIN_POLICIES)
def test_u0002_in_microvolts_reads_equal_to_u0003(policy):
    folder = _hunt("gain-units")
    u2, u3 = read_record(folder / "U0002.hea", gain_policy=policy), read_record(folder / "U0003.hea", gain_policy=policy)
    assert np.array_equal(u2.signal, u3.signal) and u2.warnings == u3.warnings


@pytest.mark.parametrize("gain, error", [
    ("2/uV", None), ("2/UV", None), ("2000/MV", None), ("2000/mv", None), ("2000000/V", None), ("2000", None),
    ("2000/nV", "unknown units 'nV'"), ("2/µV", "unknown units"),
])
def test_other_spellings_of_the_same_gain(tmp_path, gain, error):
    u3 = _hunt("gain-units", "U0003.hea")
    (tmp_path / "U9.hea").write_text(u3.read_text().replace("U0003", "U9").replace("2000/mV", gain), encoding="utf-8")
    shutil.copyfile(u3.with_suffix(".mat"), tmp_path / "U9.mat")
    if error:
        with pytest.raises(RecordError, match=error):
            read_record(tmp_path / "U9.hea")
        return
    assert np.array_equal(read_record(tmp_path / "U9.hea").signal, read_record(u3).signal)


# ---- too-short-record ------------------------------------------------------------

def test_s0003_is_refused_like_the_flat_q9400():
    folder = _hunt("too-short-record")
    with pytest.raises(RecordError, match=r"S0003\.hea: record is too short: 3 samples at 1000 Hz"):
        read_record(folder / "S0003.hea")
    with pytest.raises(RecordError, match=r"Q9400\.mat: every lead is flat"):
        read_record(folder / "Q9400.hea")
    with pytest.raises(RecordError, match="too short"):
        _driver_reading(folder / "S0003.hea")


@pytest.mark.parametrize("samples, fs, refused", [(1, 500, True), (100, 257, True), (1999, 1000, True), (2000, 1000, False), (600, 300, False)])
def test_every_record_shorter_than_one_slow_beat_is_refused(tmp_path, samples, fs, refused):
    """S0003's header fields (format 16, 1000/mV, its demographics and label) over other lengths and rates."""
    write_pair(tmp_path, "S9", sine_counts(samples, fs, amplitude=800, step=0), fs=fs, age="60", sex="Male", dx="426783006")
    if refused:
        with pytest.raises(RecordError, match=rf"too short: {samples} samples at {fs} Hz"):
            read_record(tmp_path / "S9.hea")
    else:
        assert read_record(tmp_path / "S9.hea").signal.shape == (12, samples)


# ---- scorer-cr-line-ends -----------------------------------------------------------

def test_the_cr_only_label_files_score_as_the_official_scorer():
    folder = _hunt("scorer-cr-line-ends")
    values = score_directories(folder / "labels", folder / "outputs")
    official = {"AUROC": 0.861, "AUPRC": 0.750, "Accuracy": 0.750, "F-measure": 0.778, "Fbeta-measure": 0.796,
                "Gbeta-measure": 0.611, "Challenge metric": 0.653}
    assert {name: round(values[name], 3) for name in metrics.METRIC_NAMES} == official


# ---- the same through training, driver.py and run_12ECG_classifier -----------------

@pytest.mark.slow
def test_training_skips_and_lists_s0003_and_keeps_the_repair_warnings(tmp_path):
    """The training pipeline is what is checked, not learning: 2 folds x 2 inner splits, 1 epoch, few records."""
    data = tmp_path / "data"
    for folder in ("invalid-sample-marker", "too-short-record", "gain-units"):
        shutil.copytree(_hunt(folder), data / folder)
    generate_dataset(data / "synthetic", 8, seed=4, workers=1, fs_choices=[500], duration_range=(10, 10))
    config = PRESETS["smoke"].replace(threads=1, workers=1, epochs=1, lr_milestones=(), n_folds=2, inner_folds=2)
    model = tmp_path / "model"
    train_ensemble(data, model, config)
    bad = (model / "bad_records.csv").read_text()
    assert "S0003.hea" in bad and "too short" in bad and "Q9400" in bad
    warnings = [line for line in (model / "warnings.csv").read_text().splitlines() if line.startswith(("INVAL,", "NANREP,"))]
    assert len(warnings) == 2 and warnings[0].split(",", 1)[1] == warnings[1].split(",", 1)[1]
    manifest = json.loads((model / "manifest.json").read_text())
    assert {"INVAL", "NANREP", "U0002"} <= set(manifest["data"]["fold_assignment"])
    assert not {"S0003", "Q9400"} & set(manifest["data"]["fold_assignment"])


def test_driver_and_run_12ecg_classifier_answer_inval_as_nanrep(tmp_path, caplog):
    """Any model answers equal inputs equally: random fold models serve."""
    inputs = tmp_path / "inputs"
    for folder, name in (("invalid-sample-marker", "marker"), ("gain-units", "units"), ("too-short-record", "short")):
        shutil.copytree(_hunt(folder), inputs / name)
    (tmp_path / "model").mkdir()
    model = random_model_dir(tmp_path / "model")
    with caplog.at_level(logging.WARNING):
        status = main(str(model), str(inputs), str(tmp_path / "out"))
    assert status == 1  # S0003 and Q9400 failed, each named
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("S0003" in m and "too short" in m for m in errors) and any("Q9400" in m and "flat" in m for m in errors)
    out = tmp_path / "out"
    body = {name: (out / f"{name}.csv").read_text().split("\n", 1)[1] for name in ("INVAL", "NANREP", "U0002", "U0003")}
    # The driver batches records per forward pass: labels equal, scores to float tolerance (helpers.assert_same_answers).
    assert_same_answers("#\n" + body["INVAL"], "#\n" + body["NANREP"], "INVAL vs NANREP")
    assert_same_answers("#\n" + body["U0002"], "#\n" + body["U0003"], "U0002 vs U0003")
    assert sum(m.startswith("INVAL: ") and "invalid sample" in m for m in caplog.messages) == 1

    # The contract's per-record calls (the organisers' driver), one record at a time: exactly equal answers.
    files = official_driver_files(model, inputs / "marker")
    inval, nanrep = (files[inputs / "marker" / f"{name}.mat"].split("\n", 1)[1] for name in ("INVAL", "NANREP"))
    assert inval == nanrep and len(inval.split("\n")[0].split(",")) == 24
