"""Loading a model directory validates it and says which file is wrong and what to do."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_dirs import random_model_dir

from ecgnet.config import PRESETS
from ecgnet.errors import ModelDirError
from ecgnet.fileio import EPOCH_LOG, epoch_logs, fold_dir
from ecgnet.inference.ensemble import Ensemble
from ecgnet.modeldir import MANIFEST, load_manifest, weights_name
from ecgnet.network.model import SEResNet

CONFIG = PRESETS["smoke"]


@pytest.fixture
def model_dir(tmp_path):
    return random_model_dir(tmp_path, folds=3, config=CONFIG, threshold=0.3)


def _edit_manifest(model_dir, change):
    manifest = json.loads((model_dir / MANIFEST).read_text())
    change(manifest)
    (model_dir / MANIFEST).write_text(json.dumps(manifest))


def test_a_valid_directory_loads_every_fold(model_dir):
    ensemble = Ensemble.load(model_dir, device="cpu")
    assert len(ensemble.models) == 3 and ensemble.thresholds.shape == (3, 24) and ensemble.config == CONFIG
    manifest = load_manifest(model_dir)
    assert manifest["preprocessing"] == {"fs": 257, "window": CONFIG.window, "overlap": CONFIG.overlap, "gain_policy": "auto"}
    assert {"torch", "numpy", "python", "ecgnet"} <= set(manifest["versions"])


def test_missing_manifest(tmp_path):
    with pytest.raises(ModelDirError, match=r"manifest.json: missing.*train_model.py"):
        load_manifest(tmp_path)


def test_missing_weights(model_dir):
    (model_dir / weights_name(1)).unlink()
    with pytest.raises(ModelDirError, match=r"fold_1.pt: weights of fold 1 are missing"):
        Ensemble.load(model_dir)


@pytest.mark.parametrize("damage", ["truncate", "tamper"])
def test_damaged_weights_fail_the_checksum(model_dir, damage):
    path = model_dir / weights_name(2)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(ModelDirError, match=r"fold_2.pt: checksum differs from the manifest"):
        Ensemble.load(model_dir)


def test_other_format_version(model_dir):
    _edit_manifest(model_dir, lambda m: m.update(format_version=99))
    with pytest.raises(ModelDirError, match=r"format version 99, but this ecgnet reads version 1"):
        load_manifest(model_dir)


def test_class_list_mismatch(model_dir):
    _edit_manifest(model_dir, lambda m: m["classes"].reverse())
    with pytest.raises(ModelDirError, match="class list differs"):
        load_manifest(model_dir)


def test_malformed_manifest(model_dir):
    _edit_manifest(model_dir, lambda m: m["folds"][0].pop("thresholds"))
    with pytest.raises(ModelDirError, match="malformed manifest.*lacks thresholds"):
        load_manifest(model_dir)
    (model_dir / MANIFEST).write_text("{not json")
    with pytest.raises(ModelDirError, match="unreadable"):
        load_manifest(model_dir)


def test_preprocessing_disagreeing_with_config(model_dir):
    _edit_manifest(model_dir, lambda m: m["preprocessing"].update(window=4096))
    with pytest.raises(ModelDirError, match="preprocessing settings disagree"):
        load_manifest(model_dir)


def test_a_manifest_of_the_previous_version_with_fs_in_its_config_loads(model_dir):
    _edit_manifest(model_dir, lambda m: m["config"].update(fs=257))
    assert Ensemble.load(model_dir).config == CONFIG
    _edit_manifest(model_dir, lambda m: m["config"].update(fs=500))
    with pytest.raises(ModelDirError, match="malformed manifest.*fs must be 257"):
        load_manifest(model_dir)


def test_weights_round_trip(model_dir):
    ensemble = Ensemble.load(model_dir)
    torch.manual_seed(1)
    expected = SEResNet(CONFIG.network).state_dict()
    for key, value in ensemble.models[1].state_dict().items():
        assert torch.equal(value, expected[key])
    assert np.all(ensemble.thresholds == 0.3)


def test_the_report_finds_the_epoch_log_training_writes_for_each_fold(tmp_path):
    for k in (1, 0):
        fold_dir(tmp_path, k).mkdir(parents=True)
        (fold_dir(tmp_path, k) / EPOCH_LOG).write_text("epoch\n")
    (tmp_path / "folds" / "other").mkdir()
    assert epoch_logs(tmp_path) == [tmp_path / "folds" / "fold_0" / "epochs.csv", tmp_path / "folds" / "fold_1" / "epochs.csv"]
