"""Recipe levers: off by default, each doing what its key says when on, alike in training and inference."""
from __future__ import annotations

import numpy as np
import pytest

from ecgnet.config import ADOPTED_LEVERS, LEVERS_OFF, PRESETS, Config
from ecgnet.errors import ConfigError
from ecgnet.inference.ensemble import record_inputs
from ecgnet.modeldir import preprocessing
from ecgnet.records.reader import read_record
from ecgnet.signal import TARGET_FS, augment, cut_window, prepare_input, stretch_factors
from ecgnet.synth import generate_dataset

FS = TARGET_FS


def sines(*hz: float, n: int = 20 * FS) -> np.ndarray:
    t = np.arange(n) / FS
    return np.tile(sum(np.sin(2 * np.pi * f * t) for f in hz), (12, 1)).astype(np.float32)


def amplitude_at(x: np.ndarray, hz: float) -> float:
    spectrum = np.abs(np.fft.rfft(x[0])) * 2 / x.shape[1]
    return float(spectrum[np.argmin(np.abs(np.fft.rfftfreq(x.shape[1], 1 / FS) - hz))])


def test_the_presets_carry_only_the_adopted_levers_and_off_changes_nothing():
    """default and cpu: exactly the levers leave-one-source-out adopted (the rule in bench/RESULTS.md, "Recipe levers"); smoke and demo: none."""
    for name, preset in PRESETS.items():
        expected = {**LEVERS_OFF, **(ADOPTED_LEVERS if name in ("default", "cpu") else {})}
        assert {key: getattr(preset, key) for key in LEVERS_OFF} == expected, name
    x, rng = sines(1.0, 10.0), np.random.default_rng(0)
    config = Config()
    assert np.array_equal(prepare_input(x, config), x)
    batch = np.stack([x, 2 * x])
    augment(batch, config, rng)
    assert np.array_equal(stretch_factors(config, rng, 2), [1, 1]) and np.array_equal(batch, np.stack([x, 2 * x]))
    assert rng.random() == np.random.default_rng(0).random()  # nothing drawn: training runs are as before
    assert "bandpass_low_hz" not in config.training_identity() and "bandpass_low_hz" not in preprocessing(config)


def test_band_pass_keeps_the_band_and_removes_wander_and_high_frequencies():
    config = Config().replace(bandpass_low_hz=0.5, bandpass_high_hz=40.0)
    out = prepare_input(sines(0.1, 10.0, 80.0), config)
    assert amplitude_at(out, 10.0) == pytest.approx(1.0, abs=0.05)
    assert amplitude_at(out, 0.1) < 0.05 and amplitude_at(out, 80.0) < 0.05
    assert preprocessing(config)["bandpass_high_hz"] == 40.0  # recorded in the manifest, checked at load
    assert config.training_identity()["bandpass_low_hz"] == 0.5


def test_lead_standardisation_gives_each_lead_mean_0_and_sd_1_and_leaves_a_flat_lead_at_0():
    x = sines(3.0) * np.arange(1, 13, dtype=np.float32)[:, None] + 5.0
    x[4] = 2.0
    out = prepare_input(x, Config().replace(lead_standardisation="record"))
    live = np.arange(12) != 4
    assert np.allclose(out[live].mean(axis=1), 0, atol=1e-5) and np.allclose(out[live].std(axis=1), 1, atol=1e-4)
    assert np.array_equal(out[4], np.zeros(x.shape[1], dtype=np.float32))


def test_inference_applies_the_input_levers_as_training_does(tmp_path):
    path = generate_dataset(tmp_path, 1, seed=1, workers=1, fs_choices=[500], duration_range=(10, 10))[0]
    record = read_record(path)
    config = Config().replace(lead_standardisation="record")  # 4096-sample windows: one per 10-s record
    windows, _ = record_inputs(record, config)
    filled = windows[0][:, : 10 * FS - 1]  # a 10-s record fills the start of one right-padded window
    assert np.allclose(filled.std(axis=1), 1.0, atol=0.01)


def augmented(x: np.ndarray, rng: np.random.Generator, count: int = 150, **levers) -> np.ndarray:
    """A batch of ``count`` copies of the window ``x`` (leads, L), augmented as a training batch is."""
    batch = np.repeat(x[None], count, axis=0)
    augment(batch, Config().replace(**levers), rng)
    return batch


def test_augmentations_keep_the_distributions_the_configuration_documents():
    """Each lead of each window: scale exp(N(0, a)), a 0.05-0.5 Hz wander of the set amplitude, noise of the set sd,
    dropout with the set probability; windows and leads drawn independently."""
    rng, x = np.random.default_rng(3), sines(1.0, 7.0, n=2048)
    scaled = augmented(x, rng, augment_amplitude=0.3)
    log_gain = np.log(scaled[..., 100] / x[:, 100]).ravel()  # one gain per lead and window
    assert log_gain.mean() == pytest.approx(0.0, abs=0.03) and log_gain.std() == pytest.approx(0.3, rel=0.08)
    assert np.allclose(scaled / scaled[..., 100:101], x / x[:, 100:101], atol=1e-4)  # a gain, not a shape change
    noise = augmented(x, rng, augment_noise_mv=0.05) - x
    assert noise.std() == pytest.approx(0.05, rel=0.01) and abs(noise.mean()) < 1e-3
    assert [np.mean(np.abs(noise) < k * 0.05) for k in (1, 2, 3)] == pytest.approx([0.6827, 0.9545, 0.9973], abs=0.003)  # Gaussian
    assert abs(np.corrcoef(noise[:, 0, :-1].ravel(), noise[:, 0, 1:].ravel())[0, 1]) < 0.01  # white
    wander = augmented(x, rng, augment_wander_mv=0.2) - x
    peaks = np.abs(wander).max(axis=2)
    assert peaks.max() <= 0.2 + 1e-5 and np.mean(peaks > 0.19) > 0.3  # a sine of 0.2 mV, a whole half-period or less seen
    steepest = np.abs(np.diff(wander, axis=2)).max(axis=2) * FS / (2 * np.pi * peaks)  # the frequency, from the slope
    assert steepest.max() <= 0.5 * 1.001 and steepest.min() > 0.03 and np.median(steepest) > 0.2  # 0.05-0.5 Hz
    kept = augmented(x, rng, augment_lead_dropout=0.25).any(axis=2)
    assert kept.mean() == pytest.approx(0.75, abs=0.04) and abs(np.corrcoef(kept[:, 0], kept[:, 1])[0, 1]) < 0.15
    factors = stretch_factors(Config().replace(augment_stretch=0.1), rng, 20000)
    assert factors.min() >= 0.9 and factors.max() <= 1.1 and np.histogram(factors, 4, (0.9, 1.1))[0].min() > 4800  # uniform


def test_a_stretched_window_is_the_stretched_record_cut_at_its_start():
    """Linear interpolation of the record at the window's positions: a ramp stays a ramp, a tone's frequency divides by the factor."""
    ramp = np.tile(np.arange(3000, dtype=np.float32), (12, 1))
    out = np.empty((12, 1024), dtype=np.float32)
    cut_window(ramp, 500, out, factor=1.25)
    assert np.allclose(out, (500 + np.arange(1024)) / 1.25)
    cut_window(ramp[:, :600], 10, out, factor=0.5)  # 300 samples when stretched: zero-padded from the start
    assert np.allclose(out[:, 10:310], np.arange(300) / 0.5, atol=1e-3) and not out[:, :10].any() and not out[:, 310:].any()
    tone, short = sines(4.0, n=20 * FS), np.empty((12, 4096), dtype=np.float32)
    cut_window(tone, 0, short, factor=2.0)
    assert amplitude_at(short, 2.0) == pytest.approx(1.0, abs=0.05) and amplitude_at(short, 4.0) < 0.05


@pytest.mark.parametrize("changes, message", [
    ({"bandpass_low_hz": 40.0, "bandpass_high_hz": 0.5}, "below bandpass_high_hz"),
    ({"bandpass_high_hz": 200.0}, "Nyquist"),
    ({"lead_standardisation": "lead"}, "lead_standardisation must be one of none, record"),
    ({"augment_noise_mv": -0.1}, "must be >= 0"),
    ({"augment_lead_dropout": 1.0}, r"\[0, 1\)"),
])
def test_impossible_lever_values_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(**changes)


def test_training_batches_carry_every_lever_and_stay_reproducible(tmp_path):
    from ecgnet.data.cache import build_cache
    from ecgnet.data.loader import EpochLoader

    generate_dataset(tmp_path / "data", 4, seed=2, workers=1, fs_choices=[500], duration_range=(10, 10))
    cache = build_cache(tmp_path / "data", tmp_path / "cache")
    config = Config().replace(window=1024, overlap=128, batch_size=4, bandpass_low_hz=0.5, bandpass_high_hz=40.0,
                              lead_standardisation="record", augment_stretch=0.1, augment_amplitude=0.2,
                              augment_wander_mv=0.1, augment_noise_mv=0.02, augment_lead_dropout=0.2)

    def windows(levers):
        feed = EpochLoader(cache, 1024, 0, pin_memory=False, config=levers)
        return [b[0].numpy() for b in feed.epoch(np.arange(4), 4, np.random.default_rng(9))[0]]

    first, again = windows(config), windows(config)
    plain = windows(Config().replace(window=1024, overlap=128, batch_size=4))
    assert first[0].shape == (4, 12, 1024) and first[0].dtype == np.float32
    assert np.array_equal(first[0], again[0]) and not np.allclose(first[0], plain[0])


def test_the_soft_challenge_score_equals_the_official_one_on_binary_outputs_and_has_a_gradient():
    import torch

    from ecgnet.challenge.classes import NORMAL_INDEX
    from ecgnet.challenge.metrics import challenge_metric
    from ecgnet.network.losses import soft_challenge_score

    rng = np.random.default_rng(4)
    y_true = rng.random((40, 24)) < 0.1
    y_true[:, NORMAL_INDEX] |= ~y_true.any(axis=1)
    for y_pred in (rng.random((40, 24)) < 0.15, y_true, np.eye(24, dtype=bool)[np.full(40, NORMAL_INDEX)]):
        soft = soft_challenge_score(torch.tensor(y_pred, dtype=torch.float64), torch.tensor(y_true))
        assert float(soft) == pytest.approx(challenge_metric(y_true, y_pred), abs=1e-9)
    logits = torch.zeros(40, 24, dtype=torch.float64, requires_grad=True)
    optimiser, scores = torch.optim.SGD([logits], lr=50.0), []
    for _ in range(30):  # descending 1 - score raises the score: the gradient points the right way
        loss = 1 - soft_challenge_score(torch.sigmoid(logits), torch.tensor(y_true))
        optimiser.zero_grad()
        loss.backward()
        assert torch.isfinite(logits.grad).all()
        optimiser.step()
        scores.append(1 - float(loss.detach()))
    assert scores[-1] > scores[0] + 0.05 and all(b >= a - 1e-9 for a, b in zip(scores, scores[1:]))
    assert Config().replace(challenge_loss_weight=0.5).training_identity()["challenge_loss_weight"] == 0.5
    with pytest.raises(ConfigError, match="challenge_loss_weight"):
        Config().replace(challenge_loss_weight=-1.0)


@pytest.mark.slow
def test_a_fold_trains_with_every_lever_on(tmp_path):
    from ecgnet.config import load_config
    from ecgnet.data.cache import build_cache
    from ecgnet.training.train import train_fold

    generate_dataset(tmp_path / "data", 12, seed=6, workers=1, fs_choices=[500], duration_range=(3, 10))  # some < the window
    cache = build_cache(tmp_path / "data", tmp_path / "cache")
    config = load_config("smoke").replace(threads=1, epochs=1, lr_milestones=(1,), bandpass_low_hz=0.5, bandpass_high_hz=40.0,
                                          lead_standardisation="record", augment_stretch=0.1, augment_amplitude=0.2,
                                          augment_wander_mv=0.1, augment_noise_mv=0.02, augment_lead_dropout=0.2,
                                          challenge_loss_weight=0.5, pad_to="stride")
    result = train_fold(cache, np.arange(9), np.arange(9, 12), config, tmp_path / "fold", seed=1)
    assert result.epochs_run == 1 and np.isfinite(float(result.log[0]["loss"]))


def test_stride_padding_is_a_checked_key_of_the_training_identity():
    assert "pad_to" not in Config().training_identity()  # off: folds trained before the key existed are reused
    assert Config().replace(pad_to="stride").training_identity()["pad_to"] == "stride"
    assert Config().replace(pad_to="stride").pad_multiple == 32 and Config().pad_multiple == 0
    with pytest.raises(ConfigError, match="pad_to"):
        Config().replace(pad_to="half")
