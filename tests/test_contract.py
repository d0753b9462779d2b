"""The challenge contract: train_model.py / driver.py as subprocesses, team_code in-process."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from challenge_files import write_pair
from conftest import shared_path
from helpers import assert_same_answers, official_driver_files, write_records
from model_dirs import random_model_dir
from scipy.io import loadmat

from ecgnet.challenge.classes import CLASSES
from ecgnet.inference.outputs import read_output
from ecgnet.scoring import load_directories

REPO = Path(__file__).resolve().parents[1]


def _env(tmp: Path, epochs: int = 1) -> dict:
    """train_model.py's and driver.py's environment: the smoke preset for ``epochs`` epochs, one thread, quiet."""
    config = tmp / "smoke1.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "epochs": epochs, "lr_milestones": list(range(1, epochs))[-1:]}))
    return {**os.environ, "ECGNET_CONFIG": str(config), "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO)}


def _run(args: list, env: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def model_and_data(tmp_path_factory):
    """Random smoke fold models and 12 synthetic records: what the driver writes, not how good it is, is checked here."""
    tmp = tmp_path_factory.mktemp("contract")
    (tmp / "model").mkdir()
    return tmp, write_records(tmp / "data", 12), random_model_dir(tmp / "model"), _env(tmp)


@pytest.mark.slow
def test_train_model_writes_a_valid_model_directory(tmp_path):
    data = write_records(tmp_path / "data", 30)
    model, env = tmp_path / "model", _env(tmp_path, epochs=2)
    done = _run([REPO / "train_model.py", data, model], env)
    assert done.returncode == 0, done.stderr[-3000:]
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["classes"] == list(CLASSES) and len(manifest["folds"]) == 5
    assert manifest["config"]["threads"] == 1 and manifest["config"]["width"] == 8 and manifest["config"]["epochs"] == 2
    assert not (model / "work").exists()
    for fold in manifest["folds"]:
        assert (model / fold["weights"]).is_file() and (model / fold["log"]).is_file()


def copy_records(source: Path, folder: Path, names: tuple[str, ...]) -> Path:
    """A new ``folder`` holding copies of the records ``names`` (NAME.hea + NAME.mat) of ``source``."""
    folder.mkdir()
    for name in names:
        for suffix in (".hea", ".mat"):
            (folder / f"{name}{suffix}").write_bytes((source / f"{name}{suffix}").read_bytes())
    return folder


def test_driver_files_equal_per_record_calls_of_the_official_interface(model_and_data):
    """Every file, a failed record's included (empty lines, exactly), is what the organisers' driver writes record by record."""
    tmp, data, model, env = model_and_data
    mixed = copy_records(data, tmp / "mixed", tuple(p.stem for p in data.glob("*.mat")))
    write_pair(mixed, "FLAT", np.zeros((12, 5000), np.int16), header=(data / "A0002.hea").read_text().replace("A0002", "FLAT"))
    out = tmp / "out"
    done = _run([REPO / "driver.py", model, mixed, out], env)
    assert done.returncode == 1 and "1 of 13 record(s) failed" in done.stderr, done.stderr[-3000:]
    assert "FLAT.mat: " in done.stderr and "every lead is flat" in done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.with_suffix(".csv").name for p in mixed.glob("*.mat"))

    expected = official_driver_files(model, mixed)
    assert expected[mixed / "FLAT.mat"] == "#FLAT\n\n\n\n"
    for mat, text in expected.items():
        assert_same_answers((out / f"{mat.stem}.csv").read_text(), text, mat.name)
        if mat.stem != "FLAT":
            read_labels, read_scores = read_output(out / f"{mat.stem}.csv")
            assert read_labels.any() and np.all((read_scores >= 0) & (read_scores <= 1))


def test_the_scorer_counts_a_record_the_driver_failed_as_all_negative(model_and_data):
    """The driver's empty answers (test_driver_robustness) let our scorer score the folder instead of refusing it."""
    tmp, data, model, env = model_and_data
    bad = copy_records(data, tmp / "bad", ("A0001", "A0002"))
    (bad / "A0002.mat").write_bytes(b"not a MATLAB file")
    out = tmp / "bad_out"
    assert _run([REPO / "driver.py", model, bad, out], env).returncode == 1
    scored = _run([REPO / "evaluate_12ECG_score.py", bad, out, tmp / "bad_scores.csv"], env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "A0002.csv" in scored.stderr and "counted as all-negative" in scored.stderr
    read = load_directories(bad, out)
    assert read.records == ("A0001", "A0002") and read.outputs[0].any()
    assert not read.outputs[1].any() and not read.probabilities[1].any()


def test_driver_and_train_model_refuse_wrong_arguments():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    assert "usage: python driver.py" in _run([REPO / "driver.py", "x"], env).stderr
    assert "usage: python train_model.py" in _run([REPO / "train_model.py"], env).stderr


def test_missing_model_directory_fails_with_a_clear_message(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = _run([REPO / "driver.py", tmp_path / "nothing", tmp_path, tmp_path / "out"], env)
    assert done.returncode != 0 and "no such model directory" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_official_scripts_train_on_real_records_and_score_every_one(tmp_path):
    """The acceptance run: smoke model on the real records, outputs for all, scored by our scorer."""
    shared = shared_path("data", "cinc2020-real")
    # Its 145 records without edge-cases/, whose names repeat theirs (record names must be unique).
    real = tmp_path / "real"
    real.mkdir()
    for path in [*shared.glob("*.hea"), *shared.glob("*.mat")]:
        shutil.copyfile(path, real / path.name)
    env = _env(tmp_path)
    model, out, scores = tmp_path / "model", tmp_path / "out", tmp_path / "scores.csv"
    trained = _run([REPO / "train_model.py", real, model], env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    driven = _run([REPO / "driver.py", model, real, out], env)
    assert driven.returncode == 0, driven.stderr[-3000:]
    assert sorted(p.stem for p in out.glob("*.csv")) == sorted(p.stem for p in real.glob("*.mat"))
    scored = _run([REPO / "evaluate_12ECG_score.py", real, out, scores], env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    header, values = scores.read_text().splitlines()
    assert header == "AUROC,AUPRC,Accuracy,F-measure,Fbeta-measure,Gbeta-measure,Challenge metric"
    assert len(values.split(",")) == 7


def _team_code():
    sys.path.insert(0, str(REPO))
    try:
        import team_code
    finally:
        sys.path.remove(str(REPO))
    return team_code


@pytest.mark.parametrize("case", ["flat", "strings", "wrong_shape", "all_nan", "garbage_header", "empty_header", "nothing"])
def test_run_12ECG_classifier_never_raises_on_garbage(model_and_data, case, caplog):
    """The organisers' driver stops at the first exception: a bad record must not raise, nor get a made-up answer."""
    _, data, model, _ = model_and_data
    team_code = _team_code()
    header = (data / "A0001.hea").read_text().splitlines(keepends=True)
    values = np.asarray(loadmat(data / "A0001.mat")["val"], dtype=np.float64)
    data_arg, header_arg = {
        "flat": (np.zeros_like(values), header),
        "strings": (np.array([["x"] * 10] * 12), header),
        "wrong_shape": (values[:5], header),
        "all_nan": (np.full_like(values, np.nan), header),
        "garbage_header": (values, ["\x00\xff garbage\n", "more\n"]),
        "empty_header": (values, []),
        "nothing": (None, None),
    }[case]
    with caplog.at_level("ERROR"):
        answers = team_code.run_12ECG_classifier(data_arg, header_arg, team_code.load_12ECG_model(str(model)))
    assert answers == ([], [], [])
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    if case == "flat":  # the one line names the record and the reason
        assert "A0001" in errors[0] and "every lead is flat" in errors[0]
