"""Training batches cut from the record cache by ``torch.utils.data`` worker processes.

The main process draws each epoch's plan, the shuffled order and every record's crop
offset, from the fold's seeded generator (``plan_epoch``); the workers only cut the
planned windows out of the memory map (``WindowDataset``). The plan consumes the
generator exactly as ``signal.random_crop_or_pad`` would batch by batch, so the batches
depend on (seed, fold, epoch) alone, never on the worker count, and are those the
single-threaded loop of earlier versions cut.

The input levers (the adopted band-pass) are applied to each whole record once, into the
cache (``cache.prepare_inputs``), not each time a window is cut from it; a stretched window
reads only the samples it needs (``signal.cut_window``) and the other augmentations take the
whole batch in one call (``signal.augment``), so that augmentation costs a fraction of a
millisecond per window (bench/RESULTS.md, "Training loader").

Under ``torchrun`` every rank draws the same plan and keeps its share of each global
batch (``shard``), so the ranks together see the single-process batches.

API: ``plan_epoch(lengths, fit_idx, window, batch_size, rng) -> [(idx, starts)]``,
``shard(plan, rank, world)``, ``WindowDataset``, ``EpochLoader(cache, window, workers,
pin_memory, config).epoch(fit_idx, batch_size, rng, rank, world)``, ``choose_workers``.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from ecgnet.data.cache import Cache, prepare_inputs
from ecgnet.device import available_cores
from ecgnet.leads import LEADS
from ecgnet.signal import augment, cut_window, input_recipe, padded_length, prepare_input, stretch_factors

# (record indices (B,), crop offsets (B,), augmentation seed or -1, window length in samples)
Batch = tuple[np.ndarray, np.ndarray, int, int]


def record_lengths(cache) -> np.ndarray:
    """Samples per record (at 257 Hz) of every record of ``cache``, int64 (N,): its index, or read off the signals."""
    if getattr(cache, "lengths", None) is not None:
        return np.asarray(cache.lengths, dtype=np.int64)
    return np.array([cache.signal(i).shape[1] for i in range(len(cache))], dtype=np.int64)


def plan_epoch(lengths: np.ndarray, fit_idx: np.ndarray, window: int, batch_size: int,
               rng: np.random.Generator, augmenting: bool = False, multiple: int = 0) -> list[Batch]:
    """The epoch's batches: sorted record indices, their crop (or zero-pad) offsets, a seed and the window.

    ``lengths[i]`` is record ``i``'s length in samples (``record_lengths``). The order is
    ``rng.permutation(fit_idx)`` cut into ``batch_size`` chunks; within a batch, records in
    ascending index order each take ``rng.integers(0, |length - window| + 1)``: a crop start
    when the record is longer than ``window``, a padding offset when shorter, exactly as
    ``signal.random_crop_or_pad`` draws it. With ``augmenting`` (an augmentation is on,
    ``Config.augmenting``) each batch then draws the seed of its augmentations, else
    the seed is -1 and the generator is consumed exactly as without levers. The window is
    ``window`` samples, or with ``multiple`` > 0 (``pad_to = "stride"``) the longest record
    of the batch padded to ``signal.padded_length``, so short records carry less padding.
    """
    order = rng.permutation(fit_idx)
    plan = []
    for begin in range(0, len(order), batch_size):
        idx = np.sort(order[begin:begin + batch_size])
        length = padded_length(int(lengths[idx].max()), window, multiple)
        starts = np.array([int(rng.integers(0, abs(int(lengths[i]) - length) + 1)) for i in idx], dtype=np.int64)
        plan.append((idx, starts, int(rng.integers(0, 2**62)) if augmenting else -1, length))
    return plan


def shard(plan: list[Batch], rank: int, world: int) -> tuple[list[Batch], list[int]]:
    """(rank ``rank``'s contiguous part of every global batch, the global batch sizes).

    Parts differ in size by at most one. A global batch with fewer records than
    ``world`` is dropped, so no rank ever gets an empty one (at most ``world - 1``
    records an epoch, from the last batch only).
    """
    kept = [batch for batch in plan if len(batch[0]) >= world]
    mine = []
    for idx, starts, seed, length in kept:
        part = np.array_split(np.arange(len(idx)), world)[rank]
        # Each rank's augmentations draw from their own stream, derived from the batch's seed.
        mine.append((idx[part], starts[part], seed if seed < 0 or world == 1 else seed + rank, length))
    return mine, [len(batch[0]) for batch in kept]


class WindowDataset(Dataset):
    """``dataset[(idx, starts, seed, length)]`` -> the batch's windows, a (B, 12, length) float32 tensor.

    Holds the cache; a ``cache.Cache`` travels to spawned workers as its folder (and input
    recipe) and is reopened there, so the memory map is never copied through a pipe (the
    labels and demographics stay in the training process, which may have changed them).
    ``config``'s levers (``config.LEVERS_OFF``; none by default) shape the windows: the input
    levers (``signal.prepare_input``) on each record as it is read unless ``prepared`` (the
    cache holds prepared records, ``cache.prepare_inputs``), a stretch as each window is cut
    (``signal.cut_window``), the other augmentations on the whole batch (``signal.augment``),
    all drawn from the batch's seed in that order.
    """

    def __init__(self, cache, config=None, prepared: bool = False):
        self.cache, self.config, self.prepared = cache, config, prepared

    def __getitem__(self, batch: Batch) -> torch.Tensor:
        idx, starts, seed, length = batch
        signals = torch.empty((len(idx), len(LEADS), length), dtype=torch.float32)
        if get_worker_info() is not None:  # cut straight into shared memory: no second copy on the way back
            signals.share_memory_()
        windows, rng = signals.numpy(), np.random.default_rng(seed) if seed >= 0 else None
        factors = np.ones(len(idx)) if rng is None else stretch_factors(self.config, rng, len(idx))
        for row, i, start, factor in zip(windows, idx, starts, factors):
            signal = self.cache.signal(int(i))
            if self.config is not None and not self.prepared:
                signal = prepare_input(signal, self.config)
            cut_window(signal, int(start), row, factor)
        if rng is not None:
            augment(windows, self.config, rng)
        return signals

    def __getstate__(self) -> dict:
        if isinstance(self.cache, Cache):
            return {"cache_path": str(self.cache.path), "inputs": self.cache.inputs, "config": self.config, "prepared": self.prepared}
        return self.__dict__

    def __setstate__(self, state: dict) -> None:
        if "cache_path" in state:
            self.cache, self.config, self.prepared = Cache.open(state["cache_path"], state["inputs"]), state["config"], state["prepared"]
        else:
            self.__dict__.update(state)


class PlanSampler(Sampler):
    """Yields the batches of the plan set last (``set_plan``): persistent workers follow each new epoch."""

    def __init__(self) -> None:
        self.plan: Sequence[Batch] = []

    def set_plan(self, plan: Sequence[Batch]) -> None:
        """The batches the next epoch yields, in order."""
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
    copies run asynchronously (``non_blocking=True``). With input levers on, a
    ``cache.Cache``'s records are prepared once (``cache.prepare_inputs``, in ``config.workers``
    processes) and ``cache`` is then the prepared one, which inference on the same records can
    read with the input levers off; ``prepared`` says so.
    """

    def __init__(self, cache, window: int, workers: int, pin_memory: bool, config=None):
        """``config``: the fold's configuration when its levers (``config.LEVERS_OFF``) may be on; None for plain crops."""
        self.multiple = config.pad_multiple if config is not None else 0
        config = config if config is not None and config.shapes_windows else None
        prepares = isinstance(cache, Cache) and config is not None and bool(input_recipe(config))
        ready = prepare_inputs(cache, config, config.workers or None) if prepares else None
        self.cache, self.prepared = (cache, False) if ready is None else (ready, True)
        self.pin_memory = pin_memory
        self.window, self.lengths, self.sampler = window, record_lengths(cache), PlanSampler()
        self.augmenting = config is not None and config.augmenting
        # Its own generator: the loader's worker seeds never draw from torch's global one, which the dropout masks use.
        self.loader = DataLoader(WindowDataset(self.cache, config, self.prepared), sampler=self.sampler, batch_size=None,
                                 num_workers=workers, pin_memory=pin_memory, persistent_workers=workers > 0,
                                 prefetch_factor=4 if workers else None, generator=torch.Generator())

    def epoch(self, fit_idx: np.ndarray, batch_size: int, rng: np.random.Generator, rank: int = 0,
              world: int = 1) -> tuple[Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]], int]:
        """(batches of (windows, demographics, labels, global batch size) for this rank, their number)."""
        plan = plan_epoch(self.lengths, fit_idx, self.window, batch_size, rng, self.augmenting, self.multiple)
        mine, sizes = shard(plan, rank, world)
        self.sampler.set_plan(mine)
        return ((windows, *self._record_tensors(batch[0]), size) for windows, batch, size in zip(self.loader, mine, sizes)), len(mine)

    def _record_tensors(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(demographics (B, 5), labels (B, C)) float32 of the records ``idx``, pinned for CUDA like the windows."""
        tensors = (torch.from_numpy(np.asarray(self.cache.demographics[idx], dtype=np.float32)),
                   torch.from_numpy(np.asarray(self.cache.labels[idx], dtype=np.float32)))
        return tuple(t.pin_memory() for t in tensors) if self.pin_memory else tensors
