"""Out-of-fold cross-validation: bookkeeping, resumption after a real kill, retraining on changed data."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ecgnet.config import load_config
from ecgnet.data.cache import build_cache
from ecgnet.fileio import read_oof, read_summary
from ecgnet.inference.ensemble import predict_probabilities
from ecgnet.modeldir import load_manifest, load_weights
from ecgnet.network.model import SEResNet
from ecgnet.synth import generate_dataset
from ecgnet.training.crossval import ABLATIONS, cross_validate
from ecgnet.training.train import inner_split, labelled_records

REPO = Path(__file__).resolve().parents[1]
TINY = {"preset": "smoke", "threads": 1, "epochs": 2, "lr_milestones": [1], "seed": 3}


def tiny_config():
    return load_config("smoke").replace(threads=1, epochs=2, lr_milestones=(1,), seed=3)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("cvdata")
    generate_dataset(directory, 32, seed=11, workers=1, fs_choices=[500], duration_range=(10, 10))
    return directory


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("cv") / "run"
    return out, cross_validate(data_dir, out, tiny_config())


@pytest.mark.slow
def test_every_record_is_predicted_by_the_one_model_that_never_saw_it(data_dir, finished):
    out, _ = finished
    oof = read_oof(out)
    manifest = load_manifest(out)
    config = tiny_config()
    assignment = manifest["data"]["fold_assignment"]
    assert sorted(oof.records) == sorted(assignment)
    assert all(assignment[name] == fold for name, fold in zip(oof.records, oof.folds))

    cache = build_cache(data_dir, out / "cache")
    usable = labelled_records(cache)
    names = [str(n) for n in cache.names[usable]]
    folds = np.array([assignment[n] for n in names])
    for entry in manifest["folds"]:
        k = entry["fold"]
        fit_idx, val_idx = inner_split(cache, usable[folds != k], config, config.seed, k)
        seen = {str(n) for n in cache.names[np.concatenate([fit_idx, val_idx])]}
        held = {n for n, f in zip(oof.records, oof.folds) if f == k}
        assert held and not held & seen, f"fold {k}: a held-out record was used in training"
        # The stored probabilities are this fold model's, not another's.
        model = SEResNet(config.network)
        model.load_state_dict(load_weights(out, entry))
        rows = [i for i, f in enumerate(oof.folds) if f == k][:3]
        indices = [usable[names.index(oof.records[i])] for i in rows]
        again = predict_probabilities([model], cache, config, indices=indices)
        assert np.allclose(again, oof.probabilities[rows], atol=1e-6)


@pytest.mark.slow
def test_summary_has_per_fold_pooled_ablations_and_per_class(finished):
    out, summary = finished
    assert set(summary["ablations"]) == set(ABLATIONS)
    assert len(summary["per_fold"]) == 5 and len(summary["per_class"]) == 24
    assert {"Challenge metric", "AUROC", "AUPRC", "F-measure", "Sensitivity", "Specificity"} <= set(summary["pooled"])
    assert read_summary(out) == json.loads(json.dumps(summary))
    scores = [v["Challenge metric"] for v in summary["per_fold"].values()]
    assert summary["fold_mean"] == pytest.approx(np.mean(scores))


def _cv_command(data_dir: Path, out: Path, config: Path) -> list[str]:
    return [sys.executable, "-m", "ecgnet", "--quiet", "cv", str(data_dir), "--config", str(config), "--out", str(out)]


@pytest.mark.slow
def test_a_killed_and_resumed_cv_run_gives_the_same_result(data_dir, finished, tmp_path):
    out, _ = finished
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    resumed = tmp_path / "resumed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(_cv_command(data_dir, resumed, config), cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    # Kill it once fold 1 has finished an epoch: fold 0 is complete, fold 1 is half-way.
    while time.time() < deadline and not (resumed / "folds" / "fold_1" / "epochs.csv").exists():
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (resumed / "summary.json").exists(), "the run finished before it could be killed"
    done = subprocess.run(_cv_command(data_dir, resumed, config), cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (resumed / "oof_predictions.csv").read_text() == (out / "oof_predictions.csv").read_text()
    assert read_summary(resumed)["ablations"] == read_summary(out)["ablations"]


@pytest.mark.slow
def test_cv_on_changed_data_retrains_instead_of_reusing_stale_folds(finished, tmp_path):
    out, _ = finished
    other = tmp_path / "other"
    generate_dataset(other, 30, seed=12, workers=1, fs_choices=[500], duration_range=(10, 10))
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-r", str(out), str(copy)], check=True)
    old = {f["fold"]: f["sha256"] for f in load_manifest(out)["folds"]}
    cross_validate(other, copy, tiny_config())
    new = load_manifest(copy)
    assert all(f["sha256"] != old[f["fold"]] for f in new["folds"])
    assert set(read_oof(copy).records) == set(new["data"]["fold_assignment"]) and len(read_oof(copy).records) <= 30
