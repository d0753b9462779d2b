"""The self-describing model directory (``manifest.json`` plus one weights file per fold), and building it from folds.

Its files and layout are named and described in one place, ``fileio.py``.

Every file is written atomically (temporary file, then rename), so a crash leaves the
old file or the new one, never half of one. ``load_manifest`` checks everything a
prediction depends on before any weights are used: the format version, the class list
(that of the class set its configuration names, ``config.Config.challenge``: 2020's 24
classes in a manifest from before the key), the preprocessing settings and, for every
fold, that its weights file exists and has the SHA-256 the manifest records. Any failure raises ``ModelDirError`` naming the file, what
is wrong and what to do.

Folds trained apart (``python -m ecgnet assemble MODEL_DIR``): folds can be spread over GPUs
or machines sharing a file system, each process training only its folds into the same
model directory (``ECGNET_FOLDS=0,2 python train_model.py DATA MODEL`` or ``python -m
ecgnet cv DATA --only-folds 0,2``). Every run first writes ``folds/plan.json`` (the full
configuration, the training data's fingerprint, record counts and the fold assignment,
all fixed by the data and the config), and each finished fold leaves
``folds/fold_K/result.json`` beside ``fold_K.pt``. ``manifest.json`` is written only once
every fold of the plan is finished, by the run that finishes last or by the ``assemble``
command, so a model directory never claims folds it lacks.

``assemble`` checks that each fold has its result and weights (SHA-256 as recorded) and was
trained with the plan's configuration on the plan's data, then writes the manifest that one
process training every fold would write: the same fold entries, thresholds and checksums
for the same seed, device and thread count. ``data.training_seconds`` is then the sum of
the folds' own training times; ``data.device`` and ``data.threads`` list every value the
folds were trained with. Any problem raises ``ModelDirError`` naming the folds and the fix.

One ensemble per lead set (``config.Config.per_set``): the model directory holds one model
directory per lead set (``fileio.lead_set_dir``: ``leads_12``, ``leads_6``, ...), each
complete as above, and ``lead_sets.json`` (``write_lead_set_models``): the configuration and
each set's directory, written before the sets are trained, so that ``assemble MODEL_DIR``
finds the sets whose folds separate runs trained; the model loads once every set has its
manifest.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
from pathlib import Path

import numpy as np
import torch

from ecgnet import __version__, fileio
from ecgnet.config import INPUT_KEYS, LEVERS_OFF, Config
from ecgnet.errors import ConfigError, ModelDirError
from ecgnet.fileio import (
    FOLD_RESULT,
    LEAD_SET_MODELS,
    MANIFEST,
    TRAINING_STATE,
    WORK_DIR,
    atomic_write_bytes,
    atomic_write_text,
    lead_set_dir,
    read_lead_set_list,
)
from ecgnet.signal import TARGET_FS

FORMAT_VERSION = 1

RETRAIN = "retrain with `python train_model.py TRAINING_DIR MODEL_DIR`"
FOLDS_ENV_VAR = "ECGNET_FOLDS"
# What result.json holds beyond the fold's manifest entry: the reuse checks' inputs and where it ran.
RECORD_ONLY = ("config", "fingerprint", "device", "threads", "seconds")


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
    """The manifest's content; ``folds`` items hold fold, weights, sha256, thresholds (C), seed, ..."""
    return {
        "format_version": FORMAT_VERSION,
        "classes": list(config.classes.codes),
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


def not_a_model_dir(model_dir: Path) -> str:
    """Why ``model_dir`` (lacking ``manifest.json``) is no model directory, and what to do: check the path,
    or finish the training whose folds it holds. ``model_dir`` may not exist."""
    made_by = "the folder `python train_model.py TRAINING_DIR MODEL_DIR`, `python -m ecgnet cv` or `demo` writes"
    if not model_dir.exists():
        return f"{model_dir}: no such directory; check the path (a model directory is {made_by})"
    if not model_dir.is_dir():
        return f"{model_dir}: a file, not a model directory ({made_by}); check the path"
    path = model_dir / MANIFEST
    if (model_dir / fileio.FOLDS_DIR).is_dir():
        finished = sorted(int(p.parent.name.removeprefix("fold_")) for p in (model_dir / fileio.FOLDS_DIR).glob(f"fold_*/{FOLD_RESULT}")
                          if p.parent.name.removeprefix("fold_").isdigit())
        done = f"fold(s) {', '.join(map(str, finished))} finished" if finished else "no fold finished yet"
        return (f"{path}: missing: the training of {model_dir} is unfinished ({done}). Resume it with the same command "
                f"(`python train_model.py TRAINING_DIR {model_dir}`, or the same `python -m ecgnet cv`/`demo`; finished folds "
                f"are reused), or, when separate runs trained its folds ({FOLDS_ENV_VAR}), `python -m ecgnet assemble {model_dir}`")
    hint = ""
    if (model_dir / LEAD_SET_MODELS).is_file():
        hint = (f"; it holds one model directory per lead set ({LEAD_SET_MODELS}): give one of them, or load the whole with "
                f"ecgnet.inference.ensemble.load_ensemble")
    elif (model_dir / "model" / MANIFEST).is_file():  # e.g. runs/demo given for runs/demo/model
        hint = f"; did you mean {model_dir / 'model'}?"
    elif next(model_dir.glob("*.hea"), None) is not None:
        hint = "; it holds records (.hea): is it the data directory, given in the model directory's place?"
    return f"{path}: missing, so {model_dir} is not a model directory ({made_by}); check the path{hint}"


def load_manifest(model_dir: str | Path, check_weights: bool = True) -> dict:
    """Read and validate ``MODEL_DIR/manifest.json`` (and the weights' checksums); returns the manifest (a dict).

    Raises ``ModelDirError`` naming the file and the problem: for a path that is no model
    directory (missing, no ``manifest.json``) what is wrong with the path, or that its
    training is unfinished; for a stale or damaged one (format, classes, weights) how to
    replace it.
    """
    model_dir = Path(model_dir)
    path = model_dir / MANIFEST
    if not path.is_file():  # a wrong path, not a damaged model: say so rather than "retrain"
        raise ModelDirError(not_a_model_dir(model_dir))
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
    try:
        config = Config.from_dict(manifest["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise ModelDirError(f"{path}: malformed manifest ({error}); {RETRAIN}") from None
    codes = list(config.classes.codes)
    if manifest.get("classes") != codes:
        raise ModelDirError(f"{path}: its class list differs from this ecgnet's {len(codes)} classes of the {config.challenge} "
                            f"challenge (ecgnet/challenge/tables/{config.challenge}/weights.csv); {RETRAIN}")
    try:
        folds = manifest["folds"]
        if manifest.get("preprocessing") != preprocessing(config):
            raise ValueError("preprocessing settings disagree with the config")
        if not folds:
            raise ValueError("no folds")
        for fold in folds:
            missing = [key for key in ("fold", "weights", "sha256", "thresholds") if key not in fold]
            if missing:
                raise ValueError(f"a fold entry lacks {', '.join(missing)}")
            if len(fold["thresholds"]) != len(codes):
                raise ValueError(f"fold {fold['fold']} has {len(fold['thresholds'])} thresholds, not {len(codes)}")
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


def write_lead_set_models(model_dir: str | Path, config: Config) -> dict:
    """Write ``MODEL_DIR/lead_sets.json`` for a model of one ensemble per lead set (``config.per_set``); returns its content.

    Written before the sets' model directories (``fileio.lead_set_dir``) are trained; ``read_lead_set_models`` checks that
    each has its manifest.
    """
    content = {"format_version": FORMAT_VERSION, "config": config.to_dict(),
               "lead_sets": [{"leads": list(leads), "dir": lead_set_dir(model_dir, leads).name} for leads in config.trained_lead_sets]}
    atomic_write_text(Path(model_dir) / LEAD_SET_MODELS, json.dumps(content, indent=2) + "\n")
    return content


def read_lead_set_models(model_dir: str | Path) -> tuple[Config, dict[tuple[str, ...], Path]]:
    """(the configuration, each lead set's model directory) of ``MODEL_DIR/lead_sets.json``, every one with its manifest.

    Raises ``ModelDirError`` naming the file when it is unreadable, of another format, or names a directory without a manifest.
    """
    path = Path(model_dir) / LEAD_SET_MODELS
    try:
        content, members = read_lead_set_list(model_dir)
        config = Config.from_dict(content["config"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelDirError(f"{path}: unreadable ({error}); {RETRAIN}") from None
    if content.get("format_version") != FORMAT_VERSION or set(members) != set(config.trained_lead_sets):
        raise ModelDirError(f"{path}: not this ecgnet's list of its lead sets' models; {RETRAIN}")
    missing = [str(folder) for folder in members.values() if not (folder / MANIFEST).is_file()]
    if missing:
        raise ModelDirError(f"{path}: the model directories of {', '.join(missing)} have no {MANIFEST}: their training is "
                            f"unfinished. Resume it with the same command (`python train_model.py TRAINING_DIR {model_dir}`; "
                            f"finished folds are reused), or, when separate runs trained the folds ({FOLDS_ENV_VAR}), "
                            f"`python -m ecgnet assemble {model_dir}`")
    return config, members


def load_weights(model_dir: str | Path, fold: dict) -> dict:
    """The state dict of one fold (already checksum-verified by ``load_manifest``)."""
    path = Path(model_dir) / fold["weights"]
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a damaged file
        raise ModelDirError(f"{path}: unreadable weights ({error}); {RETRAIN}") from None


# --- one model directory from folds trained by separate runs (python -m ecgnet assemble) ---


def parse_folds(text: str, n_folds: int, source: str) -> tuple[int, ...]:
    """Fold numbers from ``"0,2"`` (sorted, each once); ``ConfigError`` naming ``source`` when not folds 0..n_folds-1."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts) or not all(int(part) < n_folds for part in parts):
        raise ConfigError(f"{source}={text!r}: expected comma-separated fold numbers from 0 to {n_folds - 1}, e.g. 0,2")
    return tuple(sorted({int(part) for part in parts}))


def folds_from_environment(config: Config) -> tuple[int, ...] | None:
    """The folds ``$ECGNET_FOLDS`` chooses for ``train_model.py`` (None: unset, every fold)."""
    text = os.environ.get(FOLDS_ENV_VAR, "").strip()
    return parse_folds(text, config.n_folds, FOLDS_ENV_VAR) if text else None


def write_plan(model_dir: Path, config: Config, data: dict) -> None:
    """Write ``folds/plan.json``: ``config`` in full and ``data`` (fingerprint, counts, fold_assignment)."""
    path = fileio.plan_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps({"config": config.to_dict(), "data": data}, indent=2) + "\n")


def read_plan(model_dir: Path) -> tuple[Config, dict]:
    """(config, data) of ``folds/plan.json``; ``ModelDirError`` naming the file when absent or unreadable."""
    path = fileio.plan_path(model_dir)
    if not path.is_file():
        raise ModelDirError(f"{path}: missing, so no fold of {model_dir} was trained by this ecgnet; "
                            f"train the folds first (python train_model.py TRAINING_DIR {model_dir})")
    try:
        plan = json.loads(path.read_text())
        return Config.from_dict(plan["config"]), plan["data"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelDirError(f"{path}: unreadable fold plan ({error}); train the folds again") from None


def check_fold(model_dir: Path, k: int, config: Config, fingerprint: str) -> tuple[dict | None, str | None]:
    """(fold ``k``'s result.json record, None) when it is finished with ``config`` on ``fingerprint``, else (None, why not)."""
    folder = fileio.fold_dir(model_dir, k)
    result_path, weights = folder / FOLD_RESULT, Path(model_dir) / weights_name(k)
    if not result_path.is_file():
        started = (folder / TRAINING_STATE).exists()
        return None, f"fold {k} is unfinished: its training state {folder / TRAINING_STATE} is resumed" if started else f"fold {k} is not trained yet"
    try:
        record = json.loads(result_path.read_text())
        trained_with = Config.from_dict(record["config"]).training_identity()
    except (OSError, ValueError, KeyError, TypeError) as error:
        return None, f"fold {k}: {result_path} is unreadable or from another version ({error})"
    if not weights.is_file() or sha256_file(weights) != record.get("sha256"):
        return None, f"fold {k}: {weights} is missing or differs from the checksum in {result_path}"
    if trained_with != config.training_identity():
        return None, f"fold {k} was trained with another configuration than {fileio.plan_path(model_dir)}"
    if record.get("fingerprint") != fingerprint:
        return None, f"fold {k} was trained on other data than {fileio.plan_path(model_dir)} (another data fingerprint)"
    return record, None


def manifest_entry(record: dict) -> dict:
    """A fold's manifest entry: its result.json record without the reuse checks' inputs."""
    return {key: value for key, value in record.items() if key not in RECORD_ONLY}


def _one_or_all(values: list) -> object:
    """The single value when every fold agrees, else all of them joined ("cuda:0, cuda:1")."""
    unique = sorted(set(values), key=str)
    return unique[0] if len(unique) == 1 else ", ".join(str(v) for v in unique)


def unfinished_folds(model_dir: Path, config: Config, fingerprint: str) -> list[str]:
    """Why each fold of ``config`` is not ready for the manifest (empty when all are)."""
    return [why for k in range(config.n_folds) if (why := check_fold(model_dir, k, config, fingerprint)[1])]


def assemble(model_dir: str | Path, training_seconds: float | None = None, remove_work: bool = True,
             device: str = "unknown", threads: int | str = "unknown") -> dict:
    """Check every fold of the plan and write ``manifest.json``; returns the manifest.

    ``training_seconds`` (wall, s) defaults to the sum of the folds' own times; ``device``
    and ``threads`` stand in for folds whose result predates their recording. With
    ``remove_work``, the training record cache (``MODEL_DIR/work``) goes once the manifest is written.
    """
    model_dir = Path(model_dir)
    config, data = read_plan(model_dir)
    checked = [check_fold(model_dir, k, config, data["fingerprint"]) for k in range(config.n_folds)]
    failed = [str(k) for k, (_, why) in enumerate(checked) if why]
    if failed:
        raise ModelDirError(f"{model_dir}: cannot assemble its {config.n_folds} folds: {'; '.join(why for _, why in checked if why)}. "
                            f"Train those folds on the same data with the same configuration ({FOLDS_ENV_VAR}={','.join(failed)} "
                            f"python train_model.py TRAINING_DIR {model_dir}), then assemble again")
    records = [record for record, _ in checked]
    seconds = training_seconds if training_seconds is not None else sum(r.get("seconds", 0.0) for r in records)
    data = {**data, "training_seconds": round(seconds, 1), "device": _one_or_all([r.get("device", device) for r in records]),
            "threads": _one_or_all([r.get("threads", threads) for r in records])}
    manifest = build_manifest(config, [manifest_entry(r) for r in records], data, config.seed)
    write_manifest(model_dir, manifest)
    if remove_work:
        shutil.rmtree(model_dir / WORK_DIR, ignore_errors=True)
    return manifest


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``assemble`` sub-command's argument: the model directory whose folds were trained apart."""
    parser.add_argument("model_dir", type=Path, help="model directory whose folds were trained by separate runs")


def run(args: argparse.Namespace) -> int:
    """``python -m ecgnet assemble``: check every fold and write ``manifest.json`` (each lead set's, for a model of one
    ensemble per set); exit 0."""
    if (args.model_dir / LEAD_SET_MODELS).is_file():
        try:
            folders = list(read_lead_set_list(args.model_dir)[1].values())
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ModelDirError(f"{args.model_dir / LEAD_SET_MODELS}: unreadable ({error}); {RETRAIN}") from None
    else:
        folders = [args.model_dir]
    for folder in folders:
        manifest = assemble(folder)
        print(f"{folder / MANIFEST}: {len(manifest['folds'])} folds assembled "
              f"(trained on {manifest['data']['device']}, {manifest['data']['labelled_records']} labelled records)")
    if len(folders) > 1:
        read_lead_set_models(args.model_dir)  # every set's manifest in place
    return 0
