"""Test networks and model directories: randomly initialised fold models with a valid manifest, and networks whose
batch norms look trained."""
from __future__ import annotations

from pathlib import Path

import torch

from ecgnet.config import PRESETS, Config, SEResNetConfig
from ecgnet.modeldir import build_manifest, save_weights, weights_name, write_manifest
from ecgnet.network.model import SEResNet, network_for


def random_model_dir(out: Path, folds: int = 3, config: Config = PRESETS["smoke"], threshold: float = 0.5) -> Path:
    """``out`` as a model directory of ``folds`` untrained ``config`` networks (fold k seeded with k), thresholds ``threshold``
    for each of the config's classes."""
    entries = []
    for k in range(folds):
        torch.manual_seed(k)
        digest = save_weights(out / weights_name(k), network_for(config).state_dict())
        entries.append({"fold": k, "weights": weights_name(k), "sha256": digest,
                        "thresholds": [threshold] * config.classes.num_classes})
    write_manifest(out, build_manifest(config, entries, {"fingerprint": "x"}, seed=0))
    return out


def trained_looking(network: SEResNetConfig, seed: int) -> SEResNet:
    """An eval-mode network (seeded with ``seed``) whose batch norms carry non-trivial running statistics and affine
    terms, as after training: freshly initialised ones (mean 0, variance 1, weight 1, bias 0) hide a wrong fold."""
    torch.manual_seed(seed)
    model = SEResNet(network)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.normal_(0, 0.5)
            module.running_var.uniform_(0.3, 3.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.3)
    return model.eval()
