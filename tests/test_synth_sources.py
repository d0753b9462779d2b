"""Synthetic source profiles: each profile's property is measurable in what it writes."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.io

from ecgnet.cli import main
from ecgnet.records.files import source_of
from ecgnet.records.header import read_header
from ecgnet.synth import PROFILES, generate_dataset, generate_record, get_profile

SEED = 5


def band_power(x: np.ndarray, fs: float, low: float, high: float) -> float:
    """Mean power of all leads in [low, high] Hz (Hann-windowed periodogram: no leakage from slow drift)."""
    spectrum = np.abs(np.fft.rfft((x - x.mean(axis=1, keepdims=True)) * np.hanning(x.shape[1]), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    return float(spectrum[:, (freqs >= low) & (freqs <= high)].mean())


def tone_to_floor(x: np.ndarray, fs: float, hz: float) -> float:
    """Largest periodogram bin within 0.3 Hz of ``hz`` over the median bin 2-4 Hz either side (lead-summed)."""
    spectrum = (np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)) ** 2).sum(axis=0)
    freqs = np.fft.rfftfreq(x.shape[1], 1.0 / fs)
    floor = np.median(spectrum[(np.abs(freqs - hz) >= 2) & (np.abs(freqs - hz) <= 4)])
    return float(spectrum[np.abs(freqs - hz) <= 0.3].max() / floor)


def record(profile, index: int = 0, **kw):
    signal, fs, *_ = generate_record(index, SEED, profile=profile, **kw)
    return signal, fs


def test_profiles_write_their_rate_and_length_under_names_that_tell_them_apart(tmp_path):
    names = [n for n in PROFILES]
    paths = generate_dataset(tmp_path, 3 * len(names), seed=SEED, workers=1, profiles=names)
    seen = {}
    for path in paths:
        header = read_header(path)
        profile = names[paths.index(path) % len(names)]
        seen.setdefault(source_of(path.stem), set()).add(profile)
        spec = get_profile(profile)
        assert path.stem.startswith("SYN")
        if spec.fs:
            assert header.fs in spec.fs
        if spec.duration_s:
            lo, hi = spec.duration_s
            assert lo - 1 / header.fs <= header.num_samples / header.fs <= hi + 1 / header.fs
    assert all(len(profiles) == 1 for profiles in seen.values()) and len(seen) == len(names)
    assert source_of(paths[0].stem) == "SYN"  # the default mix keeps the plain names


@pytest.mark.parametrize("name, mains, other", [("cpsc", 50.0, 60.0), ("georgia", 60.0, 50.0), ("us400", 60.0, 50.0)])
def test_mains_hum_shows_at_the_profiles_frequency_only(name, mains, other):
    for index in range(3):
        signal, fs = record(get_profile(name), index)
        assert tone_to_floor(signal, fs, mains) > max(30, 5 * tone_to_floor(signal, fs, other))


def test_ptbxl_dev_profile_is_band_passed_and_each_lead_standardised(tmp_path):
    paths = generate_dataset(tmp_path, 3, seed=SEED, workers=1, profiles=["ptbxl-dev"])
    for path in paths:
        z = scipy.io.loadmat(path.with_suffix(".mat"))["val"].astype(float) / 150.0  # the folder's 150 counts per z
        assert np.abs(z.mean(axis=1)).max() < 0.02
        assert np.abs(z.std(axis=1) - 1.0).max() < 0.01
        fs = read_header(path).fs
        assert band_power(z, fs, 60.0, 120.0) < 1e-3 * band_power(z, fs, 5.0, 20.0)  # nothing left far above 40 Hz
    raw = dataclasses.replace(get_profile("ptbxl-dev"), standardise=False)
    for index in range(3):  # baseline wander goes with the band-pass
        (z, fs), (mv, _) = record(get_profile("ptbxl-dev"), index), record(raw, index)
        low = lambda x: band_power(x, fs, 0.0, 0.2) / band_power(x, fs, 1.0, 5.0)  # noqa: E731
        assert low(z) < 0.1 * low(mv)


def test_the_recorder_filter_removes_what_is_above_its_low_pass():
    profile = get_profile("us400")  # 0.5-100 Hz at 400 Hz
    unfiltered = dataclasses.replace(profile, band_hz=(None, None))
    for index in range(3):
        (filtered, fs), (raw, _) = record(profile, index), record(unfiltered, index)
        assert band_power(filtered, fs, 150, 200) < 0.2 * band_power(raw, fs, 150, 200)  # 2nd order: ~0.1 at 150-200 Hz
        assert band_power(filtered, fs, 0, 0.15) < 0.2 * band_power(raw, fs, 0, 0.15)
        assert band_power(filtered, fs, 8, 20) == pytest.approx(band_power(raw, fs, 8, 20), rel=0.15)


def test_gain_and_lead_scaling_change_the_size_of_the_record_and_of_each_lead():
    plain = dataclasses.replace(get_profile("us400"), gain=(1.0, 1.0), lead_scale_sd=0.0)
    scaled = dataclasses.replace(plain, gain=(2.0, 2.0))
    (a, _), (b, _) = record(plain), record(scaled)
    assert np.allclose(b, 2.0 * a)
    (c, _) = record(dataclasses.replace(plain, lead_scale_sd=0.25))
    ratio = np.log(np.abs(c).max(axis=1) / np.abs(a).max(axis=1))
    assert 0.1 < ratio.std() < 0.5  # each lead its own size


def test_wander_and_muscle_levels_scale_the_noise():
    base = dataclasses.replace(get_profile("georgia"), gain=(1.0, 1.0), lead_scale_sd=0.0)
    for index in range(3):
        levels = {w: record(dataclasses.replace(base, wander=w), index)[0] for w in (0.0, 1.0, 3.0)}
        wander = levels[1.0] - levels[0.0]  # what the wander adds: slow, and three times as large at 3.0
        assert band_power(wander, 500.0, 0, 0.7) > 100 * band_power(wander, 500.0, 5, 40)
        assert np.allclose(levels[3.0] - levels[0.0], 3 * wander)
        quiet, loud, louder = (record(dataclasses.replace(base, muscle=m), index)[0] for m in (0.0, 1.0, 3.0))
        muscle = loud - quiet  # what the muscle noise adds: fast, and three times as large at 3.0
        assert band_power(muscle, 500.0, 20, 150) > 100 * band_power(muscle, 500.0, 0, 10)
        assert np.allclose(louder - quiet, 3 * muscle)


def test_the_command_mixes_profiles_in_turn_and_refuses_an_unknown_one(tmp_path, capsys):
    assert main(["--quiet", "synth", str(tmp_path / "out"), "--n", "4", "--workers", "1", "--profile", "cpsc", "ptb"]) == 0
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.hea")) == ["SYNCPSC00001", "SYNCPSC00003", "SYNPTB00002", "SYNPTB00004"]
    with pytest.raises(SystemExit):
        main(["synth", str(tmp_path / "bad"), "--profile", "nonesuch"])
    with pytest.raises(ValueError, match="unknown synthetic profile 'nonesuch'"):
        generate_dataset(tmp_path / "bad", 1, profiles=["nonesuch"])
