"""Where and how computation runs: the device, its precision and threads, and torchrun's data parallelism.

The device is CUDA when present, else the CPU with an explicit thread count; one fold
trains data-parallel over the processes ``torchrun`` starts (PyTorch DDP).

Mixed precision for training, as the hardware prefers (``training_dtype``): on CUDA,
bfloat16 autocast where the GPU supports it (Ampere and later: same exponent range as
float32, so no loss scaling), else float16 autocast with a gradient scaler (PyTorch AMP
guide, "Automatic Mixed Precision"); ``train_precision="fp32"`` turns it off. On the CPU
training is fp32, and inference may use bfloat16 autocast (``precision="bf16"``), which
bench/bench_model.py checks against fp32.

Data parallelism: ``torchrun --nproc_per_node=N train_model.py DATA MODEL`` (or ``... -m ecgnet cv ...``)
sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; ``start_distributed`` then joins the
process group (``nccl`` on CUDA, ``gloo`` on the CPU, ``distributed_backend``). Without those
variables every data-parallel function here is the single-process no-op, so one code path
serves both.

What the ranks share, and how:

- the batches: every rank plans the epoch from the same seeded generator and keeps its
  part of each global batch (``loader.shard``); the global batch is ``config.batch_size``
  (per-rank batch = batch_size / world size), so the learning-rate schedule is unchanged;
- the gradient: DDP averages it; the loss each rank backpropagates is scaled so that the
  average is the gradient of the global batch's mean BCE (``loss_scale``);
- BatchNorm statistics: computed over the global batch (``SyncBatchNorm1d``: torch's own
  ``nn.SyncBatchNorm`` refuses CPU tensors, and the test here runs on the CPU), so 2 ranks
  x 32 records give the gradients of 1 process x 64 (tests/test_ddp.py);
- decisions: the inner-validation score and the deadline check are made on rank 0 and
  broadcast (``from_rank_zero``), so every rank keeps the same checkpoint and stops
  together; only rank 0 writes files (``is_main_process``).
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ecgnet.config import PRECISIONS, TRAINING_PRECISIONS
from ecgnet.console import set_quiet
from ecgnet.errors import ConfigError

log = logging.getLogger(__name__)



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


# --- data parallelism under torchrun (DDP) ---

_control: dist.ProcessGroup | None = None  # a gloo group for small CPU messages (no GPU sync under nccl)


def launched_world_size() -> int:
    """``$WORLD_SIZE`` as torchrun sets it (1 when not launched by it)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on rank 0 of a torchrun job and in a plain process: the one that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the joined process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def start_distributed(device: torch.device) -> None:
    """Join torchrun's process group once (no-op when ``$WORLD_SIZE`` is 1 or the group exists).

    Ranks other than 0 go quiet (no progress bars, warnings only) so a job logs once.
    """
    global _control
    if launched_world_size() < 2 or dist.is_initialized():
        return
    backend = distributed_backend(device)
    if device.type == "cuda":  # this rank's GPU for everything left implicit (pinned memory, NCCL streams)
        torch.cuda.set_device(device)
    dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    _control = dist.new_group(backend="gloo") if backend != "gloo" else None
    atexit.register(_stop_distributed)
    if dist.get_rank() != 0:
        set_quiet(True)
        logging.getLogger("ecgnet").setLevel(logging.WARNING)
    log.info("torchrun: %d processes joined, backend %s", dist.get_world_size(), backend)


def _stop_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def gather(value: object) -> list:
    """Every rank's ``value``, in rank order, on every rank (``[value]`` in a single process); over the gloo group."""
    rank, world = rank_and_world()
    if world < 2:
        return [value]
    values: list = [None] * world
    dist.all_gather_object(values, value, group=_control)
    return values


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if rank_and_world()[1] > 1:
        dist.barrier(group=_control)


@contextlib.contextmanager
def rank_zero_first() -> Iterator[None]:
    """Run the block on rank 0 first, then on the others (e.g. rank 0 builds the cache, they reuse it)."""
    if not is_main_process():
        barrier()
    try:
        yield
    finally:
        if is_main_process():
            barrier()


def from_rank_zero(values: list[float]) -> list[float]:
    """Rank 0's ``values`` on every rank (a broadcast over the CPU group; identity in a single process)."""
    if rank_and_world()[1] == 1:
        return values
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.broadcast(tensor, src=0, group=_control)
    return tensor.tolist()


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``tensor`` over the ranks (``tensor`` itself in a single process)."""
    if rank_and_world()[1] > 1:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
    return tensor


def loss_scale(global_count: int) -> float:
    """Factor for this rank's summed loss so that DDP's gradient average is the global batch mean's gradient.

    DDP divides the summed gradients by the world size W; each rank backpropagates
    ``sum of its terms * W / global_count``, which averages to ``sum of all terms / global_count``.
    """
    return rank_and_world()[1] / global_count


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose backward all-reduces the gradient: every rank's loss reaches every input."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class SyncBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch (all ranks' records together).

    Input (B, C, L); the same parameters and buffers as ``nn.BatchNorm1d`` (weights load
    into the plain network). Outside training or without a process group it is plain
    BatchNorm. One all-reduce of (sum, sum of squares, count) per layer, in float32.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` (B, C, L) with the global batch's statistics while training, else as BatchNorm1d."""
        if not (self.training and rank_and_world()[1] > 1):
            return super().forward(x)
        x32, channels = x.float(), x.shape[1]
        local = torch.cat([x32.sum((0, 2)), (x32 * x32).sum((0, 2)), x32.new_tensor([x.shape[0] * x.shape[2]])])
        totals = _SumOverRanks.apply(local)
        count = totals[-1]
        mean = totals[:channels] / count
        var = (totals[channels:2 * channels] / count - mean * mean).clamp_min(0)
        self._update_running(mean.detach(), var.detach() * count / (count - 1).clamp_min(1))
        out = (x32 - mean[None, :, None]) * torch.rsqrt(var + self.eps)[None, :, None]
        return (out * self.weight[None, :, None] + self.bias[None, :, None]).to(x.dtype)

    @torch.no_grad()
    def _update_running(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased_var.to(self.running_var.dtype), momentum)


def data_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` itself in a single process; else its BatchNorms made global (in place) and the model wrapped in DDP."""
    if rank_and_world()[1] == 1:
        return model
    for module in model.modules():
        if type(module) is nn.BatchNorm1d and module.affine and module.track_running_stats:
            module.__class__ = SyncBatchNorm1d  # same state, statistics over all ranks
    # No buffer broadcast before each forward: the synced statistics are the same on every rank.
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None, forward_sync_buffers=False)
