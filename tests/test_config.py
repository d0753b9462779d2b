"""Configuration: presets, JSON files and $ECGNET_CONFIG; bad values fail at once, with one clear line, before any data are read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgnet.config import ADOPTED_LEVERS, COMPUTE_ONLY, PRESETS, Config, SEResNetConfig, load_config
from ecgnet.device import check_precision
from ecgnet.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"n_folds": 1}, "n_folds must be at least 2"),
        ({"inner_folds": 0}, "inner_folds must be at least 2"),
        ({"epochs": "3"}, "'epochs' must be int"),
        ({"lr": "fast"}, "'lr' must be float"),
        ({"blocks": ()}, "blocks must list at least one stage"),
        ({"width": "8"}, "'width' must be int"),
        ({"se_reduction": 0}, "se_reduction"),
        ({"dropout": 1.0}, "dropout must lie in"),
        ({"fs": 500}, "fs must be 257"),
        ({"overlap": 4096}, "overlap must lie in"),
        ({"gain_policy": "guess"}, "gain_policy must be one of"),
        ({"cpu_precision": "fp16"}, "cpu_precision must be one of"),
    ],
)
def test_invalid_values_are_config_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({**Config().to_dict(), **change})


def test_every_preset_survives_its_json_form_and_integers_pass_as_floats():
    for name, preset in PRESETS.items():
        data = json.loads(json.dumps(preset.to_dict()))
        assert "network" not in data and data["width"] == preset.network.width, name
        assert Config.from_dict(data) == load_config(name) == preset, name
    assert Config.from_dict({"time_limit_hours": 2}).time_limit_hours == 2


def test_the_sampling_rate_is_not_a_setting_but_old_files_carrying_it_load():
    assert "fs" not in Config().to_dict()
    old = {**PRESETS["smoke"].to_dict(), "fs": 257}  # what manifests of the previous version hold
    assert Config.from_dict(old) == PRESETS["smoke"]


def test_network_keys_change_the_network_and_nothing_else():
    changed = Config().replace(width=16, blocks=(1, 1), epochs=3)
    assert changed.network == SEResNetConfig(width=16, blocks=(1, 1)) and changed.epochs == 3
    assert changed.window == Config().window


def test_compute_only_settings_do_not_change_the_training_identity():
    base = load_config("smoke")
    faster = base.replace(threads=1, workers=3, time_limit_hours=5.0, inference_batch=8, cpu_precision="bf16")
    assert base.training_identity() == faster.training_identity()
    assert not set(COMPUTE_ONLY) & set(base.training_identity())
    assert base.training_identity() != base.replace(epochs=base.epochs + 1).training_identity()


def test_unknown_inference_precision_is_a_config_error():
    assert check_precision("bf16") == "bf16"
    with pytest.raises(ConfigError, match="ECGNET_PRECISION"):
        check_precision("fp16")


def test_cv_with_one_fold_exits_with_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ecgnet", "cv", str(tmp_path), "--folds", "1", "--out", str(tmp_path / "o")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "n_folds must be at least 2" in done.stderr and "Traceback" not in done.stderr


def test_config_from_environment_preset_and_json(tmp_path, monkeypatch):
    monkeypatch.delenv("ECGNET_CONFIG", raising=False)
    assert load_config() == PRESETS["default"] == Config(**ADOPTED_LEVERS)  # the seed's recipe + the adopted levers
    monkeypatch.setenv("ECGNET_CONFIG", "smoke")
    assert load_config() == PRESETS["smoke"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "smoke", "epochs": 7, "blocks": [1, 2, 1, 1]}))
    monkeypatch.setenv("ECGNET_CONFIG", str(path))
    config = load_config()
    assert config.epochs == 7 and config.network.blocks == (1, 2, 1, 1) and config.network.width == PRESETS["smoke"].network.width
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_bad_config_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="neither a preset"):
        load_config("no-such-preset")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ValueError, match="unknown configuration keys: epoch"):
        load_config(str(path))
