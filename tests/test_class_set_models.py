"""The class set is data: a configuration chooses 2020's 24 classes or 2021's 26, the model directory records it, and
everything after training (thresholds, outputs, results files, the report) follows it; old directories stay 2020."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ecgnet.challenge.classes import class_set
from ecgnet.config import PRESETS, Config
from ecgnet.data.cache import build_cache
from ecgnet.errors import ConfigError, ModelDirError
from ecgnet.fileio import MANIFEST, OutOfFold, read_oof, read_thresholds, write_oof, write_thresholds
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.outputs import format_output
from ecgnet.synth import generate_record
from ecgnet.synth.labels import NEW_IN_2021
from ecgnet.synth.profiles import get_profile
from ecgnet.synth.record import record_fiducials
from ecgnet.synth.writer import to_adc, write_record
from ecgnet.training.labels import class_labels
from model_dirs import random_model_dir

SET_2020, SET_2021 = class_set("2020"), class_set("2021")
SMOKE_2021 = PRESETS["smoke"].replace(challenge="2021")


def test_the_challenge_key_chooses_the_class_set_and_defaults_to_2020():
    assert Config().challenge == "2020" and Config().classes is SET_2020
    assert Config.from_dict({"challenge": "2021"}).classes.num_classes == 26
    with pytest.raises(ConfigError, match="challenge must be one of 2020, 2021"):
        Config(challenge="2022")
    # A fold trained before the key existed has the same identity as one trained for 2020 now: it is reused.
    assert "challenge" not in Config().training_identity()
    assert Config(challenge="2021").training_identity()["challenge"] == "2021"


def _model_dir(folder: Path, config: Config = PRESETS["smoke"]) -> Path:
    folder.mkdir()
    return random_model_dir(folder, folds=2, config=config)


def _record(tmp_path: Path) -> Path:
    signal, fs, age, sex, codes = generate_record(3, 5, fs=500.0, duration=10.0)
    return write_record(tmp_path / "records", "SYN00004", signal, fs, age, sex, codes)


def test_a_2021_model_directory_answers_in_the_26_classes_it_records(tmp_path):
    from ecgnet.records.reader import read_record

    model_dir = _model_dir(tmp_path / "model", SMOKE_2021)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    assert manifest["classes"] == list(SET_2021.codes) and manifest["config"]["challenge"] == "2021"
    outputs, scores = Ensemble.load(model_dir).predict_record(read_record(_record(tmp_path)))
    assert outputs.shape == scores.shape == (26,) and outputs.any()


def test_a_model_directory_without_the_key_is_2020_and_answers_byte_for_byte_as_before(tmp_path):
    from ecgnet.records.reader import read_record

    record = read_record(_record(tmp_path))
    current = _model_dir(tmp_path / "current")
    old = _model_dir(tmp_path / "old")
    manifest = json.loads((old / MANIFEST).read_text())
    for key in ("challenge", "lead_sets"):  # what a manifest written before the keys lacks
        del manifest["config"][key]
    (old / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    texts = [format_output("SYN00004", SET_2020.codes, *Ensemble.load(folder).predict_record(record)) for folder in (current, old)]
    assert texts[0] == texts[1] and texts[0].splitlines()[1].split(",") == list(SET_2020.codes)


def test_a_manifest_whose_classes_are_not_its_challenges_is_refused(tmp_path):
    model_dir = _model_dir(tmp_path / "model", SMOKE_2021)
    manifest = json.loads((model_dir / MANIFEST).read_text())
    manifest["classes"] = list(SET_2020.codes)
    (model_dir / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelDirError, match="26 classes of the 2021 challenge"):
        Ensemble.load(model_dir)


def test_records_labelled_with_2020_codes_are_2021_training_data(tmp_path):
    """2021 labels come from every #Dx code: CLBBB (unscored in 2020) joins LBBB, BBB is new, a 2020-only record keeps its classes."""
    folder = tmp_path / "data"
    signal = generate_record(0, 1, fs=500.0, duration=6.0)[0]
    labelled = {"A1": ["164909002"], "A2": ["733534002", "426783006"], "A3": ["6374002"], "A4": ["59118001", "164889003"]}
    for name, codes in labelled.items():
        write_record(folder, name, signal, 500.0, 60.0, "Male", codes)
    cache = build_cache(folder, tmp_path / "cache", workers=1)
    assert np.array_equal(class_labels(cache, folder, SET_2020), cache.labels)
    labels = class_labels(cache, folder, SET_2021)
    expected = np.array([SET_2021.encode_codes(labelled[str(name)]) for name in cache.names])
    assert np.array_equal(labels, expected)
    lbbb, bbb = SET_2021.class_index("LBBB"), SET_2021.class_index("BBB")
    by_name = dict(zip(map(str, cache.names), labels))
    assert by_name["A1"][lbbb] and by_name["A2"][lbbb] and by_name["A3"][bbb] and by_name["A3"].sum() == 1
    assert not cache.labels[list(map(str, cache.names)).index("A3")].any()  # unscored in 2020, scored in 2021


def test_results_files_name_their_class_set(tmp_path):
    rng = np.random.default_rng(0)
    n = 6
    oof = OutOfFold([f"R{i}" for i in range(n)], ["SYN"] * n, np.arange(n) % 2, rng.random((n, 26)) > 0.7,
                    rng.random((n, 26)), rng.random((n, 26)) > 0.5, SET_2021)
    write_oof(tmp_path, oof)
    write_thresholds(tmp_path, {0: np.full(26, 0.25), 1: np.full(26, 0.5)}, SET_2021)
    again = read_oof(tmp_path)
    assert again.classes is SET_2021 and np.array_equal(again.labels, oof.labels)
    assert np.allclose(again.probabilities, oof.probabilities)
    assert read_thresholds(tmp_path)[1].shape == (26,)


# ---- the synthetic generator: the two classes new in 2021, 2020 data unchanged ----


def test_2020_records_are_what_they_were_before_the_2021_classes():
    """The checksum of three records (counts, age, sex, codes) as the generator made them before it knew 2021."""
    digest = hashlib.sha256()
    for index, profile in ((5, "mix"), (17, "georgia"), (40, "cpsc")):
        signal, fs, age, sex, codes = generate_record(index, 11, duration=5.0, profile=get_profile(profile))
        digest.update(to_adc(signal).tobytes())
        digest.update(repr((fs, age, sex, codes)).encode())
    assert digest.hexdigest() == "99e178574c47fbda6fa3c8d168dc36e9869e3d2c594e847b6fa8c716bdef25c3"


def test_2021_records_add_the_new_classes_and_are_otherwise_their_2020_twins():
    new_codes = {code for code in SET_2021.codes if SET_2021.abbreviation(code) in NEW_IN_2021}
    seen: set[str] = set()
    for index in range(100):
        twin = generate_record(index, 2, duration=3.0, fs=250.0)
        record = generate_record(index, 2, duration=3.0, fs=250.0, challenge="2021")
        added = set(record[4]) - set(twin[4])
        seen |= added
        assert added <= new_codes
        if not added:
            assert np.array_equal(record[0], twin[0]) and record[1:] == twin[1:]
    assert seen == new_codes


def _chest_r_and_width(codes: list[str], count: int = 6) -> tuple[np.ndarray, float]:
    """Mean R-wave height (mV) in V1-V6 over the records' beats, and the mean QRS duration (s)."""
    heights, widths = [], []
    for index in range(count):
        signal, fs, *_ = generate_record(index, 7, codes=codes, fs=500.0, duration=6.0)
        fiducials = record_fiducials(index, 7, codes=codes, fs=500.0, duration=6.0)
        for onset, end in zip(fiducials.qrs_on, fiducials.qrs_end):
            first, last = int(onset * fs), int(end * fs) + 1
            if first >= 10 and last < signal.shape[1]:
                heights.append(signal[6:, first:last].max(axis=1) - signal[6:, first - 10])
                widths.append(end - onset)
    return np.mean(heights, axis=0), float(np.mean(widths))


def test_prwp_keeps_the_r_wave_small_from_v1_to_v4_and_bbb_is_a_wide_qrs():
    normal, normal_width = _chest_r_and_width(["426783006"])
    prwp, _ = _chest_r_and_width(["426783006", "365413008"])
    _, bbb_width = _chest_r_and_width(["426783006", "6374002"])
    assert prwp[2] < 0.3 and prwp[3] < 0.5 * normal[3]  # V3 under 3 mm; V4 far below a normal one
    assert normal_width < 0.1 < 0.12 < bbb_width


def test_the_report_of_a_2021_lead_set_model_shows_its_26_classes_and_a_row_per_lead_set(tmp_path):
    from ecgnet.analysis.report import render_report
    from ecgnet.fileio import write_summary
    from ecgnet.leads import LEAD_SETS_2021, lead_set_name

    rng = np.random.default_rng(1)
    n = 30
    labels = rng.random((n, 26)) < 0.15
    labels[:, SET_2021.normal_index] |= ~labels.any(axis=1)
    probabilities = np.clip(labels * 0.4 + rng.random(labels.shape) * 0.6, 0, 1)
    write_oof(tmp_path, OutOfFold([f"JS{i:05d}" for i in range(n)], ["Chapman-Shaoxing-Ningbo"] * n, np.arange(n) % 3, labels,
                                  probabilities, probabilities > 0.5, SET_2021))
    write_thresholds(tmp_path, {k: np.full(26, 0.5) for k in range(3)}, SET_2021)
    rows = [{"name": lead_set_name(leads), "leads": ",".join(leads), "per_fold": {"0": 0.5, "1": 0.4, "2": 0.45},
             "fold_mean": 0.45, "fold_sd": 0.05 + 0.01 * k,
             "pooled": {"Challenge metric": 0.6 - 0.05 * k, "AUROC": 0.9, "AUPRC": 0.5, "F-measure": 0.4}}
            for k, leads in enumerate(LEAD_SETS_2021)]
    write_summary(tmp_path, {"data_dir": "/data/x", "records": n, "config": SMOKE_2021.replace(lead_sets="2021").to_dict(),
                             "lead_sets": rows})
    text = render_report(tmp_path).read_text()
    assert "the 2021 challenge's 26 classes" in text and "| PRWP |" in text and "| BBB |" in text
    assert "| 2 | I,II | 0.400 | 0.900 | 0.500 | 0.400 | 0.450 ± 0.090 |" in text
    assert (tmp_path / "figures" / "lead_sets.png").stat().st_size > 0
