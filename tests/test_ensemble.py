"""The vote, the scores and window averaging of the ensemble."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.config import PRESETS
from ecgnet.inference.ensemble import fold_probabilities, vote
from ecgnet.network.model import SEResNet
from ecgnet.signal import inference_windows


def _probabilities(rows: list[list[float]]) -> np.ndarray:
    """(F, 1, C): fold f gives class c the probability rows[f][c] (classes beyond the list get 0)."""
    out = np.zeros((len(rows), 1, NUM_CLASSES))
    for f, row in enumerate(rows):
        out[f, 0, : len(row)] = row
    return out


def test_a_class_needs_more_than_half_of_the_folds():
    # Class 1 is labelled by 3 of 5 folds, class 2 by 2 of 5; class 0 is every fold's top class.
    p = _probabilities([[0.9, 0.6, 0.6], [0.9, 0.6, 0.6], [0.9, 0.6, 0.1], [0.9, 0.1, 0.1], [0.9, 0.1, 0.1]])
    outputs, scores = vote(p, np.full((5, NUM_CLASSES), 0.5))
    assert outputs[0, :3].tolist() == [True, True, False] and outputs[0].sum() == 2
    np.testing.assert_allclose(scores[0, :3], [0.9, 0.4, 0.3])


def test_the_top_voted_class_is_forced_on_with_ties_broken_by_mean_probability():
    # No class reaches 3 votes; classes 3 and 4 have 2 votes each, class 4 the higher mean.
    p = _probabilities([[0, 0, 0, 0.3, 0.2], [0, 0, 0, 0.3, 0.2], [0, 0, 0, 0.2, 0.3], [0, 0, 0, 0.2, 0.3], [0.1, 0, 0, 0.0, 0.45]])
    thresholds = np.full((5, NUM_CLASSES), 0.9)
    outputs, _ = vote(p, thresholds)
    assert np.flatnonzero(outputs[0]).tolist() == [4]


def test_per_fold_thresholds_are_used():
    p = _probabilities([[0.9, 0.3]] * 3)
    low = np.full((3, NUM_CLASSES), 0.5)
    low[:, 1] = 0.25
    assert vote(p, low)[0][0, 1] and not vote(p, np.full((3, NUM_CLASSES), 0.5))[0][0, 1]


def test_vote_refuses_mismatched_shapes():
    with pytest.raises(ValueError):
        vote(np.zeros((5, 2, NUM_CLASSES)), np.zeros((4, NUM_CLASSES)))


class _Cache:
    def __init__(self, signals):
        self.signals = signals
        self.demographics = np.zeros((len(signals), 5), np.float32)

    def __len__(self):
        return len(self.signals)

    def signal(self, i):
        return self.signals[i]


@pytest.mark.parametrize("batch, pad_to", [(1, "window"), (4, "window"), (32, "window"), (32, "stride")])
def test_record_probability_is_the_mean_over_its_windows_whatever_the_batching(batch, pad_to):
    """Batch 4 splits the 6 windows of the 5000-sample record across batches; 32 holds all records at once.

    With ``pad_to = "stride"`` the 300-sample record's window is 320 samples long, so it shares no
    batch with the others' 1024-sample windows, and each record still gets exactly its own windows' mean.
    """
    config = PRESETS["smoke"].replace(inference_batch=batch, pad_to=pad_to)
    torch.manual_seed(0)
    model = SEResNet(config.network).eval()
    rng = np.random.default_rng(0)
    signals = [rng.standard_normal((12, n)).astype(np.float32) for n in (300, 3000, 1024, 5000)]
    batched = fold_probabilities([model], _Cache(signals), config)[0]
    for i, x in enumerate(signals):
        windows = torch.from_numpy(inference_windows(x, config.window, config.overlap, config.pad_multiple))
        assert windows.shape[2] == (320 if (pad_to, x.shape[1]) == ("stride", 300) else 1024)
        with torch.no_grad():
            expected = torch.sigmoid(model(windows, torch.zeros(len(windows), 5))).mean(0).numpy()
        np.testing.assert_allclose(batched[i], expected, rtol=1e-4, atol=1e-6)


def test_no_batch_holds_more_windows_than_the_inference_batch():
    """Memory stays bounded: the network never sees more than ``inference_batch`` windows at once."""
    config = PRESETS["smoke"].replace(inference_batch=4)
    torch.manual_seed(0)
    model = SEResNet(config.network).eval()
    seen: list[int] = []
    model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    rng = np.random.default_rng(1)
    signals = [rng.standard_normal((12, n)).astype(np.float32) for n in (5000, 300, 20000, 1024)]
    windows = sum(len(inference_windows(x, config.window, config.overlap)) for x in signals)
    probabilities = fold_probabilities([model], _Cache(signals), config)
    assert probabilities.shape == (1, 4, NUM_CLASSES)
    assert max(seen) == 4 and sum(seen) == windows and len(seen) == -(-windows // 4)
