"""``python -m ecgnet export``: the README's onnxruntime + numpy code classifies records as the torch ensemble does.

One random model directory (tests/model_dirs.py) with every input lever on (band-pass, lead standardisation,
stride padding) is exported once; records at 257, 500 and 1000 Hz, shorter and longer than a window, go through
the README's code and through ``Ensemble``: the same labels, probabilities within ``PARITY_TOLERANCE``.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from model_dirs import random_model_dir

from bench.bench_onnx import readme_code
from ecgnet.api import signal_record
from ecgnet.cli import main as cli_main
from ecgnet.config import PRESETS
from ecgnet.errors import ModelDirError
from ecgnet.fileio import EXPORT_SPEC, MANIFEST, PREPROCESS_GRAPH
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.export import PARITY_TOLERANCE, export_model, preprocess_graph
from ecgnet.signal import prepare_input, resample
from ecgnet.synth import generate_record

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements-onnx.txt, which requirements-dev.txt includes")

LEVERS = PRESETS["smoke"].replace(bandpass_low_hz=0.5, bandpass_high_hz=40.0, lead_standardisation="record", pad_to="stride")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(model directory, export folder) of three random fold models whose thresholds differ by fold and class."""
    root = tmp_path_factory.mktemp("export")
    (root / "model").mkdir()
    model_dir = random_model_dir(root / "model", folds=3, config=LEVERS)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    rng = np.random.default_rng(1)
    for fold in manifest["folds"]:
        fold["thresholds"] = rng.uniform(0.35, 0.65, 24).round(3).tolist()
    (model_dir / MANIFEST).write_text(json.dumps(manifest))
    export_model(model_dir, root / "exported")
    return model_dir, root / "exported"


def test_the_readme_code_classifies_records_as_the_torch_ensemble(exported, monkeypatch):
    model_dir, out = exported
    monkeypatch.chdir(out.parent)  # the README's folder is "exported"
    # (fs, seconds, age, sex): one window padded to the stride, one resampled full window, several windows
    cases = [(257, 3.0, 63.0, "Male"), (500, 10.0, None, "Female"), (1000, 12.0, 40.0, None), (257, 9.0, None, None)]
    records, answers = [], []
    for index, (fs, seconds, age, sex) in enumerate(cases):
        signal = generate_record(index, seed=3, fs=fs, duration=seconds)[0]
        records.append(signal_record(signal, fs, age, sex, name=f"R{index}"))
        scope = {"signal": resample(signal, fs)}  # the README's last lines classify `signal`
        exec("\n".join(readme_code()), scope)  # noqa: S102 - the README's own code, run as a user would
        answers.append(scope["classify"](scope["to_257_hz"](signal, fs), age=age, sex=sex))
    labels, scores = Ensemble.load(model_dir).predict_records(records)
    onnx_labels = np.array([a[0] for a in answers])
    onnx_scores = np.array([a[1] for a in answers])
    assert np.abs(onnx_scores - scores).max() <= PARITY_TOLERANCE
    assert (onnx_labels == labels).all()
    assert 0 < labels.sum() < labels.size - len(cases), "the vote must both mark and leave classes for the labels to tell"


def test_the_readme_resampler_is_ecgnets():
    scope: dict = {}
    exec("import numpy as np\n" + readme_code()[1], scope)  # noqa: S102 - the README's own code
    signal = generate_record(0, seed=4, fs=500, duration=10.0)[0]
    for fs in (500, 1000, 360, 257):
        assert np.array_equal(scope["to_257_hz"](signal, fs), resample(signal, fs))


def test_the_graphs_take_any_batch_and_length(exported):
    model_dir, out = exported
    rng = np.random.default_rng(2)
    session = ort.InferenceSession(str(out / "fold_1.onnx"))
    windows = rng.normal(0, 0.3, (5, 12, 700)).astype(np.float32)
    demographics = rng.uniform(0, 1, (5, 5)).astype(np.float32)
    model = Ensemble.load(model_dir).models[1]
    with torch.inference_mode():
        expected = torch.sigmoid(model(torch.from_numpy(windows), torch.from_numpy(demographics))).numpy()
    assert np.abs(session.run(None, {"windows": windows, "demographics": demographics})[0] - expected).max() <= PARITY_TOLERANCE
    records = (rng.normal(0, 0.05, (3, 12, 3001)).cumsum(axis=-1) + 1).astype(np.float32)
    filtered = ort.InferenceSession(str(out / PREPROCESS_GRAPH)).run(None, {"signal": records})[0]
    assert np.abs(filtered - np.stack([prepare_input(r, LEVERS) for r in records])).max() < 1e-4


def test_a_recipe_without_levers_exports_the_identity():
    signal = np.random.default_rng(3).normal(0, 1, (2, 12, 900)).astype(np.float32)
    graph = ort.InferenceSession(preprocess_graph(PRESETS["smoke"]))
    assert np.array_equal(graph.run(None, {"signal": signal})[0], signal)


def test_the_spec_says_what_the_graphs_expect(exported):
    model_dir, out = exported
    spec = json.loads((out / EXPORT_SPEC).read_text())
    manifest = json.loads((model_dir / MANIFEST).read_text())
    assert spec["input"]["fs"] == 257 and spec["input"]["units"] == "mV" and spec["input"]["leads"][6] == "V1"
    assert spec["preprocess"]["bandpass"]["low_hz"] == 0.5 and spec["preprocess"]["lead_standardisation"] == "record"
    assert spec["windows"] == {**spec["windows"], "length": 1024, "overlap": 128, "pad_multiple": LEVERS.network.stride}
    assert spec["thresholds"] == [fold["thresholds"] for fold in manifest["folds"]]
    assert [c["code"] for c in spec["classes"]] == manifest["classes"]
    assert spec["networks"]["graphs"] == ["fold_0.onnx", "fold_1.onnx", "fold_2.onnx"]


def test_an_existing_export_is_not_replaced_without_overwrite(exported, caplog):
    model_dir, out = exported
    before = (out / EXPORT_SPEC).stat().st_mtime_ns
    assert cli_main(["export", str(model_dir), str(out)]) == 2
    assert "--overwrite" in caplog.text and str(out / PREPROCESS_GRAPH) in caplog.text
    assert (out / EXPORT_SPEC).stat().st_mtime_ns == before


def test_without_onnxruntime_export_says_what_to_install(exported, monkeypatch, caplog):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else find_spec(name, *a))
    model_dir, out = exported
    assert cli_main(["export", str(model_dir), str(out.parent / "elsewhere")]) == 2
    assert "requirements-onnx.txt" in caplog.text and not (out.parent / "elsewhere").exists()


def test_a_2021_model_exports_its_26_classes(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    random_model_dir(model_dir, folds=2, config=PRESETS["smoke"].replace(challenge="2021"))
    spec = export_model(model_dir, tmp_path / "exported")
    assert spec["challenge"] == "2021" and len(spec["classes"]) == 26 and len(spec["thresholds"][0]) == 26
    assert "PRWP" in [c["abbreviation"] for c in spec["classes"]]
    windows, demographics = np.zeros((2, 12, 640), np.float32), np.zeros((2, 5), np.float32)
    session = ort.InferenceSession(str(tmp_path / "exported" / "fold_1.onnx"))
    assert session.run(None, {"windows": windows, "demographics": demographics})[0].shape == (2, 26)


def test_a_model_of_reduced_lead_sets_is_refused_with_the_reason(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    random_model_dir(model_dir, folds=2, config=PRESETS["smoke"].replace(challenge="2021", lead_sets="2021"))
    with pytest.raises(ModelDirError, match="lead-presence|twelve-lead"):
        export_model(model_dir, tmp_path / "exported")
    assert not (tmp_path / "exported").exists()
