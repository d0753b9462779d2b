"""The network: the seed's size and FLOPs, shapes, and the age/sex branch and its encoding."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from model_dirs import trained_looking
from torch.utils.flop_counter import FlopCounterMode

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.config import PRESETS, Config, SEResNetConfig
from ecgnet.network.model import InferenceSEResNet, SEResNet, forward_flops, parameter_count
from ecgnet.signal import WINDOW, encode_demographics


def test_default_model_has_the_seeds_parameter_count():
    assert parameter_count(SEResNet(Config().network)) == 8_837_060


def _analytic_flops(network: SEResNetConfig, length: int) -> int:
    """2 x the multiply-adds of every convolution and linear layer, from their output shapes (meta device, nothing computed)."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv1d):
            total += 2 * output.numel() * module.in_channels // module.groups * module.kernel_size[0]
        else:
            total += 2 * output.numel() * module.in_features

    with torch.device("meta"):
        model = SEResNet(network).eval()
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv1d, torch.nn.Linear)):
                module.register_forward_hook(count)
        with torch.no_grad():
            model(torch.zeros(1, 12, length), torch.zeros(1, 5))
    return total


def test_default_forward_flops_match_the_analytic_count_in_method():
    # METHOD.md: 1.61 G multiply-adds = 3.2 GFLOP per 12 x 4096 window, the layer-by-layer
    # analytic count of the convolutions and linear layers.
    assert forward_flops(SEResNetConfig(), WINDOW) == pytest.approx(3.22e9, rel=0.01)
    assert forward_flops(SEResNetConfig(), WINDOW) == _analytic_flops(SEResNetConfig(), WINDOW)


def test_meta_device_flop_count_equals_a_real_forward_pass():
    config = PRESETS["smoke"]
    model = SEResNet(config.network).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 12, config.window), torch.zeros(1, 5))
    assert forward_flops(config.network, config.window) == counter.get_total_flops() > 0
    assert forward_flops(config.network, 2 * config.window) > 1.9 * forward_flops(config.network, config.window)


def test_demographics_vector():
    np.testing.assert_allclose(encode_demographics(74.0, "Male"), [0.74, 0, 0, 1, 1], rtol=1e-6)
    np.testing.assert_array_equal(encode_demographics(None, "Female"), [0, 1, 1, 0, 1])
    np.testing.assert_array_equal(encode_demographics(float("nan"), None), [0, 1, 0, 0, 0])
    assert encode_demographics(50.0, None).dtype == np.float32


def test_tiny_model_maps_windows_and_demographics_to_24_logits():
    config = PRESETS["smoke"]
    model = SEResNet(config.network).eval()
    logits = model(torch.randn(3, 12, config.window), torch.zeros(3, 5))
    assert logits.shape == (3, NUM_CLASSES)
    # The age/sex branch reaches the output.
    other = model(torch.zeros(1, 12, config.window), torch.tensor([[0.7, 0, 1, 0, 1.0]]))
    same = model(torch.zeros(1, 12, config.window), torch.zeros(1, 5))
    assert not torch.allclose(other, same)


def test_windows_of_any_length_are_accepted():
    model = SEResNet(PRESETS["smoke"].network).eval()
    assert model(torch.randn(2, 12, 777), torch.zeros(2, 5)).shape == (2, NUM_CLASSES)


@pytest.mark.parametrize("network, length", [
    (SEResNetConfig(), 2592),  # the default network on a stride-padded 10-s window
    (SEResNetConfig(width=8, blocks=(1, 1), kernel=5, stem_kernel=7), 777),  # odd length, 2 stages, other kernels
    (SEResNetConfig(width=16, blocks=(2, 1, 1), se_reduction=4), 320),
])
def test_inference_form_gives_the_eager_networks_logits(network, length):
    """The eager network is the reference: the folded channels-last form must agree to float tolerance."""
    model = trained_looking(network, seed=length)
    x, d = torch.randn(3, 12, length), torch.rand(3, 5)
    with torch.inference_mode():
        expected, got = model(x, d), InferenceSEResNet(model)(x, d)
    assert got.shape == (3, NUM_CLASSES)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_inference_form_is_the_model_as_it_was_when_converted():
    """Reloading other weights into the model (convolutions, batch norms and linear layers alike) leaves the form as it was."""
    network = SEResNetConfig(width=8, blocks=(1, 1))
    model = trained_looking(network, seed=1)
    form = InferenceSEResNet(model)
    x, d = torch.randn(2, 12, 256), torch.rand(2, 5)
    with torch.inference_mode():
        before = form(x, d).clone()
        model.load_state_dict(trained_looking(network, seed=2).state_dict())
        torch.testing.assert_close(form(x, d), before)
        assert not torch.allclose(model(x, d), before, atol=1e-4)
