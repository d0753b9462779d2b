"""The self-describing model directory: ``manifest.json`` plus one weights file per fold.

Layout (what ``train.train_ensemble`` writes; the fold folders are named in ``results.py``,
which ``report`` reads without importing torch, every other path here)::

    MODEL_DIR/
      manifest.json          format version, classes, preprocessing, config, folds, seeds,
                             training-data fingerprint, package versions
      fold_K.pt              the state dict of fold model K (torch.save, weights only)
      bad_records.csv        file,reason of each unreadable record (absent when none)
      folds/plan.json        config, data fingerprint and fold assignment every fold shares
      folds/fold_K/
        epochs.csv           fold K's epoch log (epoch, loss, inner_val_score, lr, seconds)
        result.json          fold K's manifest entry, its config and data fingerprint (reuse check)
        state.pt             the resumable training state; removed once fold K is finished
      work/                  the record cache while training (removed at the end)

A cross-validation results directory is a model directory plus the files of ``results.py``.

Every file is written atomically (temporary file, then rename), so a crash leaves the
old file or the new one, never half of one. ``load_manifest`` checks everything a
prediction depends on before any weights are used: the format version, the class list,
the preprocessing settings and, for every fold, that its weights file exists and has the
SHA-256 the manifest records. Any failure raises ``ModelDirError`` naming the file, what
is wrong and what to do.
"""
from __future__ import annotations

import hashlib
import io
import json
import platform
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .classes import CLASSES
from .config import INPUT_KEYS, LEVERS_OFF, Config
from .errors import ModelDirError
from .fileio import atomic_write_bytes, atomic_write_text
from .results import MANIFEST
from .signal import TARGET_FS

FORMAT_VERSION = 1
WORK_DIR = "work"
RETRAIN = "retrain with `python train_model.py TRAINING_DIR MODEL_DIR`"


def weights_name(fold: int) -> str:
    """File name (inside MODEL_DIR) of fold model ``fold``'s weights."""
    return f"fold_{fold}.pt"


def sha256_file(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_torch(path: Path, obj: dict) -> str:
    """``torch.save`` atomically (a kill leaves the old file or the new one); returns the file's SHA-256."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def save_weights(path: Path, state_dict: dict) -> str:
    """Write a state dict (moved to the CPU) atomically; returns its SHA-256."""
    return save_torch(path, {k: v.detach().cpu() for k, v in state_dict.items()})


def package_versions() -> dict[str, str]:
    """Versions of ecgnet, Python, torch and numpy, as recorded in the manifest."""
    return {"ecgnet": __version__, "python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}


def preprocessing(config: Config) -> dict:
    """What the windows fed to the network depend on: rate (Hz), window and overlap (samples), gain policy,
    and the input levers that are on (``config.INPUT_KEYS``; off ones are left out, as manifests before them)."""
    on = {key: getattr(config, key) for key in INPUT_KEYS if getattr(config, key) != LEVERS_OFF[key]}
    return {"fs": TARGET_FS, "window": config.window, "overlap": config.overlap, "gain_policy": config.gain_policy, **on}


def build_manifest(config: Config, folds: list[dict], data: dict, seed: int) -> dict:
    """The manifest's content; ``folds`` items hold fold, weights, sha256, thresholds (24), seed, ..."""
    return {
        "format_version": FORMAT_VERSION,
        "classes": list(CLASSES),
        "preprocessing": preprocessing(config),
        "config": config.to_dict(),
        "seed": seed,
        "folds": folds,
        "data": data,
        "versions": package_versions(),
    }


def write_manifest(model_dir: Path, manifest: dict) -> None:
    """Write ``MODEL_DIR/manifest.json`` atomically (indented JSON)."""
    atomic_write_text(Path(model_dir) / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def load_manifest(model_dir: str | Path, check_weights: bool = True) -> dict:
    """Read and validate ``MODEL_DIR/manifest.json`` (and the weights' checksums)."""
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: no such model directory; {RETRAIN}")
    if not path.is_file():
        raise ModelDirError(f"{path}: missing, so {model_dir} is not a trained model directory (or training did not finish); {RETRAIN}")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelDirError(f"{path}: unreadable ({error}); {RETRAIN}") from None
    if not isinstance(manifest, dict):
        raise ModelDirError(f"{path}: not a manifest object; {RETRAIN}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelDirError(f"{path}: format version {version!r}, but this ecgnet reads version {FORMAT_VERSION}; "
                            f"use the ecgnet release that wrote it or {RETRAIN}")
    if manifest.get("classes") != list(CLASSES):
        raise ModelDirError(f"{path}: its class list differs from this ecgnet's 24 classes (weights.csv); {RETRAIN}")
    try:
        config = Config.from_dict(manifest["config"])
        folds = manifest["folds"]
        if manifest.get("preprocessing") != preprocessing(config):
            raise ValueError("preprocessing settings disagree with the config")
        if not folds:
            raise ValueError("no folds")
        for fold in folds:
            missing = [key for key in ("fold", "weights", "sha256", "thresholds") if key not in fold]
            if missing:
                raise ValueError(f"a fold entry lacks {', '.join(missing)}")
            if len(fold["thresholds"]) != len(CLASSES):
                raise ValueError(f"fold {fold['fold']} has {len(fold['thresholds'])} thresholds, not {len(CLASSES)}")
    except (KeyError, TypeError, ValueError) as error:
        raise ModelDirError(f"{path}: malformed manifest ({error}); {RETRAIN}") from None
    if check_weights:
        for fold in folds:
            weights = model_dir / fold["weights"]
            if not weights.is_file():
                raise ModelDirError(f"{weights}: weights of fold {fold['fold']} are missing; copy the whole model directory again or {RETRAIN}")
            if sha256_file(weights) != fold["sha256"]:
                raise ModelDirError(f"{weights}: checksum differs from the manifest (truncated, corrupted or replaced); "
                                    f"copy the whole model directory again or {RETRAIN}")
    return manifest


def load_weights(model_dir: str | Path, fold: dict) -> dict:
    """The state dict of one fold (already checksum-verified by ``load_manifest``)."""
    path = Path(model_dir) / fold["weights"]
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise ModelDirError(f"{path}: unreadable weights ({error}); {RETRAIN}") from None
