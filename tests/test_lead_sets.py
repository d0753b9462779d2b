"""Lead sets: reduced-lead records are read, a model of the 2021 lead sets reads each record through the largest set it
holds (the rest dropped with a warning), a twelve-lead model refuses them as before, and the API takes named leads."""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from model_dirs import random_model_dir

from ecgnet.api import Classifier
from ecgnet.config import PRESETS, Config, parse_lead_sets
from ecgnet.errors import ModelDirError, RecordError
from ecgnet.inference.ensemble import Ensemble
from ecgnet.inference.predict import classify, load_model
from ecgnet.leads import LEAD_SETS_2021, LEADS
from ecgnet.records.reader import read_record
from ecgnet.synth import generate_record
from ecgnet.synth.writer import format_header, to_adc

REPO = Path(__file__).resolve().parents[1]
SMOKE_2021 = PRESETS["smoke"].replace(challenge="2021", lead_sets="2021", lead_networks="one")


def _model_dir(folder: Path, config: Config) -> Path:
    folder.mkdir()
    return random_model_dir(folder, folds=2, config=config)


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[Path, Path]:
    """(a random 2021 model of one network for the five lead sets, a random twelve-lead 2020 model)."""
    tmp = tmp_path_factory.mktemp("lead_sets")
    return _model_dir(tmp / "2021", SMOKE_2021), _model_dir(tmp / "2020", PRESETS["smoke"])


def write_reduced(folder: Path, name: str, leads: tuple[str, ...], index: int = 0) -> Path:
    """A 10-s 500 Hz synthetic record holding only ``leads`` (in that order), as the 2021 extraction writes one."""
    signal, fs, age, sex, codes = generate_record(index, 9, fs=500.0, duration=10.0)
    adc = to_adc(signal[[LEADS.index(lead) for lead in leads]])
    folder.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(folder / f"{name}.mat", {"val": adc}, format="4")
    (folder / f"{name}.hea").write_text(format_header(name, adc, fs, leads=leads, age=str(int(age or 60)), sex=sex, dx=",".join(codes)))
    return folder / f"{name}.hea"


def test_lead_sets_are_named_by_the_2021_sets_or_listed():
    assert parse_lead_sets("2021") == LEAD_SETS_2021 and parse_lead_sets("12") == (LEADS,)
    assert parse_lead_sets("ii, i; v2,I,II") == (("I", "II", "V2"), ("I", "II"))
    for bad, why in (("I,X", "unknown lead"), ("I,I", "named twice"), ("I,II;II,I", "lead set twice")):
        with pytest.raises(ValueError, match=why):
            parse_lead_sets(bad)


def test_a_reduced_lead_record_is_read_with_the_leads_it_holds(tmp_path):
    header = write_reduced(tmp_path, "R2", ("II", "I"))
    with pytest.raises(RecordError, match=r"missing lead\(s\) III, aVR"):
        read_record(header)  # a reading for a twelve-lead model: refused, as before
    record = read_record(header, all_leads=False)
    assert record.leads == ("I", "II") and record.signal.shape[0] == 12
    assert np.ptp(record.signal[:2], axis=1).all() and not record.signal[2:].any()
    assert "leads reordered to the standard order" in record.warnings


def test_each_record_is_read_through_the_largest_lead_set_it_holds(models):
    ensemble = Ensemble.load(models[0])
    assert ensemble.lead_set_for(LEADS) == (LEADS, None)
    assert ensemble.lead_set_for(("I", "II", "III", "V2")) == (("I", "II", "III", "V2"), None)
    chosen, warning = ensemble.lead_set_for(("I", "II", "V1", "V2", "V5"))
    assert chosen == ("I", "II", "V2") and "V1, V5 dropped" in warning
    with pytest.raises(RecordError, match="none of the lead sets this model reads"):
        ensemble.lead_set_for(("I", "V2"))
    with pytest.raises(RecordError, match=r"missing lead\(s\) III, .*this model reads the twelve leads only"):
        Ensemble.load(models[1]).lead_set_for(("I", "II"))


def test_the_api_takes_named_leads_in_any_order(models):
    signal, fs, *_ = generate_record(2, 9, fs=500.0, duration=10.0)
    model = Classifier.load(models[0])
    as_dict = model.classify_signal({"II": signal[1], "I": signal[0]}, fs=fs, age=50, sex="Female")
    as_rows = model.classify_signal(signal[[0, 1]], fs=fs, age=50, sex="Female", leads=["i", "ii"])
    as_twelve = model.classify_signal(signal[[0, 1, 6]], fs=fs, age=50, sex="Female", leads=["I", "II", "V1"])
    assert as_dict.probabilities.shape == (26,) and np.array_equal(as_dict.probabilities, as_rows.probabilities)
    assert np.array_equal(as_twelve.probabilities, as_rows.probabilities) and "V1 dropped" in as_twelve.warnings[-1]
    assert as_dict.classes[0].abbreviation == "AF" and len(as_dict.classes) == 26
    with pytest.raises(ValueError, match="unknown lead"):
        model.classify_signal({"I": signal[0], "Z": signal[1]}, fs=fs)
    with pytest.raises(RecordError, match="twelve leads only"):
        Classifier.load(models[1]).classify_signal({"I": signal[0], "II": signal[1]}, fs=fs)


def test_the_2021_contract_loads_a_model_per_lead_set_and_answers_in_its_classes(models, tmp_path, caplog):
    sys.path.insert(0, str(REPO))
    try:
        import team_code
    finally:
        sys.path.remove(str(REPO))
    header = write_reduced(tmp_path, "R6", LEAD_SETS_2021[1])
    text = header.read_text()
    recording = scipy.io.loadmat(header.with_suffix(".mat"))["val"]
    model = team_code.load_model(str(models[0]), LEAD_SETS_2021[1])
    classes, labels, probabilities = team_code.run_model(model, text, recording)
    assert len(classes) == len(labels) == len(probabilities) == 26 and any(labels)
    with pytest.raises(ModelDirError, match="twelve leads only"):
        team_code.load_model(str(models[1]), ("I", "II"))
    with caplog.at_level(logging.ERROR):  # a twelve-lead model under the 2020 contract: refused as before, never raised
        assert classify(load_model(models[1]), recording, text) == ([], [], [])
    assert "missing lead(s)" in caplog.text


def test_driver_reads_a_folder_of_mixed_lead_sets_with_a_2021_model_and_refuses_them_with_a_2020_one(models, tmp_path):
    folder = tmp_path / "mixed"
    for k, leads in enumerate(LEAD_SETS_2021):
        write_reduced(folder, f"R{len(leads):02d}", leads, index=k)
    for model, status in ((models[0], 0), (models[1], 1)):
        out = tmp_path / f"out_{model.name}"
        done = subprocess.run([sys.executable, REPO / "test_model.py", model, folder, out], capture_output=True, text=True,
                              timeout=300, env={"PYTHONPATH": str(REPO), "ECGNET_QUIET": "1", "PATH": "/usr/bin:/bin"})
        assert done.returncode == status, done.stderr[-3000:]
        lines = {p.stem: p.read_text().splitlines() for p in out.glob("*.csv")}
        assert sorted(lines) == ["R02", "R03", "R04", "R06", "R12"]
        if status == 0:
            assert all(len(text[1].split(",")) == 26 for text in lines.values())
        else:
            assert lines["R12"][1] and not any(lines[name][1] for name in ("R02", "R03", "R04", "R06"))
            assert "missing lead(s)" in done.stderr


def test_a_model_of_one_ensemble_per_lead_set_sends_each_record_to_its_sets_ensemble(tmp_path):
    from ecgnet.fileio import lead_set_dir
    from ecgnet.inference.ensemble import LeadSetEnsembles, load_ensemble
    from ecgnet.modeldir import write_lead_set_models

    config = SMOKE_2021.replace(lead_networks="per_set")
    for leads in config.trained_lead_sets:
        _model_dir(lead_set_dir(tmp_path, leads), config.member(leads))
    write_lead_set_models(tmp_path, config)
    model = load_ensemble(tmp_path)
    assert isinstance(model, LeadSetEnsembles) and len(model.members) == 5
    records = [read_record(write_reduced(tmp_path / "records", f"R{k}", leads, index=k), all_leads=False)
               for k, leads in enumerate(((*LEAD_SETS_2021[2], "V5"), LEADS, LEAD_SETS_2021[4]))]
    outputs, scores = model.predict_records(records, [record.leads for record in records])
    for record, expected_set, row in zip(records, (LEAD_SETS_2021[2], LEADS, LEAD_SETS_2021[4]), scores):
        alone = model.members[expected_set].predict_record(record, record.leads)[1]
        np.testing.assert_allclose(row, alone, rtol=0, atol=1e-6)
    assert load_model(tmp_path, LEAD_SETS_2021[3]).config.trained_lead_sets == (LEAD_SETS_2021[3],)
    with pytest.raises(ModelDirError, match="one model directory per lead set"):
        Ensemble.load(tmp_path)
