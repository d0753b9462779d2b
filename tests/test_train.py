"""Fold training: it learns, keeps the held-out fold out, resumes exactly, stops on time."""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TINY, learnable_cache, write_records

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.challenge.metrics import challenge_metric
from ecgnet.challenge.thresholds import apply_thresholds
from ecgnet.config import PRESETS
from ecgnet.data.folds import make_folds
from ecgnet.fileio import EPOCH_LOG, FOLD_RESULT, TRAINING_STATE, fold_dir
from ecgnet.inference.ensemble import predict_probabilities
from ecgnet.modeldir import weights_name
from ecgnet.network.model import SEResNet
from ecgnet.training.train import LOG_COLUMNS, TooFewRecordsError, _finished_fold, inner_split, train_ensemble, train_fold

REPO = Path(__file__).resolve().parents[1]


def test_tiny_model_beats_the_all_normal_baseline_on_held_out_records(tmp_path):
    cache = learnable_cache(300)
    folds = make_folds(list(cache.names), cache.labels, n_folds=5, seed=0)
    train_idx, held_out = np.flatnonzero(folds != 0), np.flatnonzero(folds == 0)
    fit_idx, val_idx = inner_split(cache, train_idx, TINY, seed=0, fold=0)
    assert not set(val_idx) & set(held_out) and not set(fit_idx) & set(val_idx)
    result = train_fold(cache, fit_idx, val_idx, TINY, tmp_path, seed=0, fold=0)

    model = _model_from(result.state_dict)
    probabilities = predict_probabilities([model], cache, TINY, indices=held_out)
    score = challenge_metric(cache.labels[held_out], apply_thresholds(probabilities, result.thresholds))
    assert score > 0.5, f"held-out challenge score {score:.3f} (all-normal baseline: 0)"
    lines = (tmp_path / EPOCH_LOG).read_text().splitlines()
    assert lines[0] == ",".join(LOG_COLUMNS) and len(lines) == 1 + TINY.epochs


def _model_from(state_dict: dict):
    model = SEResNet(TINY.network)
    model.load_state_dict(state_dict)
    return model.eval()


def test_time_limit_stops_cleanly_with_the_best_checkpoint(tmp_path):
    cache = learnable_cache(120)
    fit_idx, val_idx = inner_split(cache, np.arange(120), TINY, seed=0, fold=0)
    result = train_fold(cache, fit_idx, val_idx, TINY.replace(epochs=50), tmp_path, seed=0, fold=0, deadline=time.time())
    assert result.stopped_by_time_limit and result.epochs_run == 1 and result.best_epoch == 1
    assert result.thresholds.shape == (NUM_CLASSES,)


def test_too_few_records_is_refused_with_a_clear_message(tmp_path):
    data = write_records(tmp_path / "data", 6)
    with pytest.raises(TooFewRecordsError, match="6 readable records with a scored class.*need at least 25"):
        train_ensemble(data, tmp_path / "model", PRESETS["smoke"].replace(threads=1))


@pytest.mark.parametrize("stored_fs, reused", [(None, True), (257, True), (500, False)])
def test_a_finished_fold_is_reused_only_with_the_same_configuration(tmp_path, stored_fs, reused):
    """Result files of the previous version carry "fs": 257 in their config: still the same configuration."""
    weights = tmp_path / weights_name(2)
    weights.write_bytes(b"weights")
    config = dict(TINY.training_identity(), **({} if stored_fs is None else {"fs": stored_fs}))
    entry = {"fold": 2, "weights": weights.name, "sha256": hashlib.sha256(b"weights").hexdigest(), "thresholds": [0.5] * NUM_CLASSES}
    fold_dir(tmp_path, 2).mkdir(parents=True)
    (fold_dir(tmp_path, 2) / FOLD_RESULT).write_text(json.dumps({**entry, "config": config, "fingerprint": "data"}))
    assert _finished_fold(tmp_path, 2, TINY, "data") == (entry if reused else None)
    assert _finished_fold(tmp_path, 2, TINY, "other data") is None
    assert _finished_fold(tmp_path, 2, TINY.replace(width=TINY.network.width + 1), "data") is None


RESUME_SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import torch
    from helpers import TINY, learnable_cache
    from ecgnet.training.train import inner_split, train_fold
    torch.set_num_threads(1)
    config = TINY.replace(epochs=4, lr_milestones=(2,), window=2048)
    cache = learnable_cache(800, seed=1)
    fit_idx, val_idx = inner_split(cache, range(800), config, seed=3, fold=1)
    result = train_fold(cache, fit_idx, val_idx, config, sys.argv[1], seed=3, fold=1)
    torch.save({{"weights": result.state_dict, "thresholds": result.thresholds}}, sys.argv[2])
""")


def _train_subprocess(fold_dir: Path, out: Path) -> subprocess.Popen:
    script = RESUME_SCRIPT.format(tests=str(REPO / "tests"))
    env = {**os.environ, "ECGNET_QUIET": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", script, str(fold_dir), str(out)], env=env, cwd=REPO)


@pytest.mark.slow
def test_killed_and_restarted_training_ends_with_identical_weights(tmp_path):
    # The uninterrupted reference trains beside the run that is killed: one thread each, on two cores.
    reference = _train_subprocess(tmp_path / "ref", tmp_path / "ref.pt")
    victim = _train_subprocess(tmp_path / "run", tmp_path / "run.pt")
    state, log = tmp_path / "run" / TRAINING_STATE, tmp_path / "run" / EPOCH_LOG
    while not log.exists() and victim.poll() is None:  # written after the checkpoint, at the end of the first epoch
        time.sleep(0.02)
    epoch_seconds = float(log.read_text().splitlines()[1].split(",")[-1])
    time.sleep(0.4 * epoch_seconds)  # into the second epoch
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL, "training finished before it could be killed"
    assert not (tmp_path / "run.pt").exists()
    assert torch.load(state, weights_only=True)["epoch"] < 4

    resumed = _train_subprocess(tmp_path / "run", tmp_path / "run.pt")
    assert resumed.wait(timeout=120) == 0 and reference.wait(timeout=120) == 0
    a, b = torch.load(tmp_path / "ref.pt", weights_only=False), torch.load(tmp_path / "run.pt", weights_only=False)
    assert a["weights"].keys() == b["weights"].keys()
    for key in a["weights"]:
        assert torch.equal(a["weights"][key], b["weights"][key]), key
    np.testing.assert_array_equal(a["thresholds"], b["thresholds"])
    assert (tmp_path / "ref" / EPOCH_LOG).read_text().count("\n") == (tmp_path / "run" / EPOCH_LOG).read_text().count("\n")
