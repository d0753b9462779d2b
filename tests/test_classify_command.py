"""``python -m ecgnet classify``: files, folders and globs of any supported format in, one row per file out; a bad file
is a failed row with its reason (and exit status 1) while the others are classified; an existing output is never replaced
silently."""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import numpy as np
import pytest
from clinical_files import einthoven_counts, muse_xml, write_dicom
from model_dirs import random_model_dir

from ecgnet.api import Classifier
from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES, description
from ecgnet.cli import main
from ecgnet.records.formats import read_any
from ecgnet.synth.writer import write_record

FS = 500


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return random_model_dir(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A folder: a WFDB record, a DICOM file in a sub-folder, a MUSE file, and a MUSE file without its V3."""
    folder = tmp_path_factory.mktemp("inputs")
    counts = einthoven_counts(fs=FS)
    write_record(folder, "A1", counts / 1000, FS, 64, "Male", ())
    (folder / "sub").mkdir()
    write_dicom(folder / "sub" / "b.dcm", counts, FS)
    (folder / "c.xml").write_text(muse_xml(counts, FS), encoding="latin-1")
    (folder / "d.xml").write_text(muse_xml(counts, FS, leads=("I", "II", "V1", "V2", "V4", "V5", "V6")), encoding="latin-1")
    return folder


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_a_folder_gives_one_row_per_file_and_the_bad_one_fails_alone(model_dir, inputs, tmp_path, caplog):
    out = tmp_path / "answers.csv"
    with caplog.at_level(logging.INFO):
        assert main(["classify", str(model_dir), str(inputs), "--out", str(out)]) == 1
    rows = {Path(row["path"]).name: row for row in _csv(out)}
    assert list(rows) == ["A1.hea", "c.xml", "d.xml", "b.dcm"]
    assert rows["d.xml"]["status"] == "failed" and "missing lead(s) V3" in rows["d.xml"]["error"]
    assert all(rows["d.xml"][abbreviation] == "" for abbreviation in ABBREVIATIONS)
    assert f"{inputs / 'd.xml'}: missing lead(s) V3" in caplog.text and "1 of 4 file(s) failed" in caplog.text
    model = Classifier.load(model_dir, device="cpu")
    for name in ("A1.hea", "c.xml", "b.dcm"):
        row = rows[name]
        expected = model.classify_record(read_any(row["path"]))
        assert row["status"] == "classified" and row["error"] == ""
        np.testing.assert_allclose([float(row[a]) for a in ABBREVIATIONS], expected.probabilities, rtol=0, atol=1e-6)
        assert row["codes"].split("; ") == [c.code for c in expected.diagnoses]
        assert row["abbreviations"].split("; ") == [c.abbreviation for c in expected.diagnoses]
        assert row["names"].split("; ") == [description(c.code) for c in expected.diagnoses]


def test_json_output_carries_the_same_answers_and_the_class_table(model_dir, inputs, tmp_path):
    csv_out, json_out = tmp_path / "a.csv", tmp_path / "a.JSON"
    pattern = str(inputs / "**" / "*.dcm")
    assert main(["classify", str(model_dir), pattern, str(inputs / "A1.hea"), "--out", str(csv_out)]) == 0
    assert main(["classify", str(model_dir), pattern, str(inputs / "A1.hea"), "--out", str(json_out)]) == 0
    document = json.loads(json_out.read_text())
    assert [c["code"] for c in document["classes"]] == list(CLASSES)
    for row, entry in zip(_csv(csv_out), document["records"], strict=True):
        assert entry["path"] == row["path"] and entry["status"] == "classified"
        assert entry["probabilities"] == {a: float(row[a]) for a in ABBREVIATIONS}
        assert [d["code"] for d in entry["diagnoses"]] == row["codes"].split("; ")
        assert [d["probability"] for d in entry["diagnoses"]] == sorted((d["probability"] for d in entry["diagnoses"]), reverse=True)


def test_an_existing_output_is_kept_unless_forced(model_dir, inputs, tmp_path, caplog):
    out = tmp_path / "mine.csv"
    out.write_text("my notes\n")
    assert main(["classify", str(model_dir), str(inputs / "c.xml"), "--out", str(out)]) == 2
    assert out.read_text() == "my notes\n" and "exists" in caplog.text and "--force" in caplog.text
    assert main(["classify", str(model_dir), str(inputs / "c.xml"), "--out", str(out), "--force"]) == 0
    assert [row["status"] for row in _csv(out)] == ["classified"]


def test_without_out_the_table_goes_to_stdout_and_nothing_found_is_an_error(model_dir, inputs, tmp_path, capsys):
    assert main(["classify", str(model_dir), str(inputs / "c.xml"), str(tmp_path / "absent.xml")]) == 1
    lines = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(Path(r["path"]).name, r["status"], r["error"]) for r in lines] == [
        ("c.xml", "classified", ""), ("absent.xml", "failed", "no such file")]
    assert main(["classify", str(model_dir), str(tmp_path)]) == 2  # an empty folder: nothing to classify
    assert main(["classify", str(model_dir), str(inputs), "--out", str(tmp_path / "a.txt")]) == 2
