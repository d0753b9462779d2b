"""Training batches cut from the record cache by ``torch.utils.data`` worker processes.

The main process draws each epoch's plan, the shuffled order and every record's crop
offset, from the fold's seeded generator (``plan_epoch``); the workers only cut the
planned windows out of the memory map (``WindowDataset``). The plan consumes the
generator exactly as ``signal.random_crop_or_pad`` would batch by batch, so the batches
depend on (seed, fold, epoch) alone, never on the worker count, and are those the
single-threaded loop of earlier versions cut.

Under ``torchrun`` every rank draws the same plan and keeps its share of each global
batch (``shard``), so the ranks together see the single-process batches.

API: ``plan_epoch(lengths, fit_idx, window, batch_size, rng) -> [(idx, starts)]``,
``shard(plan, rank, world)``, ``WindowDataset``, ``EpochLoader(cache, window, workers,
pin_memory).epoch(fit_idx, batch_size, rng, rank, world)``, ``choose_workers``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from .cache import Cache
from .device import available_cores
from .records import LEADS

Batch = tuple[np.ndarray, np.ndarray]  # (record indices (B,), crop offsets (B,))


def record_lengths(cache) -> np.ndarray:
    """Samples per record (at 257 Hz) of every record of ``cache``, int64 (N,): its index, or read off the signals."""
    if getattr(cache, "lengths", None) is not None:
        return np.asarray(cache.lengths, dtype=np.int64)
    return np.array([cache.signal(i).shape[1] for i in range(len(cache))], dtype=np.int64)


def plan_epoch(lengths: np.ndarray, fit_idx: np.ndarray, window: int, batch_size: int,
               rng: np.random.Generator) -> list[Batch]:
    """The epoch's batches: sorted record indices and their crop (or zero-pad) offsets.

    ``lengths[i]`` is record ``i``'s length in samples (``record_lengths``). The order is
    ``rng.permutation(fit_idx)`` cut into ``batch_size`` chunks; within a batch, records in
    ascending index order each take ``rng.integers(0, |length - window| + 1)``: a crop start
    when the record is longer than ``window``, a padding offset when shorter, exactly as
    ``signal.random_crop_or_pad`` draws it.
    """
    order = rng.permutation(fit_idx)
    plan = []
    for begin in range(0, len(order), batch_size):
        idx = np.sort(order[begin:begin + batch_size])
        starts = np.array([int(rng.integers(0, abs(int(lengths[i]) - window) + 1)) for i in idx], dtype=np.int64)
        plan.append((idx, starts))
    return plan


def shard(plan: list[Batch], rank: int, world: int) -> tuple[list[Batch], list[int]]:
    """(rank ``rank``'s contiguous part of every global batch, the global batch sizes).

    Parts differ in size by at most one. A global batch with fewer records than
    ``world`` is dropped, so no rank ever gets an empty one (at most ``world - 1``
    records an epoch, from the last batch only).
    """
    kept = [(idx, starts) for idx, starts in plan if len(idx) >= world]
    mine = []
    for idx, starts in kept:
        part = np.array_split(np.arange(len(idx)), world)[rank]
        mine.append((idx[part], starts[part]))
    return mine, [len(idx) for idx, _ in kept]


def cut_window(signal: np.ndarray, window: int, start: int, out: np.ndarray | None = None) -> np.ndarray:
    """``(leads, window)`` float32: ``signal[:, start:start + window]`` when long enough, else zero-padded from ``start``.

    Written into ``out`` (float32, (leads, window)) when given, else into a new array.
    """
    leads, samples = signal.shape
    out = np.empty((leads, window), dtype=np.float32) if out is None else out
    if samples >= window:
        out[:] = signal[:, start:start + window]
    else:
        out[:] = 0
        out[:, start:start + samples] = signal
    return out


class WindowDataset(Dataset):
    """``dataset[(idx, starts)]`` -> (windows (B, 12, window), demographics (B, 5), labels (B, 24)) float32 tensors.

    Holds the cache; a ``cache.Cache`` travels to spawned workers as its folder and is
    reopened there, so the memory map is never copied through a pipe.
    """

    def __init__(self, cache, window: int):
        self.cache, self.window = cache, window

    def __getitem__(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx, starts = batch
        signals = torch.empty((len(idx), len(LEADS), self.window), dtype=torch.float32)
        if get_worker_info() is not None:  # cut straight into shared memory: no second copy on the way back
            signals.share_memory_()
        for row, i, start in zip(signals.numpy(), idx, starts):
            cut_window(self.cache.signal(int(i)), self.window, int(start), out=row)
        return (signals, torch.from_numpy(np.asarray(self.cache.demographics[idx], dtype=np.float32)),
                torch.from_numpy(np.asarray(self.cache.labels[idx], dtype=np.float32)))

    def __getstate__(self) -> dict:
        if isinstance(self.cache, Cache):
            return {"cache_path": str(self.cache.path), "window": self.window}
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        if "cache_path" in state:
            self.cache, self.window = Cache.open(state["cache_path"]), state["window"]
        else:
            self.__dict__.update(state)


class PlanSampler(Sampler):
    """Yields the batches of the plan set last (``set_plan``): persistent workers follow each new epoch."""

    def __init__(self) -> None:
        self.plan: Sequence[Batch] = []

    def set_plan(self, plan: Sequence[Batch]) -> None:
        self.plan = plan

    def __iter__(self) -> Iterator[Batch]:
        return iter(self.plan)

    def __len__(self) -> int:
        return len(self.plan)


def choose_workers(setting: int, device: torch.device, processes_per_node: int = 1) -> int:
    """Loader worker processes: ``setting`` when >= 0; for -1 (auto) none on the CPU, where the
    cores train the network, and on CUDA this process's share of the cores less one (at most 8)."""
    if setting >= 0:
        return setting
    if device.type != "cuda":
        return 0
    return max(1, min(8, available_cores() // max(processes_per_node, 1) - 1))


class EpochLoader:
    """A fold's training batches: plan each epoch in this process, cut the windows in ``workers`` processes.

    Workers (0: the main process) live for the whole fold and return batches in plan
    order whatever their number; ``pin_memory`` (for CUDA) lets the host-to-device
    copies run asynchronously (``non_blocking=True``).
    """

    def __init__(self, cache, window: int, workers: int, pin_memory: bool):
        self.window, self.lengths, self.sampler = window, record_lengths(cache), PlanSampler()
        # Its own generator: the loader's worker seeds never draw from torch's global one, which the dropout masks use.
        self.loader = DataLoader(WindowDataset(cache, window), sampler=self.sampler, batch_size=None, num_workers=workers,
                                 pin_memory=pin_memory, persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
                                 generator=torch.Generator())

    def epoch(self, fit_idx: np.ndarray, batch_size: int, rng: np.random.Generator, rank: int = 0,
              world: int = 1) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]], int]:
        """(batches of (windows, demographics, labels, global batch size) for this rank, their number)."""
        mine, sizes = shard(plan_epoch(self.lengths, fit_idx, self.window, batch_size, rng), rank, world)
        self.sampler.set_plan(mine)
        return ((*tensors, size) for tensors, size in zip(self.loader, sizes)), len(mine)
