"""The Python entry (``ecgnet.api``): one record in, named probabilities and labels out; bad input raises."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_dirs import random_model_dir

from ecgnet.api import Classifier, signal_record
from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES
from ecgnet.config import PRESETS
from ecgnet.errors import RecordError
from ecgnet.inference.predict import load_challenge_data
from ecgnet.records.reader import read_record
from ecgnet.synth import generate_dataset
from team_code import run_12ECG_classifier

CONFIG = PRESETS["smoke"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Classifier:
    """An untrained 3-fold smoke ensemble: the API's plumbing, not its accuracy, is under test."""
    return Classifier.load(random_model_dir(tmp_path_factory.mktemp("model"), folds=3, config=CONFIG), device="cpu")


@pytest.fixture(scope="module")
def header(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("records"), 1, seed=3, workers=1, fs_choices=[500], duration_range=(10, 10))[0]


def test_a_record_file_gets_named_probabilities_and_the_contracts_answer(model, header):
    result = model.classify_file(header)
    assert [c.code for c in result.classes] == list(CLASSES) and [c.abbreviation for c in result.classes] == list(ABBREVIATIONS)
    assert result.probabilities.shape == (24,) and result.labels.dtype == bool
    assert result.diagnoses and all(c.label for c in result.diagnoses)
    assert [c.probability for c in result.diagnoses] == sorted((c.probability for c in result.diagnoses), reverse=True)
    labels, scores, classes = run_12ECG_classifier(*load_challenge_data(header.with_suffix(".mat")), model.ensemble)
    assert classes == list(CLASSES) and labels == [int(x) for x in result.labels]
    np.testing.assert_allclose(scores, result.probabilities, rtol=0, atol=1e-12)
    assert model.classify_file(header.with_suffix(".mat")).probabilities.tolist() == result.probabilities.tolist()


def test_an_array_in_millivolts_gets_the_same_answer_as_its_file(model, header):
    record = read_record(header)
    from_file = model.classify_file(header)
    from_array = model.classify_signal(record.signal.astype(np.float64), fs=record.fs, age=record.age, sex=record.sex)
    np.testing.assert_allclose(from_array.probabilities, from_file.probabilities, rtol=0, atol=1e-6)
    assert from_array.labels.tolist() == from_file.labels.tolist()


def test_a_path_where_an_array_belongs_is_an_error_not_a_normal_answer(model, header):
    for path in (str(header), header, bytes(str(header), "utf-8")):
        with pytest.raises(TypeError, match="classify_file"):
            model.classify_signal(path, fs=500)
    with pytest.raises(TypeError, match="classify_signal"):
        model.classify_file(np.zeros((12, 5000)))


@pytest.mark.parametrize("change, message", [
    (lambda s: s.T, r"pass signal.T"),
    (lambda s: s[:11], r"shape \(12, N\)"),
    (lambda s: s[:, :0], r"N > 0"),
    (lambda s: np.where(np.arange(s.shape[1]) == 7, np.nan, s), "NaN or infinite"),
    (lambda s: np.ones_like(s), "flat"),
    (lambda s: s.astype(str), "numeric"),
])
def test_an_unusable_array_says_what_is_wrong(model, change, message):
    signal = np.random.default_rng(0).normal(0, 0.3, (12, 5000))
    with pytest.raises((ValueError, TypeError), match=message):
        model.classify_signal(change(signal), fs=500)


@pytest.mark.parametrize("keywords, message", [
    ({"fs": 0}, "fs must be"), ({"fs": float("nan")}, "fs must be"), ({"fs": "500"}, "fs must be"),
    ({"fs": 500, "age": -1}, "age must be"), ({"fs": 500, "age": 200}, "age must be"),
    ({"fs": 500, "sex": "x"}, "sex must be"), ({"fs": 500, "sex": 1}, "sex must be"),
])
def test_bad_sampling_rate_age_or_sex_is_an_error(keywords, message):
    with pytest.raises(ValueError, match=message):
        signal_record(np.random.default_rng(0).normal(0, 0.3, (12, 5000)), **keywords)


def test_sex_spellings_and_unknown_demographics_are_accepted():
    signal = np.random.default_rng(0).normal(0, 0.3, (12, 5000))
    assert signal_record(signal, 500, 60, "f").sex == "Female" and signal_record(signal, 500, sex=" MALE ").sex == "Male"
    unknown = signal_record(signal, 500)
    assert unknown.age is None and unknown.sex is None and unknown.signal.dtype == np.float32


def test_a_missing_record_names_the_file(model, tmp_path):
    with pytest.raises(RecordError, match="A0001.hea"):
        model.classify_file(tmp_path / "A0001.hea")
