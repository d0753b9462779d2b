"""The GPU path's choices, checked on the CPU: mixed precision as the hardware prefers, and torch.compile."""
from __future__ import annotations

import pytest
import torch

from ecgnet.config import PRESETS, Config
from ecgnet.device import training_autocast, training_dtype, uses_grad_scaler
from ecgnet.errors import ConfigError
from ecgnet.training.train import training_model

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


@pytest.mark.parametrize("bf16_supported, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_gpus_train_in_bf16_where_supported_else_fp16_with_the_scaler(monkeypatch, bf16_supported, expected):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16_supported)
    assert training_dtype(CUDA) == expected
    assert uses_grad_scaler(training_dtype(CUDA)) is (expected == torch.float16)
    assert training_dtype(CUDA, "fp32") is None


def test_the_cpu_trains_in_fp32_without_autocast_or_scaler(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: pytest.fail("asked the GPU on the CPU"))
    assert training_dtype(CPU) is None and training_dtype(CPU, "fp32") is None
    assert not uses_grad_scaler(None)
    layer, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    with training_autocast(CPU, None):  # fp32: nothing cast
        assert layer(x).dtype == torch.float32
    with training_autocast(CPU, torch.bfloat16):  # a dtype is applied, on the device given
        assert layer(x).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="unknown training precision 'fp16'"):
        training_dtype(CPU, "fp16")


def test_precision_and_compile_are_checked_compute_only_settings():
    base = PRESETS["smoke"]
    assert base.replace(train_precision="fp32", compile=True).training_identity() == base.training_identity()
    with pytest.raises(ConfigError, match="train_precision must be one of auto, fp32"):
        base.replace(train_precision="fp16")
    with pytest.raises(ConfigError, match="'compile' must be bool, got 1"):
        base.replace(compile=1)
    assert Config.from_dict({**base.to_dict(), "compile": True}).compile is True


def test_compiled_and_eager_networks_give_the_same_outputs_and_gradients():
    if not hasattr(torch, "compile"):
        pytest.skip(f"torch {torch.__version__} has no torch.compile")
    # A tiny network keeps the compile time (C++ code generation) short on 2 cores.
    config = PRESETS["smoke"].replace(width=4, blocks=(1,), kernel=3, stem_kernel=3, dropout=0.0)
    signals, demographics, targets = torch.randn(3, 12, 256), torch.randn(3, 5), torch.rand(3, 24)
    outputs, gradients = [], []
    for compiled in (False, True):
        torch.manual_seed(0)
        model = training_model(config.replace(compile=compiled), CPU)
        logits = model(signals, demographics)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, targets).backward()
        outputs.append(logits.detach())
        gradients.append([p.grad for p in model.parameters()])
    assert list(training_model(config.replace(compile=True), CPU).state_dict()) == list(model.state_dict()), "compile renamed the weights"
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    for compiled_grad, eager_grad in zip(*reversed(gradients)):
        torch.testing.assert_close(compiled_grad, eager_grad, rtol=1e-4, atol=1e-6)
