"""A differentiable challenge score: the recipe lever ``challenge_loss_weight``, a loss term beside the BCE.

The 2020 challenge score (``metrics.ChallengeMetric``) rewards output k of record i with
``sum_j y_ij W_jk / |L_i ∪ O_i|``, normalised so that the true labels score 1 and
"sinus rhythm only" scores 0. Replacing the binary outputs by probabilities p_ik, and
the union's size by ``|L_i| + sum_k p_ik (1 - y_ik)``, gives a score that equals the
official one on 0/1 outputs and has a gradient everywhere; ``1 - score`` is added to the
BCE loss with weight ``challenge_loss_weight`` (as the 2021 winner did: Nejedly P, Ivora A,
Smisek R, et al., "Classification of ECG using ensemble of residual CNNs with attention
mechanism", Computing in Cardiology 2021).
Only training imports this module (it needs torch).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from ecgnet.challenge.classes import NORMAL_INDEX, load_weights


@lru_cache(maxsize=1)
def _weights() -> np.ndarray:
    return np.asarray(load_weights(), dtype=np.float64)


def soft_challenge_score(probabilities: torch.Tensor, targets: torch.Tensor, weights: np.ndarray | None = None,
                         normal_index: int = NORMAL_INDEX) -> torch.Tensor:
    """The normalised challenge score of (B, C) probabilities against (B, C) 0/1 targets, as a differentiable scalar.

    ``weights`` is the C x C reward table (default ``weights.csv``). A batch whose true
    labels score no better than "sinus rhythm only" gives 0 (no gradient): nothing to learn from it.
    """
    table = torch.tensor(_weights() if weights is None else weights, dtype=probabilities.dtype, device=probabilities.device)
    y = targets.to(probabilities.dtype)
    label_weights = y @ table  # (B, C): the reward of each possible output
    labels = y.sum(dim=1)
    observed = ((probabilities * label_weights).sum(dim=1) / (labels + (probabilities * (1 - y)).sum(dim=1)).clamp(min=1.0)).sum()
    perfect = ((y * label_weights).sum(dim=1) / labels.clamp(min=1.0)).sum()
    normal_only = (label_weights[:, normal_index] / (labels + 1 - y[:, normal_index])).sum()
    span = perfect - normal_only
    if float(span.detach()) <= 0:
        return probabilities.sum() * 0.0
    return (observed - normal_only) / span
