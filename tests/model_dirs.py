"""One writer of small model directories for tests: randomly initialised fold models with a valid manifest."""
from __future__ import annotations

from pathlib import Path

import torch

from ecgnet.config import PRESETS, Config
from ecgnet.model import SEResNet
from ecgnet.modeldir import build_manifest, save_weights, weights_name, write_manifest


def random_model_dir(out: Path, folds: int = 3, config: Config = PRESETS["smoke"], threshold: float = 0.5) -> Path:
    """``out`` as a model directory of ``folds`` untrained ``config`` networks (fold k seeded with k), thresholds ``threshold``."""
    entries = []
    for k in range(folds):
        torch.manual_seed(k)
        digest = save_weights(out / weights_name(k), SEResNet(config.network).state_dict())
        entries.append({"fold": k, "weights": weights_name(k), "sha256": digest, "thresholds": [threshold] * 24})
    write_manifest(out, build_manifest(config, entries, {"fingerprint": "x"}, seed=0))
    return out
