"""What the console and the outputs say, as a new user meets them: a wrong path is named as a wrong path, the
report's training time is true, help texts name what an option takes and where a file goes, figures are legible."""
from __future__ import annotations

import json

import pytest
from model_dirs import random_model_dir

from ecgnet.api import Classifier
from ecgnet.errors import ModelDirError
from ecgnet.fileio import FOLD_RESULT, fold_dir
from ecgnet.modeldir import MANIFEST, load_manifest

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
