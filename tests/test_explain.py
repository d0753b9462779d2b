"""`python -m ecgnet explain`: Integrated Gradients over the fold models, drawn on the 12-lead plot."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from model_dirs import random_model_dir

from ecgnet.analysis.explain import integrated_gradients, stitch
from ecgnet.cli import main
from ecgnet.config import PRESETS
from ecgnet.network.model import SEResNet
from ecgnet.signal import encode_demographics, inference_windows
from ecgnet.synth import generate_record, write_record

CONFIG = PRESETS["smoke"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """Two randomly initialised smoke-size fold models in a valid model directory."""
    return random_model_dir(tmp_path_factory.mktemp("model"), folds=2, config=CONFIG)


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    signal, fs, age, sex, codes = generate_record(0, 0, codes=["LBBB"], fs=500, duration=3.5)
    return write_record(tmp_path_factory.mktemp("records"), "SYN00001", signal, fs, age, sex, codes)


def test_stitch_puts_overlapping_windows_back_on_the_record_time_axis():
    signal = np.random.default_rng(0).normal(size=(12, 2570))
    windows = inference_windows(signal, 1024, 128)
    assert len(windows) == 3
    np.testing.assert_allclose(stitch(windows.astype(np.float64), 2570, 128), signal, atol=1e-6)
    short = inference_windows(signal[:, :700], 1024, 128)
    np.testing.assert_allclose(stitch(short.astype(np.float64), 700, 128), signal[:, :700], atol=1e-6)


def test_attributions_sum_to_the_logit_change_from_the_flat_baseline():
    torch.manual_seed(3)
    model = SEResNet(CONFIG.network).eval()
    windows = np.random.default_rng(1).normal(0, 0.3, size=(2, 12, CONFIG.window)).astype(np.float32)
    demographics = encode_demographics(61.0, "Female")
    target = 5
    attributions = integrated_gradients(model, windows, demographics, target, steps=64)
    with torch.no_grad():
        d = torch.from_numpy(np.repeat(demographics[None], 2, axis=0).astype(np.float32))
        x = torch.from_numpy(windows)
        change = (model(x, d) - model(torch.zeros_like(x), d))[:, target].numpy()
    # completeness (Sundararajan et al. 2017): the attributions of each window add up to its logit change
    np.testing.assert_allclose(attributions.sum(axis=(1, 2)), change, rtol=0.05, atol=1e-3)


def test_command_draws_the_record_with_its_attribution(model_dir, record, tmp_path, capsys):
    out = tmp_path / "explained.png"
    assert main(["--quiet", "explain", str(model_dir), str(record), "--class", "164909002", "--out", str(out)]) == 0
    assert out.stat().st_size > 50_000
    assert "LBBB score" in capsys.readouterr().out


def test_unknown_class_and_non_model_directory_are_clear_errors(model_dir, record, tmp_path, capsys, caplog):
    with pytest.raises(SystemExit) as stop:
        main(["explain", str(model_dir), str(record), "--class", "NOPE"])
    assert stop.value.code == 2
    assert "'NOPE' is not a scored class" in capsys.readouterr().err  # the same message as review's, listing the classes
    assert main(["--quiet", "explain", str(tmp_path), str(record)]) == 2
    assert "manifest.json" in caplog.text


def test_a_2021_model_explains_its_own_classes_and_a_2020_model_refuses_them(model_dir, record, tmp_path, capsys, caplog):
    (tmp_path / "model21").mkdir()
    model_2021 = random_model_dir(tmp_path / "model21", folds=1, config=CONFIG.replace(challenge="2021"))
    assert main(["--quiet", "explain", str(model_2021), str(record), "--class", "PRWP", "--out", str(tmp_path)]) == 0
    assert "PRWP score" in capsys.readouterr().out and (tmp_path / "SYN00001_explain_PRWP.png").is_file()
    assert main(["--quiet", "explain", str(model_dir), str(record), "--class", "BBB", "--out", str(tmp_path)]) == 2
    assert str(model_dir) in caplog.text and "not a scored class of the 2020 challenge" in caplog.text


def test_help_says_what_it_draws(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    assert "Integrated Gradients" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("codes", [["LBBB"], ["IAVB"], ["NSR"]])
def test_fiducials_put_each_beats_largest_deflection_inside_its_qrs(codes):
    """The evidence-location check trusts these boundaries: the generator's own QRS timing."""
    from ecgnet.synth.record import record_fiducials

    signal, fs, *_ = generate_record(4, 0, codes=codes, fs=500, duration=10)
    where = record_fiducials(4, 0, codes=codes, fs=500, duration=10)
    v2 = np.abs(signal[7] - np.median(signal[7]))
    beats = [(a, b, c) for a, b, c in zip(where.qrs_on[:-1], where.qrs_end[:-1], where.qrs_on[1:]) if a >= 0 and c * fs < len(v2)]
    assert len(beats) >= 6
    for onset, end, following in beats:
        peak = (int(onset * fs) + np.argmax(v2[int(onset * fs):int(following * fs)])) / fs
        assert onset - 0.01 <= peak <= end + 0.01
    has_p = ~np.isnan(where.p_on)
    assert np.all(where.p_end[has_p] <= where.qrs_on[has_p])
