"""Training: one fold model (``train_fold``) and the whole 5-fold ensemble (``train_ensemble``).

The seed's recipe (``config.Config`` defaults): BCE with logits, Adam (lr 3e-3, weight
decay 1e-5), lr x0.1 at epochs 20 and 40, 50 epochs, batch 64, random 4096-sample crops
at 257 Hz. Unlike the seed, a fold never looks at its held-out records: ``inner_split``
carves a stratified inner validation split out of the fold's training records, and
both the checkpoint choice (best inner-validation challenge score, labels = probability
>= 0.5 plus the top class) and the thresholds (``thresholds.search_thresholds``) come
from it, so held-out scores stay honest.

Reproducible and resumable: the data order, the crops and the dropout masks of epoch
``e`` depend only on (seed, fold, e), never on the loader's worker count (``loader``),
and after every epoch ``FOLD_DIR/state.pt`` (model, optimiser, scheduler, scaler, best
checkpoint, epoch log) is written atomically. A run killed at any moment and restarted
continues from the last complete epoch and ends with the same weights as an
uninterrupted run (same device and thread count).

Under ``torchrun --nproc_per_node=N`` each fold trains with DistributedDataParallel
(``device``): the ranks share out every global batch of ``config.batch_size``
records (batch_size / N each), so the learning-rate schedule and the batches are those
of one process; rank 0 scores the inner split and writes every file.

Each epoch is logged to ``FOLD_DIR/epochs.csv`` (epoch, loss, inner_val_score, lr,
seconds) and shown by a progress bar. A deadline (from ``config.time_limit_hours``)
stops training cleanly, keeping the best checkpoint so far (at least one epoch runs).

API: ``inner_split``, ``train_fold(cache, train_idx, val_idx, config, fold_dir, seed, fold)
-> FoldResult``, ``train_ensemble(data_dir, model_dir, config, only_folds=None) -> manifest | None``.
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ecgnet import fileio
from ecgnet.challenge.classes import ClassSet
from ecgnet.challenge.metrics import ChallengeMetric
from ecgnet.challenge.thresholds import apply_thresholds, search_thresholds
from ecgnet.config import LEVERS_OFF, Config, load_config, parse_lead_sets
from ecgnet.console import is_quiet, progress
from ecgnet.data.cache import Cache, build_cache
from ecgnet.data.folds import make_folds
from ecgnet.data.loader import EpochLoader, choose_workers
from ecgnet.device import (
    choose_device,
    data_parallel,
    from_rank_zero,
    is_main_process,
    loss_scale,
    make_deterministic,
    rank_and_world,
    rank_zero_first,
    set_threads,
    start_distributed,
    sum_over_ranks,
    training_autocast,
    training_dtype,
    uses_grad_scaler,
)
from ecgnet.errors import TooFewRecordsError
from ecgnet.leads import presence
from ecgnet.fileio import (CACHE_ENV_VAR, EPOCH_LOG, FOLD_RESULT, LEAD_SET_MODELS, MANIFEST, TRAINING_STATE, WORK_DIR,
                           atomic_write_text, write_csv)
from ecgnet.inference.ensemble import inference_forms, predict_probabilities
from ecgnet.modeldir import (
    assemble,
    check_fold,
    folds_from_environment,
    load_manifest,
    manifest_entry,
    save_torch,
    save_weights,
    unfinished_folds,
    weights_name,
    write_lead_set_models,
    write_plan,
)
from ecgnet.network.losses import soft_challenge_score
from ecgnet.network.model import SEResNet, network_for
from ecgnet.signal import PREPARED_BY, TARGET_FS
from ecgnet.training.labels import class_labels

log = logging.getLogger(__name__)

LOG_COLUMNS = ("epoch", "loss", "inner_val_score", "lr", "seconds")
CHECKPOINT_THRESHOLD = 0.5


@dataclass
class FoldResult:
    """A trained fold: its best weights, thresholds and how it got there."""

    fold: int
    state_dict: dict
    thresholds: np.ndarray  # (C,)
    best_epoch: int
    inner_val_score: float
    epochs_run: int
    stopped_by_time_limit: bool
    log: list[dict]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed that depends only on ``parts`` (e.g. seed, fold, epoch)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


def inner_split(cache: Cache, train_idx: np.ndarray, config: Config, seed: int, fold: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit_idx, inner_val_idx): 1/``config.inner_folds`` of ``train_idx``, stratified by source and labels."""
    train_idx = np.asarray(train_idx)
    assignment = make_folds([str(n) for n in cache.names[train_idx]], cache.labels[train_idx],
                            n_folds=config.inner_folds, seed=derive_seed(seed, fold, 1) % (2**31))
    return train_idx[assignment != 0], train_idx[assignment == 0]


def _inner_score(model: nn.Module, cache: Cache, val_idx: np.ndarray, config: Config, device: torch.device
                 ) -> tuple[float, np.ndarray, np.ndarray]:
    """(challenge score at probability >= 0.5 plus the top class, labels (S N, C), probabilities (S N, C)) on ``val_idx``'s
    N records read through each of the S lead sets the model reads (``config.trained_lead_sets``), pooled."""
    # The inference form: faster on the CPU, the same outputs to float tolerance (a fresh one: the model trains on).
    networks = inference_forms([model], device)
    lead_sets = config.trained_lead_sets
    probabilities = np.concatenate([predict_probabilities(networks, cache, config, indices=val_idx, device=device,
                                                          lead_sets=[leads] * len(val_idx)) for leads in lead_sets])
    labels = np.tile(np.asarray(cache.labels[val_idx], dtype=bool), (len(lead_sets), 1))
    outputs = apply_thresholds(probabilities, CHECKPOINT_THRESHOLD)
    return metric_for(labels, config.classes).score(outputs), labels, probabilities


def metric_for(labels: np.ndarray, classes: ClassSet) -> ChallengeMetric:
    """The challenge metric of ``classes`` (its weights and normal class) on (N, C) ``labels``."""
    return ChallengeMetric(labels, classes.weights, classes.normal_index)


def _current(stored: dict) -> dict:
    """A stored fold identity (state.pt, result.json) in this version's form: older configs carry "fs": 257."""
    return {**stored, "config": {k: v for k, v in stored["config"].items() if (k, v) != ("fs", TARGET_FS)}}


def training_model(config: Config, device: torch.device) -> SEResNet:
    """A fresh ``model.network_for(config)`` on ``device``, compiled in place when ``config.compile``.

    ``nn.Module.compile`` keeps the module and its state-dict keys, so checkpoints, resume
    and DDP wrapping work as for the eager network.
    """
    model = network_for(config).to(device)
    if config.compile:
        model.compile()
    return model


def batch_loss(net: nn.Module, signals: torch.Tensor, demographics: torch.Tensor, targets: torch.Tensor,
               global_count: int, challenge_weight: float = 0.0, classes: ClassSet | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss this process backpropagates, its summed BCE): windows (B, 12, W), side features (B, 5) or (B, 17),
    targets (B, C) in ``classes`` (default: 2020's).

    The loss is the BCE with logits summed over this process's B records and C classes,
    scaled (``device.loss_scale``) so that the gradient is that of the mean over the
    ``global_count`` records of the global batch: in one process, the plain mean. With
    ``challenge_weight`` > 0 it adds that multiple of 1 - the differentiable challenge
    score of the batch (``losses.soft_challenge_score``); under torchrun that term is each
    rank's own batch, averaged by DDP (the score does not decompose over records).
    """
    logits = net(signals, demographics).float()
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="sum")
    loss = bce * loss_scale(global_count * targets.shape[1])
    if challenge_weight > 0:
        table = {} if classes is None else {"weights": classes.weights, "normal_index": classes.normal_index}
        loss = loss + challenge_weight * (1 - soft_challenge_score(torch.sigmoid(logits), targets, **table))
    return loss, bce


def read_through_lead_sets(signals: torch.Tensor, demographics: torch.Tensor, config: Config,
                           rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A training batch as a model of reduced lead sets reads it: (windows (B, 12, W), side features (B, 17)).

    Each record's window is read through a lead set drawn uniformly from
    ``config.trained_lead_sets`` with ``rng``: the other leads zeroed, the set's lead-presence
    vector appended to the five demographic values (inference does the same,
    ``ensemble.record_inputs``). A twelve-lead model's batch is returned as it is, drawing nothing.
    """
    if not config.lead_presence:
        return signals, demographics
    masks = torch.tensor([presence(leads) for leads in config.trained_lead_sets], dtype=signals.dtype, device=signals.device)
    chosen = masks[torch.from_numpy(rng.integers(len(masks), size=len(signals))).to(signals.device)]
    return signals * chosen[:, :, None], torch.cat([demographics, chosen.to(demographics.dtype)], dim=1)


def _saved_state(path: Path, identity: dict, device: torch.device) -> dict | None:
    """What ``path`` (a fold's ``state.pt``) holds when the same run wrote it, else None (absent, or another run's)."""
    if not path.exists():
        return None
    state = torch.load(path, map_location=device, weights_only=True)
    if _current(state["identity"]) != identity:
        log.warning("%s: from another run (config, seed or data differ); starting fold %d afresh", path, identity["fold"])
        return None
    return state


def train_fold(cache: Cache, train_idx: np.ndarray, val_idx: np.ndarray, config: Config, fold_dir: str | Path,
               seed: int, fold: int = 0, deadline: float | None = None, device: torch.device | None = None) -> FoldResult:
    """Train one fold model on ``train_idx``, choosing the checkpoint and thresholds on ``val_idx``.

    ``train_idx`` and ``val_idx`` index ``cache``; ``val_idx`` is the inner validation
    split (``inner_split``), never the held-out fold. ``fold_dir`` receives ``epochs.csv``
    and ``state.pt``. ``deadline`` is a ``time.time()`` value (s) after which training
    stops cleanly with the best checkpoint so far (checked before every batch, once a
    checkpoint exists). Raises ``TooFewRecordsError`` when either split is empty.

    Under torchrun every rank calls it and gets the same result. The ranks meet at four
    points only: the loss sum, the inner-validation score and the deadline (both decided
    by rank 0), and the thresholds; rank 0 alone scores the inner split and writes files.
    This function is longer than a screen on purpose: the whole loop reads top to bottom.
    """
    train_idx, val_idx = np.asarray(train_idx), np.asarray(val_idx)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise TooFewRecordsError(f"fold {fold}: {len(train_idx)} training and {len(val_idx)} inner-validation records; both must be non-empty")
    fold_dir = Path(fold_dir)
    set_threads(config.threads)
    device = device or choose_device()
    make_deterministic(device)
    start_distributed(device)
    rank, world = rank_and_world()
    writes = rank == 0
    if writes:
        fold_dir.mkdir(parents=True, exist_ok=True)
    identity = {"config": config.training_identity(), "seed": seed, "fold": fold,
                "train": sha256_of(train_idx), "val": sha256_of(val_idx), "fingerprint": cache.fingerprint}

    # The model, its optimiser, schedule and gradient scaler: fresh from (seed, fold), or as the last epoch left them.
    torch.manual_seed(derive_seed(seed, fold, 0, 1))
    model = training_model(config, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma)
    dtype = training_dtype(device, config.train_precision)
    scaler = torch.amp.GradScaler(device.type, enabled=uses_grad_scaler(dtype))
    epoch, rows, best = 0, [], {"score": -np.inf, "epoch": 0, "state": None}
    state = _saved_state(fold_dir / TRAINING_STATE, identity, device)  # every rank reads rank 0's file
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state["scaler"]:  # empty when the fold began on the CPU, where the scaler is disabled
            scaler.load_state_dict(state["scaler"])
        epoch, rows, best = state["epoch"], state["rows"], state["best"]
        log.info("fold %d: resuming after epoch %d of %d", fold, epoch, config.epochs)
    net = data_parallel(model, device)  # what steps: the model, or its DDP wrapper under torchrun
    workers = choose_workers(config.loader_workers, device, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    with rank_zero_first():  # rank 0 prepares the records' inputs once (cache.prepare_inputs), the others reuse them
        feed = EpochLoader(cache, config.window, workers, pin_memory=device.type == "cuda", config=config)
    # Inner validation reads the records the loader prepared, with the input levers off: the same windows, not filtered again.
    scored, scoring = (feed.cache, config.replace(**{key: LEVERS_OFF[key] for key in PREPARED_BY})) if feed.prepared else (cache, config)

    stopped = False
    while epoch < config.epochs and not stopped:
        began = time.time()
        # The data order and crops of an epoch depend on (seed, fold, epoch) alone; dropout masks on the rank too.
        torch.manual_seed(derive_seed(seed, fold, epoch + 1, 2, *([rank] if rank else [])))
        rng = np.random.default_rng(derive_seed(seed, fold, epoch + 1, 3))
        lead_rng = np.random.default_rng(derive_seed(seed, fold, epoch + 1, 4, rank))  # which leads each window keeps
        model.train()
        total, seen = torch.zeros((), dtype=torch.float64, device=device), 0  # on the device: no step waits for the GPU
        batches, count = feed.epoch(train_idx, config.batch_size, rng, rank, world)
        for signals, demographics, targets, global_count in progress(batches, f"fold {fold} epoch {epoch + 1}/{config.epochs}", count, "batch"):
            if deadline is not None and from_rank_zero([float(time.time() > deadline and best["state"] is not None)])[0]:
                stopped = True
                break
            signals, demographics, targets = (x.to(device, non_blocking=True) for x in (signals, demographics, targets))
            signals, demographics = read_through_lead_sets(signals, demographics, config, lead_rng)
            with training_autocast(device, dtype):
                loss, bce = batch_loss(net, signals, demographics, targets, global_count, config.challenge_loss_weight, config.classes)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += bce.detach()
            seen += global_count
        if stopped:
            log.warning("fold %d: time limit reached after epoch %d; keeping the best checkpoint (epoch %d)", fold, epoch, best["epoch"])
            break
        mean_loss = sum_over_ranks(total).item() / max(seen * config.classes.num_classes, 1)

        # End of epoch: step the schedule, score the inner split, keep the best checkpoint, save what a restart needs.
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        epoch += 1
        score = from_rank_zero([_inner_score(model, scored, val_idx, scoring, device)[0] if writes else 0.0])[0]
        if score > best["score"] or best["state"] is None:
            best = {"score": score, "epoch": epoch, "state": copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})}
        rows.append({"epoch": epoch, "loss": f"{mean_loss:.6f}", "inner_val_score": f"{score:.6f}", "lr": f"{lr:.3g}",
                     "seconds": f"{time.time() - began:.1f}"})
        if writes:
            save_torch(fold_dir / TRAINING_STATE, {"identity": identity, "epoch": epoch, "model": model.state_dict(),
                                                   "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                                   "scaler": scaler.state_dict(), "rows": rows, "best": best})
            write_csv(fold_dir / EPOCH_LOG, LOG_COLUMNS, ([row[k] for k in LOG_COLUMNS] for row in rows))
            if not is_quiet():  # a progress line: quiet mode drops it with the bars
                log.info("fold %d epoch %d: loss %s, inner-val score %s", fold, epoch, rows[-1]["loss"], rows[-1]["inner_val_score"])

    # The best checkpoint, and its per-class thresholds searched on the inner split by rank 0.
    model.load_state_dict(best["state"])
    thresholds = np.zeros(config.classes.num_classes)
    if writes:
        _, labels, probabilities = _inner_score(model, scored, val_idx, scoring, device)
        thresholds = search_thresholds(labels, probabilities, passes=config.threshold_passes, metric=metric_for(labels, config.classes))
    thresholds = np.asarray(from_rank_zero([float(x) for x in thresholds]))
    return FoldResult(fold, best["state"], thresholds, best["epoch"], float(best["score"]), len(rows), stopped, rows)


def sha256_of(indices: np.ndarray) -> str:
    """SHA-256 (hex) of an index array as int64: identifies a fold's training or validation split."""
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()


def labelled_records(cache: Cache) -> np.ndarray:
    """Indices of the records with at least one scored class (the seed trains on these only)."""
    return np.flatnonzero(np.asarray(cache.labels).any(axis=1))


def minimum_records(config: Config) -> int:
    """The fewest labelled records that fill every fold's inner split."""
    return config.n_folds * config.inner_folds


def training_cache(data_dir: Path, cache_root: Path, config: Config, lists_dir: Path | None = None) -> Cache:
    """The record cache of ``data_dir`` (built, or reused when it is current) with its labels in ``config``'s class set
    (``labels.class_labels``); ``lists_dir`` keeps copies of its lists of skipped records and repairs."""
    cache = build_cache(data_dir, cache_root, gain_policy=config.gain_policy, workers=config.workers or None, lists_dir=lists_dir)
    return replace(cache, labels=class_labels(cache, data_dir, config.classes))


def _read_training_data(data_dir: Path, model_dir: Path, config: Config, cache_root: Path) -> tuple[Cache, np.ndarray]:
    """The record cache and its labelled records; MODEL_DIR keeps the cache's lists of skipped records and repairs."""
    # The cache's own lists go when MODEL_DIR/work is removed: MODEL_DIR keeps copies (one per torchrun job), and the log names those.
    cache = training_cache(data_dir, cache_root, config, lists_dir=model_dir if is_main_process() else None)
    usable = labelled_records(cache)
    if len(usable) < minimum_records(config):
        raise TooFewRecordsError(
            f"{data_dir}: {len(usable)} readable records with a scored class ({len(cache)} readable, "
            f"{len(cache.bad_records)} unreadable); {config.n_folds} folds with {config.inner_folds} inner splits "
            f"need at least {minimum_records(config)}")
    return cache, usable


def _finished_fold(model_dir: Path, k: int, config: Config, fingerprint: str) -> dict | None:
    """Fold ``k``'s manifest entry when its weights were trained on the same data and configuration, else None."""
    record, _ = check_fold(model_dir, k, config, fingerprint)
    if record is None:
        return None
    log.info("fold %d: already trained on the same data and configuration (%s), reused", k, model_dir / weights_name(k))
    return manifest_entry(record)


def _train_and_save_fold(cache: Cache, train_idx: np.ndarray, held_out: np.ndarray, model_dir: Path, k: int,
                         config: Config, deadline: float | None, device: torch.device) -> dict:
    """Train fold ``k`` (checkpoint and thresholds from an inner split of ``train_idx``); write its weights and result."""
    began = time.time()
    folder = fileio.fold_dir(model_dir, k)
    fit_idx, val_idx = inner_split(cache, train_idx, config, config.seed, k)
    result = train_fold(cache, fit_idx, val_idx, config, folder, config.seed, k, deadline, device)
    if not is_main_process():  # the same result; rank 0 writes it, the others read the manifest
        return {}
    weights = model_dir / weights_name(k)
    digest = save_weights(weights, result.state_dict)
    entry = {"fold": k, "weights": weights.name, "sha256": digest, "thresholds": [round(float(t), 2) for t in result.thresholds],
             "seed": config.seed, "best_epoch": result.best_epoch, "inner_val_score": result.inner_val_score,
             "epochs_run": result.epochs_run, "stopped_by_time_limit": result.stopped_by_time_limit,
             "n_fit": int(len(fit_idx)), "n_inner_val": int(len(val_idx)), "nheld_out": int(len(held_out)),
             "log": str((folder / EPOCH_LOG).relative_to(model_dir))}
    record = {**entry, "config": config.training_identity(), "fingerprint": cache.fingerprint, "device": str(device),
              "threads": torch.get_num_threads(), "seconds": round(time.time() - began, 1)}
    atomic_write_text(folder / FOLD_RESULT, json.dumps(record, indent=2) + "\n")
    (folder / TRAINING_STATE).unlink(missing_ok=True)
    return entry


def _remove_stale_manifest(model_dir: Path, folds: list[int]) -> None:
    """The manifest no longer describes ``model_dir`` once ``folds`` are trained again: never leave it claiming them."""
    manifest = model_dir / MANIFEST
    if manifest.exists():
        log.warning("%s removed: fold(s) %s are trained again; it is written anew once every fold is finished",
                    manifest, ", ".join(map(str, folds)))
        manifest.unlink(missing_ok=True)  # another run sharing the folds may have removed it first


def train_ensemble(data_dir: str | Path, model_dir: str | Path, config: Config, cache_root: str | Path | None = None,
                   assign: Callable[[list[str], np.ndarray], np.ndarray] | None = None,
                   only_folds: tuple[int, ...] | None = None) -> dict | None:
    """Train ``config.n_folds`` fold models on ``data_dir`` and write the model directory (``modeldir.py``).

    Resumable: finished folds (``MODEL_DIR/folds/fold_K/result.json`` + weights) are kept,
    an unfinished one resumes from its last epoch; a fold trained on other data or with
    another configuration is trained again. ``only_folds`` (e.g. ``(0, 2)``) trains just
    those folds, so that separate processes can share the folds out (``modeldir.assemble``); the
    manifest is written once every fold is finished, and None is returned until then.
    The record cache lives in ``cache_root`` when given (and is kept, e.g. for
    cross-validation), else in ``MODEL_DIR/work``, which is removed once the manifest is
    written. Unreadable records are skipped and listed in ``MODEL_DIR/bad_records.csv``
    (``file,reason``; absent when there are none). ``config.time_limit_hours`` is shared
    out among the folds this call trains. ``assign(names, labels)`` replaces the stratified
    folds (``folds.make_folds``) with its own fold per record, 0..n_folds-1, or -1 for a
    record that every fold trains on and none holds out (leave-one-source-out). Under
    torchrun every rank trains and rank 0 alone writes. Returns the manifest, or None
    while folds are missing. A model of one ensemble per lead set (``config.per_set``) is
    ``_train_per_set``: then the returned manifest is ``lead_sets.json``'s content.
    """
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    if config.per_set:
        return _train_per_set(data_dir, model_dir, config, cache_root, assign, only_folds)
    model_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    deadline = started + config.time_limit_hours * 3600 if config.time_limit_hours > 0 else None
    threads = set_threads(config.threads)
    device = choose_device()
    start_distributed(device)
    log.info("training on %s with %d threads; configuration:\n%s", device, threads, config.describe())
    with rank_zero_first():  # rank 0 builds the cache, the others then open it
        cache, usable = _read_training_data(data_dir, model_dir, config, Path(cache_root) if cache_root is not None else model_dir / WORK_DIR / "cache")
    names = [str(n) for n in cache.names[usable]]
    assignment = (make_folds(names, cache.labels[usable], n_folds=config.n_folds, seed=config.seed) if assign is None
                  else np.asarray(assign(names, np.asarray(cache.labels[usable], dtype=bool)), dtype=np.int64))
    chosen = range(config.n_folds) if only_folds is None else only_folds
    to_train = [k for k in chosen if _finished_fold(model_dir, k, config, cache.fingerprint) is None]
    if is_main_process():
        write_plan(model_dir, config, {"fingerprint": cache.fingerprint, "records": int(len(cache)), "labelled_records": int(len(usable)),
                                       "unreadable_records": len(cache.bad_records),
                                       "fold_assignment": dict(zip(names, map(int, assignment)))})
        if to_train:
            _remove_stale_manifest(model_dir, to_train)
    for i, k in enumerate(to_train):
        log.info("fold %d: training (%s)", k, check_fold(model_dir, k, config, cache.fingerprint)[1])
        fold_deadline = None if deadline is None else time.time() + max(0.0, deadline - time.time()) / (len(to_train) - i)
        _train_and_save_fold(cache, usable[assignment != k], usable[assignment == k], model_dir, k, config, fold_deadline, device)
    fingerprint = cache.fingerprint
    del cache
    with rank_zero_first():  # rank 0 writes the manifest, the other ranks then read it back
        missing = unfinished_folds(model_dir, config, fingerprint) if only_folds is not None else []
        if missing:
            log.warning("%s: fold(s) %s trained; no manifest yet (%s). Once every fold is, run `python -m ecgnet assemble %s`",
                        model_dir, ", ".join(map(str, chosen)), "; ".join(missing), model_dir)
            return None
        if not is_main_process():
            return load_manifest(model_dir, check_weights=False)
        return assemble(model_dir, time.time() - started if only_folds is None else None, remove_work=cache_root is None,
                        device=str(device), threads=threads)


def _train_per_set(data_dir: Path, model_dir: Path, config: Config, cache_root: str | Path | None,
                   assign: Callable[[list[str], np.ndarray], np.ndarray] | None, only_folds: tuple[int, ...] | None) -> dict | None:
    """``lead_sets.json``, then ``train_ensemble`` of every lead set's ensemble (``config.member``) into its own model
    directory (``fileio.lead_set_dir``), one after the other on one record cache; the list's content, or None while any set
    is unfinished (folds trained by separate runs: ``assemble`` then finds the sets in the list)."""
    with rank_zero_first():
        if is_main_process():
            model_dir.mkdir(parents=True, exist_ok=True)
            write_lead_set_models(model_dir, config)
    shared_cache = Path(cache_root) if cache_root is not None else model_dir / WORK_DIR / "cache"
    manifests = [train_ensemble(data_dir, fileio.lead_set_dir(model_dir, leads), config.member(leads), shared_cache, assign, only_folds)
                 for leads in config.trained_lead_sets]
    if any(manifest is None for manifest in manifests):
        return None
    with rank_zero_first():  # the other ranks wait there, past their reads of the cache, while rank 0 removes it
        if cache_root is None and is_main_process():
            shutil.rmtree(model_dir / WORK_DIR, ignore_errors=True)
    return json.loads((model_dir / LEAD_SET_MODELS).read_text())


def for_2021(config: Config) -> Config:
    """``config`` for the 2021 challenge: its classes, and, when ``config`` names no lead sets, the 2021 lead sets in one
    network given S times the epochs and learning-rate milestones (S = 5 sets): so trained, it scored as well as one
    network per set on every set at the same training time (bench/RESULTS.md, "Lead sets")."""
    config = config.replace(challenge="2021")
    if config.lead_presence:
        return config
    sets = len(parse_lead_sets("2021"))
    return config.replace(lead_sets="2021", lead_networks="one", epochs=config.epochs * sets,
                          lr_milestones=tuple(m * sets for m in config.lr_milestones))


def train_from_environment(data_dir: str | Path, model_dir: str | Path, challenge: str | None = None) -> dict | None:
    """``train_ensemble`` with the configuration ``$ECGNET_CONFIG`` names, the folds ``$ECGNET_FOLDS`` names (all when unset)
    and the record cache in ``$ECGNET_CACHE_DIR`` (kept there, so that later trainings on the same data, in any model
    directory, reuse it; unset: ``MODEL_DIR/work``, removed when training ends).

    What ``train_model.py`` and the contracts' training functions run; raises ``ConfigError``
    for a bad ``$ECGNET_CONFIG`` or ``$ECGNET_FOLDS``. ``challenge="2021"`` (the 2021
    contract's ``training_code``) trains the 2021 classes, and, unless the configuration
    names its own lead sets, one network for the 2021 lead sets trained for the epochs (and
    learning-rate milestones) of one network per set: the configuration's times five
    (``for_2021``).
    """
    config = load_config()
    if challenge == "2021":
        config = for_2021(config)
    return train_ensemble(data_dir, model_dir, config, cache_root=os.environ.get(CACHE_ENV_VAR, "").strip() or None,
                          only_folds=folds_from_environment(config))
