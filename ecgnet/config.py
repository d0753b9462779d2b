"""Training and model settings as one plain dataclass, with named presets.

The official entry point (``train_model.py TRAINING_DIR MODEL_DIR``) takes no options,
so the configuration is chosen by the environment variable ``ECGNET_CONFIG``:

- unset or ``default``: the seed's recipe (full SE-ResNet-18, 50 epochs, batch 64, ...);
- ``smoke``: a tiny model that trains the whole 5-fold ensemble on ~150 records in a
  few minutes on 2 cores (tests and harness checks; its scores mean nothing);
- ``demo``: a small model for ``python -m ecgnet demo`` (a few minutes on 2 cores);
- ``cpu``: the full-size model with a budget of about an hour on 2 cores for ~1,000
  records (few epochs, a 1-hour time limit);
- a path to a JSON file: its keys override the ``default`` preset (or the preset named
  by its optional ``"preset"`` key).

The configuration used is recorded in the model directory's manifest.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

ENV_VAR = "ECGNET_CONFIG"


@dataclass(frozen=True)
class Config:
    # Model (defaults: the seed's SE-ResNet-18).
    width: int = 64
    blocks: tuple[int, ...] = (2, 2, 2, 2)
    kernel: int = 7
    stem_kernel: int = 15
    dropout: float = 0.2
    se_reduction: int = 16
    # Preprocessing: 257 Hz, 4096-sample windows, 256-sample overlap at inference.
    fs: int = 257
    window: int = 4096
    overlap: int = 256
    gain_policy: str = "auto"
    # Optimisation (the seed's): BCE with logits, Adam, step decay.
    epochs: int = 50
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-5
    lr_milestones: tuple[int, ...] = (20, 40)
    lr_gamma: float = 0.1
    # Folds: n_folds ensemble members; each carves 1/inner_folds of its training records
    # out as the inner validation split (checkpoint choice and thresholds).
    n_folds: int = 5
    inner_folds: int = 8
    threshold_passes: int = 1
    seed: int = 0
    # Compute: threads 0 = every core; time limit 0 = none (hours, whole ensemble).
    threads: int = 0
    workers: int = 0
    time_limit_hours: float = 0.0
    inference_batch: int = 64
    # Inference precision on the CPU: "fp32" or "bf16" (autocast; checked in bench).
    cpu_precision: str = "fp32"

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["blocks"] = list(self.blocks)
        data["lr_milestones"] = list(self.lr_milestones)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown configuration keys: {', '.join(unknown)} (known: {', '.join(sorted(names))})")
        values = dict(data)
        for key in ("blocks", "lr_milestones"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, Config] = {
    "default": Config(),
    "smoke": Config(
        width=8, blocks=(1, 1, 1, 1), kernel=5, stem_kernel=7, window=1024, overlap=128,
        epochs=8, batch_size=32, lr_milestones=(6,), inner_folds=5, inference_batch=32,
    ),
    # The demo: a small model that learns the synthetic classes in a few minutes on 2 cores.
    "demo": Config(
        width=16, blocks=(1, 1, 1, 1), kernel=7, stem_kernel=15, window=2048, overlap=256,
        epochs=22, batch_size=32, lr_milestones=(17,), inner_folds=6, inference_batch=64,
    ),
    "cpu": Config(epochs=15, lr_milestones=(10,), time_limit_hours=1.0, batch_size=32),
}


def load_config(spec: str | None = None) -> Config:
    """The configuration named by ``spec`` (or ``$ECGNET_CONFIG``; ``default`` when unset)."""
    spec = spec if spec is not None else os.environ.get(ENV_VAR, "")
    spec = spec.strip() or "default"
    if spec in PRESETS:
        return PRESETS[spec]
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"configuration {spec!r} (--config or ${ENV_VAR}) is neither a preset ({', '.join(PRESETS)}) nor a JSON file")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ConfigError(f"{path}: not a readable JSON configuration ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a configuration must be a JSON object")
    base = data.pop("preset", "default")
    if base not in PRESETS:
        raise ConfigError(f"{path}: unknown preset {base!r}")
    try:
        return Config.from_dict({**PRESETS[base].to_dict(), **data})
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{path}: {error}") from None
