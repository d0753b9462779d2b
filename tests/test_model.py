"""The network: the seed's size, shapes, the age/sex branch and configuration presets."""
from __future__ import annotations

import json

import pytest
import torch

from ecgnet.classes import NUM_CLASSES
from ecgnet.config import PRESETS, Config, load_config
from ecgnet.model import build_model, forward_flops, parameter_count


def test_default_model_has_the_seeds_parameter_count():
    assert parameter_count(build_model(Config())) == 8_837_060


def test_default_forward_flops_match_the_analytic_count_in_method():
    # METHOD.md: 1.61 G multiply-adds = 3.2 GFLOP per 12 x 4096 window.
    assert forward_flops(Config()) == pytest.approx(3.22e9, rel=0.01)


def test_flop_count_agrees_with_torch_flop_counter():
    from torch.utils.flop_counter import FlopCounterMode

    config = PRESETS["smoke"]
    model = build_model(config).eval()
    with FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 12, config.window), torch.zeros(1, 5))
    assert forward_flops(config) == pytest.approx(counter.get_total_flops(), rel=0.02)


def test_tiny_model_maps_windows_and_demographics_to_24_logits():
    config = PRESETS["smoke"]
    model = build_model(config).eval()
    logits = model(torch.randn(3, 12, config.window), torch.zeros(3, 5))
    assert logits.shape == (3, NUM_CLASSES)
    # The age/sex branch reaches the output.
    other = model(torch.zeros(1, 12, config.window), torch.tensor([[0.7, 0, 1, 0, 1.0]]))
    same = model(torch.zeros(1, 12, config.window), torch.zeros(1, 5))
    assert not torch.allclose(other, same)


def test_windows_of_any_length_are_accepted():
    model = build_model(PRESETS["smoke"]).eval()
    assert model(torch.randn(2, 12, 777), torch.zeros(2, 5)).shape == (2, NUM_CLASSES)


def test_config_from_environment_preset_and_json(tmp_path, monkeypatch):
    monkeypatch.delenv("ECGNET_CONFIG", raising=False)
    assert load_config() == Config()
    monkeypatch.setenv("ECGNET_CONFIG", "smoke")
    assert load_config() == PRESETS["smoke"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"preset": "smoke", "epochs": 7, "blocks": [1, 2, 1, 1]}))
    monkeypatch.setenv("ECGNET_CONFIG", str(path))
    config = load_config()
    assert config.epochs == 7 and config.blocks == (1, 2, 1, 1) and config.width == PRESETS["smoke"].width
    assert Config.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_bad_config_names_the_problem(tmp_path):
    with pytest.raises(ValueError, match="neither a preset"):
        load_config("no-such-preset")
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"epoch": 3}))
    with pytest.raises(ValueError, match="unknown configuration keys: epoch"):
        load_config(str(path))
