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
from scipy.io import loadmat

from ecgnet.challenge.classes import CLASSES
from ecgnet.challenge.outputs import read_output
from ecgnet.challenge.scoring import load_directories

REPO = Path(__file__).resolve().parents[1]
CODES = ("426783006", "164889003", "713427006", "427084000")  # SNR, AF, CRBBB, STach: each shows on one lead


def write_records(directory: Path, n: int, seed: int = 0) -> Path:
    """``n`` 10-s 500 Hz challenge-format records (int16 ``val``, gain 1000/mV) with learnable labels."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(5000) / 500.0
    for i in range(n):
        name = f"A{i + 1:04d}"
        codes = list(rng.choice(CODES, size=rng.integers(1, 3), replace=False))
        x = 150 * rng.standard_normal((12, 5000))
        for code in codes:
            x[CODES.index(code) * 3] += 1000 * np.sin(2 * np.pi * 5 * t)
        val = np.round(x).astype(np.int16)
        write_pair(directory, name, val, age=str(int(rng.integers(20, 90))), sex=str(rng.choice(["Male", "Female"])),
                   dx=",".join(codes), date=None)
    return directory


def _env(tmp: Path) -> dict:
    config = tmp / "smoke1.json"
    config.write_text(json.dumps({"preset": "smoke", "threads": 1, "epochs": 3, "lr_milestones": [2]}))
    return {**os.environ, "ECGNET_CONFIG": str(config), "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO)}


def _run(args: list, env: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def official_driver_files(model: Path, data: Path) -> dict[Path, str]:
    """{NAME.mat: the text the organisers' 2020 driver writes for it}: per-record calls, values written with str()."""
    sys.path.insert(0, str(REPO))
    try:
        from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier
    finally:
        sys.path.remove(str(REPO))
    loaded = load_12ECG_model(str(model))
    files = {}
    for mat in sorted(data.glob("*.mat")):
        values = np.asarray(loadmat(mat)["val"], dtype=np.float64)
        header = mat.with_suffix(".hea").read_text().splitlines(keepends=True)
        labels, scores, classes = run_12ECG_classifier(values, header, loaded)
        files[mat] = "\n".join([f"#{mat.stem}", ",".join(classes), ",".join(str(i) for i in labels), ",".join(str(i) for i in scores)]) + "\n"
    return files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A smoke model trained by ``train_model.py`` on 40 synthetic records."""
    tmp = tmp_path_factory.mktemp("contract")
    data = write_records(tmp / "data", 40)
    env = _env(tmp)
    done = _run([REPO / "train_model.py", data, tmp / "model"], env)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp, data, tmp / "model", env


@pytest.mark.slow
def test_train_model_writes_a_valid_model_directory(trained):
    tmp, data, model, env = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["classes"] == list(CLASSES) and len(manifest["folds"]) == 5
    assert manifest["config"]["threads"] == 1 and manifest["config"]["width"] == 8
    assert not (model / "work").exists()
    for fold in manifest["folds"]:
        assert (model / fold["weights"]).is_file() and (model / fold["log"]).is_file()


def assert_same_answers(written: str, expected: str, where: str) -> None:
    """Record line, classes and labels identical; scores equal to float tolerance.

    The driver classifies several records per forward pass, and the kernels' summation
    order depends on the batch size, so its scores may differ from per-record calls in
    the last bits (about 1e-7); a label never may.
    """
    written_lines, expected_lines = written.split("\n"), expected.split("\n")
    assert written_lines[:3] == expected_lines[:3] and written_lines[4:] == expected_lines[4:], where
    if expected_lines[3]:
        np.testing.assert_allclose([float(x) for x in written_lines[3].split(",")],
                                   [float(x) for x in expected_lines[3].split(",")], rtol=0, atol=1e-5, err_msg=where)
    else:
        assert written_lines[3] == "", where


@pytest.mark.slow
def test_driver_files_equal_per_record_calls_of_the_official_interface(trained):
    tmp, data, model, env = trained
    out = tmp / "out"
    done = _run([REPO / "driver.py", model, data, out], env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(p.with_suffix(".csv").name for p in data.glob("*.mat"))

    for mat, expected in official_driver_files(model, data).items():
        assert_same_answers((out / f"{mat.stem}.csv").read_text(), expected, mat.name)
        read_labels, read_scores = read_output(out / f"{mat.stem}.csv")
        assert read_labels.any() and np.all((read_scores >= 0) & (read_scores <= 1))


def copy_records(source: Path, folder: Path, names: tuple[str, ...]) -> Path:
    """A new ``folder`` holding copies of the records ``names`` (NAME.hea + NAME.mat) of ``source``."""
    folder.mkdir()
    for name in names:
        for suffix in (".hea", ".mat"):
            (folder / f"{name}{suffix}").write_bytes((source / f"{name}{suffix}").read_bytes())
    return folder


@pytest.mark.slow
def test_driver_survives_bad_records_and_reports_them(trained):
    tmp, data, model, env = trained
    bad = copy_records(data, tmp / "bad", ("A0001", "A0002"))
    (bad / "A0002.mat").write_bytes(b"not a MATLAB file")
    out = tmp / "bad_out"
    out.mkdir()
    (out / "A0001.csv").write_text("something the user wrote\n")
    done = _run([REPO / "driver.py", model, bad, out], env)
    assert done.returncode == 1
    assert "A0002.mat" in done.stderr and "1 of 2 record(s) failed" in done.stderr
    assert "A0001.csv: existed with other content; replaced" in done.stderr
    assert "1 existing output file(s)" in done.stderr
    assert (out / "A0001.csv").read_text().startswith("#A0001\n")
    # The unreadable record's output has empty answers (the organisers' allow_failures convention) ...
    assert (out / "A0002.csv").read_text() == "#A0002\n\n\n\n"
    assert "A0002.mat: not a readable MATLAB file" in done.stderr and "answered with empty outputs" in done.stderr
    # ... so our scorer scores the folder, that record all-negative, instead of refusing it.
    scored = _run([REPO / "evaluate_12ECG_score.py", bad, out, tmp / "bad_scores.csv"], env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "A0002.csv" in scored.stderr and "counted as all-negative" in scored.stderr
    read = load_directories(bad, out)
    assert read.records == ("A0001", "A0002") and read.outputs[0].any()
    assert not read.outputs[1].any() and not read.probabilities[1].any()


@pytest.mark.slow
def test_a_failed_record_gets_the_same_empty_answers_from_driver_and_run_12ECG_classifier(trained):
    """Driver files equal per-record calls of the official interface, a failed record included (empty lines, exactly)."""
    tmp, data, model, env = trained
    mixed = copy_records(data, tmp / "mixed", ("A0001",))
    write_pair(mixed, "FLAT", np.zeros((12, 5000), np.int16), header=(data / "A0002.hea").read_text().replace("A0002", "FLAT"))
    out = tmp / "mixed_out"
    done = _run([REPO / "driver.py", model, mixed, out], env)
    assert done.returncode == 1 and "1 of 2 record(s) failed" in done.stderr
    assert "FLAT.mat: " in done.stderr and "every lead is flat" in done.stderr
    expected = official_driver_files(model, mixed)
    assert expected[mixed / "FLAT.mat"] == "#FLAT\n\n\n\n"
    for mat, text in expected.items():
        assert_same_answers((out / f"{mat.stem}.csv").read_text(), text, mat.name)


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
    """Issue 6's acceptance run: smoke model on the real records, outputs for all, scored by our scorer."""
    shared = shared_path("data", "cinc2020-real")
    # Its 145 records without edge-cases/, whose names repeat theirs (names must be unique, issue 12 item 6).
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


@pytest.mark.slow
def test_run_12ECG_classifier_answers_empty_outputs_for_an_unusable_record(trained, caplog):
    """The organisers' driver stops at the first exception: a bad record must not raise, nor get a made-up answer."""
    _, data, model, _ = trained
    team_code = _team_code()
    header = (data / "A0001.hea").read_text().splitlines(keepends=True)
    flat = np.zeros((12, 5000))
    with caplog.at_level("ERROR"):
        answers = team_code.run_12ECG_classifier(flat, header, team_code.load_12ECG_model(str(model)))
    assert answers == ([], [], [])
    assert "A0001" in caplog.text and "every lead is flat" in caplog.text


@pytest.mark.slow
@pytest.mark.parametrize("case", ["strings", "wrong_shape", "all_nan", "garbage_header", "empty_header", "nothing"])
def test_run_12ECG_classifier_never_raises_on_garbage(trained, case, caplog):
    _, data, model, _ = trained
    team_code = _team_code()
    header = (data / "A0001.hea").read_text().splitlines(keepends=True)
    values = np.asarray(loadmat(data / "A0001.mat")["val"], dtype=np.float64)
    data_arg, header_arg = {
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
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
