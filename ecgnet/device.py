"""Where the tensors live: CUDA when present, else the CPU with an explicit thread count.

Mixed precision: float16 autocast with a gradient scaler for training on CUDA; on the
CPU training is fp32, and inference may use bfloat16 autocast (``precision="bf16"``),
which bench/bench_model.py checks against fp32.
"""
from __future__ import annotations

import contextlib
import os

import torch

from .errors import ConfigError

PRECISIONS = ("fp32", "bf16")


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
