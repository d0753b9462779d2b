"""Training: one fold model (``train_fold``) and the whole 5-fold ensemble (``train_ensemble``).

The seed's recipe (``config.Config`` defaults): BCE with logits, Adam (lr 3e-3, weight
decay 1e-5), lr x0.1 at epochs 20 and 40, 50 epochs, batch 64, random 4096-sample crops
at 257 Hz. Unlike the seed, a fold never looks at its held-out records: ``inner_split``
carves a stratified inner validation split out of the fold's training records, and
both the checkpoint choice (best inner-validation challenge score, labels = probability
>= 0.5 plus the top class) and the thresholds (``thresholds.search_thresholds``) come
from it, so held-out scores stay honest.

Reproducible and resumable: the data order, the crops and the dropout masks of epoch
``e`` depend only on (seed, fold, e), and after every epoch ``FOLD_DIR/state.pt`` (model,
optimiser, scheduler, scaler, best checkpoint, epoch log) is written atomically. A run
killed at any moment and restarted continues from the last complete epoch and ends with
the same weights as an uninterrupted run (same device and thread count).

Each epoch is logged to ``FOLD_DIR/epochs.csv`` (epoch, loss, inner_val_score, lr,
seconds) and shown by a progress bar. A deadline (from ``config.time_limit_hours``)
stops training cleanly, keeping the best checkpoint so far (at least one epoch runs).

API: ``inner_split``, ``train_fold(cache, train_idx, val_idx, config, fold_dir, seed, fold)
-> FoldResult``, ``train_ensemble(data_dir, model_dir, config) -> manifest``.
"""
from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .cache import Cache, build_cache
from .config import Config
from .device import choose_device, make_deterministic, set_threads
from .ensemble import predict_probabilities
from .errors import TooFewRecordsError
from .fileio import atomic_write_text
from .folds import make_folds
from .metrics import challenge_metric
from .model import build_model
from .modeldir import build_manifest, save_torch, save_weights, sha256_file, weights_name, write_manifest
from .progress import is_quiet, progress
from .signal import random_crop_or_pad
from .thresholds import apply_thresholds, search_thresholds

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
LOG_FILE = "epochs.csv"
RESULT_FILE = "result.json"
LOG_COLUMNS = ("epoch", "loss", "inner_val_score", "lr", "seconds")
CHECKPOINT_THRESHOLD = 0.5


@dataclass
class FoldResult:
    """A trained fold: its best weights, thresholds and how it got there."""

    fold: int
    state_dict: dict
    thresholds: np.ndarray  # (24,)
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


def _batches(cache: Cache, fit_idx: np.ndarray, config: Config, rng: np.random.Generator):
    order = rng.permutation(fit_idx)
    for start in range(0, len(order), config.batch_size):
        idx = np.sort(order[start:start + config.batch_size])
        signals = np.stack([random_crop_or_pad(cache.signal(int(i)), config.window, rng) for i in idx])
        yield (torch.from_numpy(signals), torch.from_numpy(np.asarray(cache.demographics[idx], dtype=np.float32)),
               torch.from_numpy(np.asarray(cache.labels[idx], dtype=np.float32)))


def _write_log(path: Path, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=LOG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _inner_score(model: nn.Module, cache: Cache, val_idx: np.ndarray, config: Config, device: torch.device) -> tuple[float, np.ndarray]:
    probabilities = predict_probabilities([model], cache, config, indices=val_idx, device=device)
    outputs = apply_thresholds(probabilities, CHECKPOINT_THRESHOLD)
    return challenge_metric(cache.labels[val_idx], outputs), probabilities


def train_fold(cache: Cache, train_idx: np.ndarray, val_idx: np.ndarray, config: Config, fold_dir: str | Path,
               seed: int, fold: int = 0, deadline: float | None = None, device: torch.device | None = None) -> FoldResult:
    """Train one fold model on ``train_idx``, choosing the checkpoint and thresholds on ``val_idx``.

    ``val_idx`` is the inner validation split (``inner_split``), never the held-out fold.
    ``deadline`` is a ``time.time()`` value after which training stops cleanly.
    """
    fold_dir = Path(fold_dir)
    fold_dir.mkdir(parents=True, exist_ok=True)
    set_threads(config.threads)
    device = device or choose_device()
    make_deterministic(device)
    train_idx, val_idx = np.asarray(train_idx), np.asarray(val_idx)
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise TooFewRecordsError(f"fold {fold}: {len(train_idx)} training and {len(val_idx)} inner-validation records; both must be non-empty")

    torch.manual_seed(derive_seed(seed, fold, 0, 1))
    model = build_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.lr_milestones), gamma=config.lr_gamma)
    use_amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    loss_fn = nn.BCEWithLogitsLoss()
    identity = {"config": config.training_identity(), "seed": seed, "fold": fold,
                "train": sha256_of(train_idx), "val": sha256_of(val_idx), "fingerprint": cache.fingerprint}

    start_epoch, rows, best = 0, [], {"score": -np.inf, "epoch": 0, "state": None}
    state_path = fold_dir / STATE_FILE
    if state_path.exists():
        state = torch.load(state_path, map_location=device, weights_only=True)
        if state["identity"] == identity:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            if state["scaler"]:  # empty when the fold began on the CPU, where the scaler is disabled
                scaler.load_state_dict(state["scaler"])
            start_epoch, rows, best = state["epoch"], state["rows"], state["best"]
            log.info("fold %d: resuming after epoch %d of %d", fold, start_epoch, config.epochs)
        else:
            log.warning("%s: from another run (config, seed or data differ); starting fold %d afresh", state_path, fold)

    stopped = False
    for epoch in range(start_epoch, config.epochs):
        began = time.time()
        torch.manual_seed(derive_seed(seed, fold, epoch + 1, 2))
        rng = np.random.default_rng(derive_seed(seed, fold, epoch + 1, 3))
        model.train()
        total, seen = 0.0, 0
        bar = progress(_batches(cache, train_idx, config, rng), desc=f"fold {fold} epoch {epoch + 1}/{config.epochs}",
                       total=-(-len(train_idx) // config.batch_size), unit="batch")
        for signals, demo, targets in bar:
            signals, demo, targets = signals.to(device), demo.to(device), targets.to(device)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(model(signals, demo).float(), targets)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            total += loss.item() * len(targets)
            seen += len(targets)
            if deadline is not None and time.time() > deadline and best["state"] is not None:
                stopped = True
                break
        if stopped:
            log.warning("fold %d: time limit reached during epoch %d; keeping the best checkpoint (epoch %d)", fold, epoch + 1, best["epoch"])
            break
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        score, _ = _inner_score(model, cache, val_idx, config, device)
        if score > best["score"] or best["state"] is None:
            best = {"score": score, "epoch": epoch + 1, "state": copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()})}
        rows.append({"epoch": epoch + 1, "loss": f"{total / max(seen, 1):.6f}", "inner_val_score": f"{score:.6f}",
                     "lr": f"{lr:.3g}", "seconds": f"{time.time() - began:.1f}"})
        save_torch(state_path, {"identity": identity, "epoch": epoch + 1, "model": model.state_dict(),
                                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                 "scaler": scaler.state_dict(), "rows": rows, "best": best})
        _write_log(fold_dir / LOG_FILE, rows)
        if not is_quiet():
            log.info("fold %d epoch %d: loss %s, inner-val score %s", fold, epoch + 1, rows[-1]["loss"], rows[-1]["inner_val_score"])
        if deadline is not None and time.time() > deadline and epoch + 1 < config.epochs:
            stopped = True
            log.warning("fold %d: time limit reached after epoch %d; keeping the best checkpoint (epoch %d)", fold, epoch + 1, best["epoch"])
            break

    model.load_state_dict(best["state"])
    score, probabilities = _inner_score(model, cache, val_idx, config, device)
    thresholds = search_thresholds(cache.labels[val_idx], probabilities, passes=config.threshold_passes)
    return FoldResult(fold, best["state"], thresholds, best["epoch"], float(best["score"]), len(rows), stopped, rows)


def sha256_of(indices: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(indices, dtype=np.int64).tobytes()).hexdigest()


def labelled_records(cache: Cache) -> np.ndarray:
    """Indices of the records with at least one scored class (the seed trains on these only)."""
    return np.flatnonzero(np.asarray(cache.labels).any(axis=1))


def minimum_records(config: Config) -> int:
    return config.n_folds * config.inner_folds


def train_ensemble(data_dir: str | Path, model_dir: str | Path, config: Config, cache_root: str | Path | None = None) -> dict:
    """Train ``config.n_folds`` fold models on ``data_dir`` and write the model directory.

    Resumable: finished folds (``MODEL_DIR/folds/fold_K/result.json`` + weights) are kept,
    an unfinished one resumes from its last epoch; a fold trained on other data or with
    another configuration is trained again. The record cache lives in ``cache_root``
    when given (and is kept, e.g. for cross-validation), else in ``MODEL_DIR/work``,
    which is removed once the manifest is written. Unreadable records are skipped and
    listed in ``MODEL_DIR/bad_records.csv`` (``file,reason``), each repair (e.g. a gain
    override) in ``MODEL_DIR/warnings.csv`` (``name,warning``); each absent when empty.
    """
    data_dir, model_dir = Path(data_dir), Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    deadline = started + config.time_limit_hours * 3600 if config.time_limit_hours > 0 else None
    threads = set_threads(config.threads)
    device = choose_device()
    log.info("training on %s with %d threads; config %s", device, threads, config)
    work = model_dir / "work"
    # The cache's own lists go when MODEL_DIR/work is removed: MODEL_DIR keeps copies, and the log names those.
    cache = build_cache(data_dir, cache_root if cache_root is not None else work / "cache", gain_policy=config.gain_policy, workers=config.workers or None,
                        progress=not is_quiet(), lists_dir=model_dir)
    usable = labelled_records(cache)
    if len(usable) < minimum_records(config):
        raise TooFewRecordsError(
            f"{data_dir}: {len(usable)} readable records with a scored class ({len(cache)} readable, "
            f"{len(cache.bad_records)} unreadable); {config.n_folds} folds with {config.inner_folds} inner splits "
            f"need at least {minimum_records(config)}")
    assignment = make_folds([str(n) for n in cache.names[usable]], cache.labels[usable], n_folds=config.n_folds, seed=config.seed)

    folds = []
    for k in range(config.n_folds):
        fold_dir = model_dir / "folds" / f"fold_{k}"
        weights = model_dir / weights_name(k)
        result_path = fold_dir / RESULT_FILE
        if result_path.exists() and weights.exists():
            entry = json.loads(result_path.read_text())
            if (entry.get("sha256") == sha256_file(weights) and entry.get("config") == config.training_identity()
                    and entry.get("fingerprint") == cache.fingerprint):
                log.info("fold %d: already trained on the same data and configuration (%s), reused", k, weights)
                folds.append({key: v for key, v in entry.items() if key not in ("config", "fingerprint")})
                continue
            log.info("fold %d: %s was trained on other data or with another configuration; training again", k, weights)
        train_idx, held_out = usable[assignment != k], usable[assignment == k]
        fit_idx, val_idx = inner_split(cache, train_idx, config, config.seed, k)
        fold_deadline = None
        if deadline is not None:
            fold_deadline = time.time() + max(0.0, deadline - time.time()) / (config.n_folds - k)
        result = train_fold(cache, fit_idx, val_idx, config, fold_dir, config.seed, k, fold_deadline, device)
        digest = save_weights(weights, result.state_dict)
        entry = {"fold": k, "weights": weights.name, "sha256": digest, "thresholds": [round(float(t), 2) for t in result.thresholds],
                 "seed": config.seed, "best_epoch": result.best_epoch, "inner_val_score": result.inner_val_score,
                 "epochs_run": result.epochs_run, "stopped_by_time_limit": result.stopped_by_time_limit,
                 "n_fit": int(len(fit_idx)), "n_inner_val": int(len(val_idx)), "nheld_out": int(len(held_out)),
                 "log": str((fold_dir / LOG_FILE).relative_to(model_dir))}
        atomic_write_text(result_path, json.dumps({**entry, "config": config.training_identity(), "fingerprint": cache.fingerprint}, indent=2) + "\n")
        (fold_dir / STATE_FILE).unlink(missing_ok=True)
        folds.append(entry)

    data = {"fingerprint": cache.fingerprint, "records": int(len(cache)), "labelled_records": int(len(usable)),
            "unreadable_records": len(cache.bad_records), "fold_assignment": {str(n): int(f) for n, f in zip(cache.names[usable], assignment)},
            "training_seconds": round(time.time() - started, 1), "device": str(device), "threads": threads}
    manifest = build_manifest(config, folds, data, config.seed)
    write_manifest(model_dir, manifest)
    del cache
    if cache_root is None:
        shutil.rmtree(work, ignore_errors=True)
    return manifest
