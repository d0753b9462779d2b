"""Where the tensors live: CUDA when present, else the CPU with an explicit thread count.

Mixed precision for training, as the hardware prefers (``training_dtype``): on CUDA,
bfloat16 autocast where the GPU supports it (Ampere and later: same exponent range as
float32, so no loss scaling), else float16 autocast with a gradient scaler (PyTorch AMP
guide, "Automatic Mixed Precision"); ``train_precision="fp32"`` turns it off. On the CPU
training is fp32, and inference may use bfloat16 autocast (``precision="bf16"``), which
bench/bench_model.py checks against fp32.
"""
from __future__ import annotations

import contextlib
import os

import torch

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16")
TRAINING_PRECISIONS = ("auto", "fp32")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def set_threads(threads: int = 0) -> int:
    """Set torch's intra-op threads; returns the number.

    0 means every core this process may use, shared out among the processes torchrun
    started on this machine (``$LOCAL_WORLD_SIZE``): more threads than cores make
    OpenMP's spinning threads wait on each other (20x slower steps measured on 2 cores).
    """
    count = threads if threads > 0 else max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def choose_device(name: str | None = None) -> torch.device:
    """``name`` if given (e.g. "cpu"), else ``$ECGNET_DEVICE``, else CUDA when available.

    A bare "cuda" under torchrun means this process's own GPU, ``cuda:$LOCAL_RANK``.
    """
    name = name or os.environ.get("ECGNET_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device {name!r} (ECGNET_DEVICE): use cpu or cuda") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} asked for (ECGNET_DEVICE), but no CUDA GPU is available here")
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return device


def distributed_backend(device: torch.device) -> str:
    """The torch.distributed backend for ``device``: nccl between GPUs, gloo between CPU processes."""
    return "nccl" if device.type == "cuda" else "gloo"


def check_precision(precision: str) -> str:
    """``precision`` if known; a ``ConfigError`` naming the choices otherwise (e.g. from ``$ECGNET_PRECISION``)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown inference precision {precision!r} (ECGNET_PRECISION): use one of {', '.join(PRECISIONS)}")
    return precision


def make_deterministic(device: torch.device) -> None:
    """On CUDA, deterministic cuDNN kernels, so a resumed fold reproduces an uninterrupted one there too."""
    if device.type == "cuda":
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False


def inference_autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Autocast for inference: float16 on CUDA, bfloat16 on the CPU when asked, else nothing."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def training_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for training on ``device``: None (fp32) on the CPU or with ``precision="fp32"``;
    on CUDA bfloat16 where ``torch.cuda.is_bf16_supported()``, else float16 (which needs ``uses_grad_scaler``)."""
    if precision not in TRAINING_PRECISIONS:
        raise ValueError(f"unknown training precision {precision!r}; expected one of {TRAINING_PRECISIONS}")
    if device.type != "cuda" or precision == "fp32":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def uses_grad_scaler(dtype: torch.dtype | None) -> bool:
    """float16 gradients underflow without loss scaling; bfloat16 and float32 ones do not."""
    return dtype == torch.float16


def training_autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Autocast to ``dtype`` (from ``training_dtype``) on ``device``; nothing when ``dtype`` is None."""
    return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)
