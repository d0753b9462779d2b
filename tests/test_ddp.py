"""DDP inside a fold: 2 processes x 32 records step like 1 process x 64, a fold trained by 2 ranks ends where one
process does, and torchrun trains a loadable model directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import TINY, learnable_cache, write_records

from ecgnet.config import PRESETS, SEResNetConfig
from ecgnet.device import SyncBatchNorm1d, data_parallel, set_threads
from ecgnet.fileio import EPOCH_LOG, TRAINING_STATE, WORK_DIR
from ecgnet.inference.ensemble import Ensemble
from ecgnet.network.model import SEResNet
from ecgnet.training.train import batch_loss, inner_split, train_fold

REPO = Path(__file__).resolve().parents[1]
NETWORK = SEResNetConfig(width=8, blocks=(1, 1), kernel=5, stem_kernel=7, dropout=0.0)
BATCH, WORLD = 64, 2


def _run_ranks(target, *args) -> None:
    """``target(rank, *args)`` in WORLD spawned processes; a rank that fails or hangs (120 s) fails the test.

    Spawned, not forked: a fork of a process whose OpenMP threads have run (any earlier
    test in the same session) can deadlock in the child.
    """
    context = mp.start_processes(target, args=args, nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{target.__name__}: the ranks did not finish within 120 s")


def _batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A fixed global batch: windows (64, 12, 512), demographics (64, 5), targets (64, 24)."""
    g = torch.Generator().manual_seed(5)
    return (torch.randn(BATCH, 12, 512, generator=g), torch.rand(BATCH, 5, generator=g),
            (torch.rand(BATCH, 24, generator=g) < 0.2).float())


def _first_step(net: torch.nn.Module, part: slice) -> None:
    signals, demographics, targets = _batch()
    loss, _ = batch_loss(net, signals[part], demographics[part], targets[part], BATCH)
    loss.backward()


def _fresh_model() -> SEResNet:
    torch.manual_seed(0)
    return SEResNet(NETWORK).train()


def _rank(rank: int, store: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        model = _fresh_model()
        net = data_parallel(model, torch.device("cpu"))
        per_rank = BATCH // WORLD
        _first_step(net, slice(rank * per_rank, (rank + 1) * per_rank))
        torch.save({"grads": {n: p.grad for n, p in model.named_parameters()}, "buffers": dict(model.named_buffers()),
                    "synced": sum(isinstance(m, SyncBatchNorm1d) for m in model.modules())}, f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_of_32_give_the_first_step_gradients_of_one_process_of_64(tmp_path):
    _run_ranks(_rank, str(tmp_path / "store"), str(tmp_path))
    reference = _fresh_model()
    _first_step(reference, slice(0, BATCH))
    expected_buffers = dict(reference.named_buffers())
    for rank in range(WORLD):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        assert got["synced"] == sum(isinstance(m, torch.nn.BatchNorm1d) for m in reference.modules()) > 0
        for name, parameter in reference.named_parameters():
            torch.testing.assert_close(got["grads"][name], parameter.grad, rtol=1e-4, atol=1e-6, msg=f"rank {rank}: {name}")
        for name, buffer in expected_buffers.items():  # BatchNorm running statistics of the global batch
            torch.testing.assert_close(got["buffers"][name], buffer, rtol=1e-4, atol=1e-6, msg=f"rank {rank}: {name}")


@pytest.mark.slow
def test_torchrun_with_two_processes_trains_a_model_directory_that_loads(tmp_path):
    data, model_dir = write_records(tmp_path / "data", 30), tmp_path / "model"
    # The smoke preset, 2 epochs a fold instead of 8, so the test stays short on a loaded 2-core machine.
    (tmp_path / "smoke2.json").write_text(json.dumps({"preset": "smoke", "epochs": 2, "lr_milestones": [1]}))
    env = {**os.environ, "ECGNET_CONFIG": str(tmp_path / "smoke2.json"), "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               str(REPO / "train_model.py"), str(data), str(model_dir)]
    finished = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-3000:]
    ensemble = Ensemble.load(model_dir, device="cpu")
    assert len(ensemble.models) == 5 and ensemble.thresholds.shape == (5, 24)
    assert ensemble.config == PRESETS["smoke"].replace(epochs=2, lr_milestones=(1,))
    assert all(fold["epochs_run"] == 2 for fold in ensemble.manifest["folds"])
    assert not (model_dir / WORK_DIR).exists()
    assert finished.stdout.count("Done.") == 2  # both ranks ran to the end
    logs = sorted(p.relative_to(model_dir).as_posix() for p in model_dir.rglob("epochs.csv"))
    assert logs == [f"folds/fold_{k}/epochs.csv" for k in range(5)]


def test_every_core_is_shared_out_among_the_processes_of_a_machine(monkeypatch):
    monkeypatch.setattr("ecgnet.device.available_cores", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    try:
        assert set_threads(0) == 4 and torch.get_num_threads() == 4
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "32")
        assert set_threads(0) == 1
        assert set_threads(3) == 3
    finally:
        torch.set_num_threads(1)


FOLD_CONFIG = TINY.replace(dropout=0.0, epochs=2, lr_milestones=(1,))  # no dropout: masks are drawn per rank


def _fold_on_rank(rank: int, store: str, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=WORLD)
    try:
        cache = learnable_cache(120)
        fit_idx, val_idx = inner_split(cache, np.arange(120), FOLD_CONFIG, seed=0, fold=0)
        result = train_fold(cache, fit_idx, val_idx, FOLD_CONFIG, f"{out}/fold", seed=0, fold=0)
        torch.save({"weights": result.state_dict, "thresholds": result.thresholds, "best_epoch": result.best_epoch},
                   f"{out}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_a_fold_trained_by_two_ranks_ends_where_one_process_does(tmp_path):
    _run_ranks(_fold_on_rank, str(tmp_path / "store"), str(tmp_path))
    cache = learnable_cache(120)
    fit_idx, val_idx = inner_split(cache, np.arange(120), FOLD_CONFIG, seed=0, fold=0)
    alone = train_fold(cache, fit_idx, val_idx, FOLD_CONFIG, tmp_path / "alone", seed=0, fold=0)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD)]
    for key, value in alone.state_dict.items():
        assert torch.equal(ranks[0]["weights"][key], ranks[1]["weights"][key]), key  # the ranks agree exactly
        torch.testing.assert_close(ranks[0]["weights"][key], value, rtol=1e-3, atol=1e-4, msg=key)
    np.testing.assert_array_equal(ranks[0]["thresholds"], ranks[1]["thresholds"])
    assert ranks[0]["best_epoch"] == ranks[1]["best_epoch"]
    assert sorted(p.name for p in (tmp_path / "fold").iterdir()) == [EPOCH_LOG, TRAINING_STATE]  # written once, by rank 0
