"""The fast inference paths against their references: the driver's batches across records vs per-record calls,
the networks' inference forms vs the eager networks."""
from __future__ import annotations

import copy

import numpy as np
import pytest
from challenge_files import sine_counts, write_pair
from conftest import shared_path
from model_dirs import trained_looking

from ecgnet.inference.outputs import read_output
from ecgnet.config import PRESETS
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.predict import classify, load_challenge_data, predict_directory
from ecgnet.modeldir import build_manifest, save_weights, weights_name, write_manifest
from ecgnet.network.model import InferenceSEResNet

BATCH = 8  # windows per forward pass: small, so that records share and split batches


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Three random smoke-size fold models (batch norms that look trained) with thresholds spread over (0.3, 0.7)."""
    path = tmp_path_factory.mktemp("model")
    config = PRESETS["smoke"].replace(threads=1, inference_batch=BATCH)
    rng = np.random.default_rng(0)
    folds = []
    for k in range(3):
        digest = save_weights(path / weights_name(k), trained_looking(config.network, seed=k).state_dict())
        folds.append({"fold": k, "weights": weights_name(k), "sha256": digest, "thresholds": rng.uniform(0.3, 0.7, 24).tolist()})
    write_manifest(path, build_manifest(config, folds, {"fingerprint": "random weights"}, seed=0))
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Ten records: 10 s at 500 Hz, one of 60 s (more windows than a batch), one at 300 Hz, one flat (unreadable)."""
    path = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(1)
    for i in range(10):
        samples, fs = (30000, 500) if i == 3 else (3000, 300) if i == 6 else (5000, 500)
        val = sine_counts(samples, fs, amplitude=200 + 40 * i) + rng.integers(-60, 60, (12, samples)).astype(np.int16)
        write_pair(path, f"R{i:02d}", np.zeros_like(val) if i == 8 else val, fs=fs, age=str(30 + i), sex="Female" if i % 2 else "Male")
    return path


def _per_record(ensemble: Ensemble, data_dir) -> dict[str, tuple[list, list]]:
    """{name: (labels, scores)} from ``run_12ECG_classifier``'s path, one record at a time."""
    answers = {}
    for mat in sorted(data_dir.glob("*.mat")):
        labels, scores, _ = classify(ensemble, *load_challenge_data(mat), where=mat)
        answers[mat.stem] = (labels, scores)
    return answers


def _eager(ensemble: Ensemble) -> Ensemble:
    """The same ensemble predicting with its eager networks: the reference for the inference forms."""
    eager = copy.copy(ensemble)
    eager.networks = ensemble.models
    return eager


def test_driver_batches_equal_per_record_calls_labels_exactly(model_dir, records, tmp_path):
    ensemble = Ensemble.load(model_dir, device="cpu")
    seen: list[int] = []
    ensemble.networks[0].register_forward_pre_hook(lambda module, inputs: seen.append(len(inputs[0])))
    failures = predict_directory(model_dir, records, tmp_path, model=ensemble)
    assert failures == [str(records / "R08.mat")]
    assert max(seen) <= BATCH and any(n > 1 for n in seen)
    batched_passes = len(seen)
    expected = _per_record(ensemble, records)
    assert len(seen) - batched_passes > batched_passes  # one record per pass takes more passes
    for name, (labels, scores) in expected.items():
        if not labels:
            assert (tmp_path / f"{name}.csv").read_text() == f"#{name}\n\n\n\n"
            continue
        written_labels, written_scores = read_output(tmp_path / f"{name}.csv")
        assert written_labels.tolist() == [bool(x) for x in labels], name
        np.testing.assert_allclose(written_scores, scores, rtol=0, atol=1e-6, err_msg=name)


def test_a_record_that_breaks_its_batch_loses_only_its_own_answers(model_dir, records, tmp_path, monkeypatch):
    ensemble = Ensemble.load(model_dir, device="cpu")
    reference = _per_record(ensemble, records)
    original = Ensemble.predict_records

    def breaks_on_r05(self, batch, leads=None):
        if any(record.name == "R05" for record in batch):
            raise RuntimeError("simulated kernel failure")
        return original(self, batch, leads)

    monkeypatch.setattr(Ensemble, "predict_records", breaks_on_r05)
    failures = predict_directory(model_dir, records, tmp_path, model=ensemble)
    assert sorted(failures) == [str(records / "R05.mat"), str(records / "R08.mat")]
    assert (tmp_path / "R05.csv").read_text() == "#R05\n\n\n\n"
    for name in ("R04", "R06"):  # R05's batch neighbours
        labels, _ = read_output(tmp_path / f"{name}.csv")
        assert labels.tolist() == [bool(x) for x in reference[name][0]], name


def test_the_ensemble_predicts_with_inference_forms_that_answer_as_the_eager_models(model_dir, records, tmp_path):
    """The check that runs without ../shared (the shared-records test below skips there): forms vs eager, batched alike."""
    ensemble = Ensemble.load(model_dir, device="cpu")
    assert all(isinstance(network, InferenceSEResNet) for network in ensemble.networks)
    predict_directory(model_dir, records, tmp_path / "fast", model=ensemble)
    predict_directory(model_dir, records, tmp_path / "eager", model=_eager(ensemble))
    for output in sorted((tmp_path / "eager").glob("*.csv")):
        if output.stem == "R08":  # unreadable: empty answers either way
            continue
        (labels, scores), (fast_labels, fast_scores) = read_output(output), read_output(tmp_path / "fast" / output.name)
        assert fast_labels.tolist() == labels.tolist(), output.stem
        np.testing.assert_allclose(fast_scores, scores, rtol=0, atol=1e-6, err_msg=output.stem)


def test_on_the_shared_real_records_the_driver_answers_as_the_per_record_eager_path(model_dir, tmp_path):
    """Batched forward passes through the inference forms change no label of real records."""
    real = tmp_path / "real"  # the top-level records: edge-cases/ reuses some names on purpose
    real.mkdir()
    for path in shared_path("data", "cinc2020-real").glob("*.*"):
        (real / path.name).symlink_to(path)
    fast = Ensemble.load(model_dir, device="cpu")
    predict_directory(model_dir, real, tmp_path / "out", model=fast)
    reference = _per_record(_eager(fast), real)
    assert len(reference) > 100
    for name, (labels, scores) in reference.items():
        written_labels, written_scores = read_output(tmp_path / "out" / f"{name}.csv")
        assert written_labels.tolist() == [bool(x) for x in labels], name
        np.testing.assert_allclose(written_scores, scores, rtol=0, atol=1e-6, err_msg=name)
