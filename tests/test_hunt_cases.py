"""The inputs of ../shared/hunt-cases give the right behaviour, and so do others of the same kind.

Each folder there is one kind of fault (its README): WFDB's invalid-sample value,
gains in other units, a record too short to hold a beat, label files with CR-only
line ends, upper-case file extensions, the micro sign in units, a record name found
twice. The shared files are checked as they are (skipped with a reason where
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
from ecgnet.data.cache import build_cache
from ecgnet.errors import RecordError
from ecgnet.inference.predict import classify, load_challenge_data, load_model, main
from ecgnet.records.files import find_records
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
    ("2000/nV", "unknown units 'nV'"), ("2/µV", None),
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


# ---- upper-case-extensions ---------------------------------------------------------

def _same_reading(a, b) -> None:
    assert np.array_equal(a.signal, b.signal) and a.warnings == b.warnings and np.array_equal(a.labels, b.labels)
    assert (a.fs, a.age, a.sex) == (b.fs, b.age, b.sex)


@pytest.mark.parametrize("path", ["U0001.HEA", "U0001.MAT", "U0001.hea", "U0001.mat", "U0001", "U0002.hea", "U0002.MAT", "U0002.mat"])
def test_upper_case_extensions_read_exactly_like_u0000(path):
    """Any file of the record (or its name) in any case finds the header and the signal file by one rule."""
    folder = _hunt("upper-case-extensions")
    _same_reading(read_record(folder / path), read_record(folder / "U0000.hea"))
    driven = record_from_arrays(*load_challenge_data(folder / path))  # what driver.py hands run_12ECG_classifier, read by it
    _same_reading(driven, record_from_arrays(*load_challenge_data(folder / "U0000.mat")))


def _generated(folder: Path, name: str, gain: str = "1000/mV") -> Path:
    """A 10-s record of distinct sine leads, written ``NAME.hea`` + ``NAME.mat`` into ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_pair(folder, name, sine_counts(), gain=gain, age="61", sex="Male", dx="426783006")


@pytest.mark.parametrize("header, mat", [("X1.HEA", "X1.MAT"), ("X1.hea", "X1.MAT"), ("X1.HEA", "X1.mat"), ("X1.Hea", "X1.mAt"),
                                         ("X1.hEA", "x1.MAT"), ("X1.HEA", "x1.mat")])
def test_any_case_of_either_file_pairs_and_training_and_the_driver_agree(tmp_path, header, mat):
    """A generated record renamed as copies rename files; its header's signal lines keep naming ``X1.mat``."""
    original = _generated(tmp_path / "original", "X1")
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(original, data / header)
    shutil.copyfile(original.with_suffix(".mat"), data / mat)
    found = find_records(data)
    assert [(r.name, r.header, r.mat) for r in found.records] == [("X1", data / header, data / mat)] and found.clashes == []
    _same_reading(read_record(data / header), read_record(original))
    assert np.array_equal(load_challenge_data(found.records[0].path)[0], load_challenge_data(original)[0])
    cache = build_cache(data, tmp_path / "cache", workers=1)
    assert list(cache.names) == ["X1"] and cache.bad_records == []


def test_a_signal_file_only_in_another_case_is_found_and_a_missing_one_named(tmp_path):
    original = _generated(tmp_path / "original", "U9")
    shutil.copyfile(original, tmp_path / "U9.hea")
    with pytest.raises(RecordError, match=r"U9\.hea: signal file U9\.mat is missing"):
        read_record(tmp_path / "U9.hea")
    shutil.copyfile(original.with_suffix(".mat"), tmp_path / "U9.Mat")
    _same_reading(read_record(tmp_path / "U9.hea"), read_record(original))
    shutil.copyfile(original.with_suffix(".mat"), tmp_path / "U9.mAT")  # two partners, neither spelt as asked
    with pytest.raises(RecordError, match=r"several files match this name ignoring case \(U9\.Mat, U9\.mAT\)"):
        read_record(tmp_path / "U9.hea")
    with pytest.raises(RecordError, match=r"Z9\.MAT: header file Z9\.hea is missing"):
        read_record(tmp_path / "Z9.MAT")


# ---- micro-sign-units ----------------------------------------------------------------

@pytest.mark.parametrize("policy", GAIN_POLICIES)
def test_m0001_in_micro_sign_microvolts_reads_equal_to_m0000(policy):
    folder = _hunt("micro-sign-units")
    _same_reading(read_record(folder / "M0001.hea", gain_policy=policy), read_record(folder / "M0000.hea", gain_policy=policy))


@pytest.mark.parametrize("units, encoding, error", [
    ("µV", "utf-8", None), ("µV", "latin-1", None), ("μV", "utf-8", None), ("µv", "cp1252", None), ("\u33b6", "utf-8", None),
    ("ｕＶ", "utf-8", None), ("uV", "ascii", None),
    ("mcV", "ascii", "unknown units 'mcV'"), ("\u039cV", "utf-8", "unknown units '\u039cV'"), ("µ", "utf-8", "unknown units 'µ'"),
])
def test_every_spelling_of_the_micro_sign_reads_as_microvolts(tmp_path, units, encoding, error):
    """A generated record's gain as ``1/µV`` re-spelt and re-encoded (Latin-1 and cp1252 write µ as the byte 0xB5), against
    the same counts at ``1000/mV``; a capital mu is not micro."""
    expected = read_record(_generated(tmp_path / "mv", "M9"))
    header = _generated(tmp_path, "M9", gain=f"1/{units}")
    header.write_bytes(header.read_text(encoding="utf-8").encode(encoding))
    if error:
        with pytest.raises(RecordError, match=rf"M9\.hea: gain '1/{units}' of lead I is in {error}"):
            read_record(header)
        return
    _same_reading(read_record(header), expected)
    assert np.array_equal(record_from_arrays(*load_challenge_data(tmp_path / "M9.mat")).signal, expected.signal)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """Random fold models: which records are classified, and how, is what is checked."""
    return random_model_dir(tmp_path_factory.mktemp("hunt_model"))


# ---- the three, through driver.py, run_12ECG_classifier's input and training's cache, on one tree ------------

def test_the_driver_and_training_take_the_same_records_of_the_three_kinds(tmp_path, model_dir):
    """Training takes the records its cache holds: the same the driver answers, while only the repeated names fail."""
    data = tmp_path / "data"
    for folder in ("upper-case-extensions", "micro-sign-units", "duplicate-names"):
        shutil.copytree(_hunt(folder), data / folder, ignore=None if folder == "upper-case-extensions" else shutil.ignore_patterns("CTRL01.*"))
    out = tmp_path / "out"
    assert main(str(model_dir), str(data), str(out)) == 1  # the repeated names failed
    answered = {p.stem for p in out.glob("*.csv") if p.read_text().split("\n")[3]}
    assert answered == {"CTRL01", "U0000", "U0001", "U0002", "M0000", "M0001"}
    cache = build_cache(data, tmp_path / "cache", workers=1)
    assert set(cache.names) == answered and len(cache.bad_records) == 3
    body = {name: "#\n" + (out / f"{name}.csv").read_text().split("\n", 1)[1] for name in answered}
    for name, twin in (("U0001", "U0000"), ("U0002", "U0000"), ("M0001", "M0000")):
        assert_same_answers(body[name], body[twin], name)
        assert np.array_equal(cache.signal(list(cache.names).index(name)), cache.signal(list(cache.names).index(twin)))
    ensemble = load_model(model_dir)  # the contract's per-record calls: exactly equal answers
    upper = data / "upper-case-extensions"
    assert classify(ensemble, *load_challenge_data(upper / "U0001.MAT")) == classify(ensemble, *load_challenge_data(upper / "U0000.mat"))


# ---- duplicate-names ---------------------------------------------------------------------

def _georgia_clashes(root: Path) -> dict[str, tuple[Path, ...]]:
    return {name: (root / "All_training_WFDB" / f"{name}.hea", root / "Georgia_headers" / f"{name}.hea")
            for name in ("E00005", "E00006", "E00007")}


def test_a_name_found_twice_fails_only_its_records_and_names_both_paths():
    root = _hunt("duplicate-names")
    found = find_records(root)
    assert [r.name for r in found.records] == ["CTRL01"]
    assert {clash.name: clash.paths for clash in found.clashes} == _georgia_clashes(root)
    for clash in found.clashes:
        assert all(str(path) in str(clash.error) for path in clash.paths)


def test_the_driver_classifies_every_other_record_and_exits_1(tmp_path, model_dir, caplog):
    root = _hunt("duplicate-names")
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        assert main(str(model_dir), str(root), str(out)) == 1
    assert sorted(p.name for p in out.iterdir()) == ["CTRL01.csv", "E00005.csv", "E00006.csv", "E00007.csv"]
    assert len((out / "CTRL01.csv").read_text().split("\n")[3].split(",")) == 24
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    summary = errors[-1].split("\n")
    assert summary[0] == "3 of 4 record(s) failed:"
    for name, (first, second) in _georgia_clashes(root).items():
        assert (out / f"{name}.csv").read_text() == f"#{name}\n\n\n\n"
        assert sum(m.startswith(f"{first}: record name '{name}' is also used by {second}") for m in errors) == 1
        assert f"  {first} and {second}" in summary


def test_training_caches_every_other_record_and_lists_the_repeated_ones(tmp_path):
    root = _hunt("duplicate-names")
    cache = build_cache(root, tmp_path / "cache", workers=1)
    assert list(cache.names) == ["CTRL01"]
    listed = {Path(file): reason for file, reason in cache.bad_records}
    for name, (first, second) in _georgia_clashes(root).items():
        assert listed[first].startswith(f"record name '{name}' is also used by {second}")
    assert len(listed) == 3


def test_names_repeated_anywhere_in_any_case_fail_alone(tmp_path, model_dir):
    """A generated tree: one name three times (one copy only a .mat, one in another case), one twice in one folder's
    cases, and good records beside them, some in the same folders."""
    for folder in ("a/deep", "b", "c"):
        (tmp_path / folder).mkdir(parents=True)
    write_pair(tmp_path / "a", "R1", sine_counts(), dx="426783006")
    write_pair(tmp_path / "a" / "deep", "R2", sine_counts(hz=1.3), dx="426783006")
    write_pair(tmp_path / "b", "R3", sine_counts(hz=0.9), dx="426783006")
    write_pair(tmp_path / "b", "R1", sine_counts(), dx="426783006")
    (tmp_path / "b" / "R1.hea").unlink()
    write_pair(tmp_path / "c", "r1", sine_counts(), dx="426783006")
    write_pair(tmp_path / "c", "R4", sine_counts(), dx="426783006")
    shutil.copyfile(tmp_path / "c" / "R4.hea", tmp_path / "c" / "r4.HEA")
    found = find_records(tmp_path)
    assert [r.name for r in found.records] == ["R2", "R3"]
    assert {c.name: c.paths for c in found.clashes} == {
        "R1": (tmp_path / "a" / "R1.hea", tmp_path / "b" / "R1.mat", tmp_path / "c" / "r1.hea"),
        "R4": (tmp_path / "c" / "R4.hea", tmp_path / "c" / "r4.HEA")}
    assert main(str(model_dir), str(tmp_path), str(tmp_path / "out")) == 1
    assert all(len((tmp_path / "out" / f"{name}.csv").read_text().split("\n")[3].split(",")) == 24 for name in ("R2", "R3"))
    assert all((tmp_path / "out" / f"{name}.csv").read_text() == f"#{name}\n\n\n\n" for name in ("R1", "R4"))
    cache = build_cache(tmp_path, tmp_path / "cache", workers=1)
    assert list(cache.names) == ["R2", "R3"] and len(cache.bad_records) == 2
