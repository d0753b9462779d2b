"""What the console and the outputs say, as a new user meets them: a wrong path is named as a wrong path, the
report's training time is true, help texts name what an option takes and where a file goes, figures are legible."""
from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from model_dirs import random_model_dir

from ecgnet.analysis.report import header_lines
from ecgnet.api import Classifier
from ecgnet.cli import main
from ecgnet.challenge.classes import NORMAL_INDEX, NUM_CLASSES
from ecgnet.config import PRESETS
from ecgnet.errors import ModelDirError
from ecgnet.fileio import FOLD_RESULT, OutOfFold, fold_dir, read_oof, write_oof, write_summary
from ecgnet.modeldir import MANIFEST, load_manifest
from ecgnet.synth import generate_record, write_record

# --- 1. a wrong model path is not a stale model: no "retrain" ---


def _load_error(path) -> str:
    with pytest.raises(ModelDirError) as error:
        load_manifest(path)
    return str(error.value)


def test_a_missing_directory_is_named_as_such_not_as_a_model_to_retrain(tmp_path):
    message = _load_error(tmp_path / "no_such")
    assert f"{tmp_path / 'no_such'}: no such directory" in message and "check the path" in message
    assert "retrain" not in message


def test_a_folder_without_manifest_is_not_a_model_directory(tmp_path):
    (tmp_path / "A0001.hea").write_text("A0001 12 500 5000\n")  # a data directory given for the model directory
    message = _load_error(tmp_path)
    assert f"{tmp_path / MANIFEST}: missing, so {tmp_path} is not a model directory" in message
    assert "data directory" in message and "retrain" not in message


def test_the_parent_of_a_model_directory_points_at_it(tmp_path):
    (tmp_path / "model").mkdir()
    random_model_dir(tmp_path / "model", folds=1)
    message = _load_error(tmp_path)
    assert f"did you mean {tmp_path / 'model'}?" in message and "retrain" not in message


def test_folds_without_a_manifest_are_unfinished_training_to_resume_or_assemble(tmp_path):
    fold_dir(tmp_path, 1).mkdir(parents=True)
    (fold_dir(tmp_path, 1) / FOLD_RESULT).write_text("{}")
    message = _load_error(tmp_path)
    assert "unfinished (fold(s) 1 finished)" in message and f"python -m ecgnet assemble {tmp_path}" in message
    assert f"python train_model.py TRAINING_DIR {tmp_path}" in message and "retrain" not in message


def test_classifier_load_of_a_wrong_path_says_the_path_is_wrong(tmp_path):
    with pytest.raises(ModelDirError, match="no such directory") as error:
        Classifier.load(tmp_path / "typo")
    assert "retrain" not in str(error.value)


def test_a_damaged_model_directory_still_says_retrain(tmp_path):
    random_model_dir(tmp_path, folds=1)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    (tmp_path / MANIFEST).write_text(json.dumps({**manifest, "format_version": 99}))
    assert "retrain with" in _load_error(tmp_path)



def test_report_of_a_wrong_path_names_the_path_not_a_cv_run_to_make(tmp_path, caplog):
    assert main(["--quiet", "report", str(tmp_path / "typo")]) == 2
    assert f"{tmp_path / 'typo'}: no such directory; check the path" in caplog.text
    (tmp_path / "model").mkdir()
    write_oof(tmp_path / "model", OutOfFold(["HR00001"], ["PTB-XL"], np.zeros(1, int), np.ones((1, NUM_CLASSES), bool),
                                            np.ones((1, NUM_CLASSES)), np.ones((1, NUM_CLASSES), bool)))
    assert main(["--quiet", "report", str(tmp_path)]) == 2  # the demo's folder given for its model/
    assert f"did you mean {tmp_path / 'model'}?" in caplog.text

# --- 2. the report's training time after a rerun that reused the folds ---


def _results_with_folds(directory, wall: float, fold_seconds: list[float]):
    """A results directory as a `cv` rerun leaves it: manifest (``training_seconds`` = ``wall``), each fold's result.json."""
    names = [f"HR{i:05d}" for i in range(1, 11)]
    labels = np.zeros((len(names), NUM_CLASSES), dtype=bool)
    labels[:, NORMAL_INDEX] = True
    write_oof(directory, OutOfFold(names, ["PTB-XL"] * len(names), np.arange(len(names)) % 2, labels, labels * 0.9, labels))
    write_summary(directory, {"data_dir": "/data", "records": len(names), "config": PRESETS["smoke"].to_dict()})
    for k, seconds in enumerate(fold_seconds):
        fold_dir(directory, k).mkdir(parents=True)
        (fold_dir(directory, k) / FOLD_RESULT).write_text(json.dumps({"fold": k, "seconds": seconds}))
    manifest = {"folds": [{"fold": k} for k in range(len(fold_seconds))], "config": PRESETS["smoke"].to_dict(),
                "data": {"training_seconds": wall, "device": "cpu", "threads": 2}}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    return directory


def _run_time(directory) -> str:
    lines = header_lines(directory, read_oof(directory), json.loads((directory / "summary.json").read_text()))
    return next(line for line in "\n".join(lines).splitlines() if line.startswith("| run time"))


def test_a_rerun_that_reused_every_fold_reports_the_folds_own_training_time(tmp_path):
    line = _run_time(_results_with_folds(tmp_path, wall=0.3, fold_seconds=[120.0, 80.5]))
    assert "training 0 s" not in line and "training 200 s, the 2 folds' own times summed" in line
    assert "the last call took 0 s wall, reusing every fold trained by an earlier run" in line


def test_a_call_that_trained_every_fold_reports_its_wall_time(tmp_path):
    line = _run_time(_results_with_folds(tmp_path, wall=210.0, fold_seconds=[120.0, 80.5]))
    assert "training 210 s wall (record cache included), on cpu with 2 threads; the 2 folds' own times sum to 200 s" in line
    assert "reusing" not in line


def test_training_time_without_fold_records_keeps_the_wall_time_and_says_what_it_leaves_out():
    from ecgnet.analysis.report import training_time  # new with the fix: a local import keeps the other tests apart

    assert training_time({"training_seconds": 5.0, "device": "cpu", "threads": 1}, None).startswith("training 5 s wall")
    assert training_time({}, [1.0]) == "not recorded"


# --- 3. review's --class takes a class name, not an index ---


def test_review_help_calls_class_an_abbreviation_or_code_not_an_index(capsys):
    with pytest.raises(SystemExit):
        main(["review", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "CLASS_INDEX" not in text and "--class CLASS" in text
    assert "abbreviation (e.g. LAD) or SNOMED CT code (e.g. 39732003)" in text


# --- 4. explain writes into a named output folder, not into the data folder ---


@pytest.fixture
def explain_case(tmp_path, monkeypatch):
    """(model directory, record in its own data folder), the current directory a fresh folder."""
    (tmp_path / "model").mkdir()
    (tmp_path / "work").mkdir()
    signal, fs, age, sex, codes = generate_record(0, 0, codes=["LBBB"], fs=500, duration=3.5)
    record = write_record(tmp_path / "data", "SYN00001", signal, fs, age, sex, codes)
    monkeypatch.chdir(tmp_path / "work")
    return random_model_dir(tmp_path / "model", folds=1), record


def test_explain_writes_under_runs_explain_not_beside_the_record(explain_case, tmp_path, capsys):
    model_dir, record = explain_case
    assert main(["--quiet", "explain", str(model_dir), str(record), "--class", "LBBB"]) == 0
    out = tmp_path / "work" / "runs" / "explain" / "SYN00001_explain_LBBB.png"
    assert out.is_file() and not list((tmp_path / "data").glob("*.png"))
    printed = capsys.readouterr().out
    assert "runs/explain/SYN00001_explain_LBBB.png" in printed and "replaced" not in printed
    assert main(["--quiet", "explain", str(model_dir), str(record), "--class", "LBBB"]) == 0
    assert "(replaced the file there)" in capsys.readouterr().out  # a second run says it replaced the first picture


def test_explain_out_may_name_a_folder_and_the_help_says_where_the_picture_goes(explain_case, tmp_path, capsys):
    model_dir, record = explain_case
    (tmp_path / "pictures").mkdir()
    assert main(["--quiet", "explain", str(model_dir), str(record), "--class", "LBBB", "--out", str(tmp_path / "pictures")]) == 0
    assert (tmp_path / "pictures" / "SYN00001_explain_LBBB.png").is_file()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default runs/explain/NAME_explain_CLASS.png under the current directory" in text and "--class CLASS" in text


# --- 5. the confusion figure's numbers are legible and stay inside their cells ---


def test_confusion_figure_cell_numbers_are_at_least_9_pt_and_fit_their_cells():
    from ecgnet.analysis.report import confusion_figure  # new with the fix

    rng = np.random.default_rng(0)
    labels = rng.random((3000, NUM_CLASSES)) < 0.03
    labels[:, NORMAL_INDEX] = True  # the normal row reaches thousands: the widest numbers ("2k")
    outputs = labels ^ (rng.random(labels.shape) < 0.03)
    oof = OutOfFold([f"HR{i:05d}" for i in range(3000)], ["PTB-XL"] * 3000, np.arange(3000) % 5, labels, outputs * 0.9, outputs)
    fig = confusion_figure(oof)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    panels = fig.axes[:2]  # the colour bars come after them
    assert any(t.get_text().endswith("k") for t in panels[0].texts)
    for ax in panels:
        cell = ax.transData.transform((1, 1)) - ax.transData.transform((0, 0))  # one cell, in pixels
        assert len(ax.texts) > 100
        for text in ax.texts:
            box = text.get_window_extent(renderer)
            assert text.get_fontsize() >= 9, text.get_text()
            assert box.width < abs(cell[0]) * 0.95 and box.height < abs(cell[1]) * 0.95, text.get_text()
    plt.close(fig)
