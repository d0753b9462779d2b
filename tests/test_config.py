"""Configuration checks: bad values fail at once, with one clear line, before any data are read."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecgnet.config import COMPUTE_ONLY, Config, load_config
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
        ({"fs": 500}, "fs must be 257"),
        ({"overlap": 4096}, "overlap must lie in"),
        ({"gain_policy": "guess"}, "gain_policy must be one of"),
        ({"cpu_precision": "fp16"}, "cpu_precision must be one of"),
    ],
)
def test_invalid_values_are_config_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({**Config().to_dict(), **change})


def test_every_preset_is_valid_and_integers_pass_as_floats():
    for name in ("default", "smoke", "demo", "cpu"):
        assert isinstance(load_config(name), Config)
    assert Config.from_dict({"time_limit_hours": 2}).time_limit_hours == 2


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
