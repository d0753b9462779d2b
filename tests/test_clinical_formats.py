"""Clinical ECG files (DICOM, GE MUSE XML, HL7 aECG) read into the same ``Record`` as a WFDB record of the same signal,
classified alike; a real DICOM ECG that ships with pydicom read as its maker wrote it; broken files named with the problem."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from clinical_files import INDEPENDENT, aecg_xml, einthoven_counts, muse_xml, write_dicom
from model_dirs import random_model_dir
from pydicom.data import get_testdata_file

from ecgnet.api import Classifier
from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.formats import find_inputs, read_any
from ecgnet.synth.writer import write_record

FS = 500


@pytest.fixture(scope="module")
def counts() -> np.ndarray:
    return einthoven_counts(fs=FS)


@pytest.fixture(scope="module")
def files(tmp_path_factory, counts) -> dict[str, Path]:
    """The same 10-s signal (age 64, male) as a WFDB record, a DICOM file, an 8-lead MUSE file and an aECG file."""
    folder = tmp_path_factory.mktemp("same_signal")
    (folder / "muse.xml").write_text(muse_xml(counts, FS), encoding="latin-1")
    (folder / "aecg.xml").write_text(aecg_xml(counts, FS), encoding="utf-8")
    return {"wfdb": write_record(folder, "wfdb", counts / 1000, FS, 64, "Male", ()),
            "dicom": write_dicom(folder / "dicom.dcm", counts, FS), "muse": folder / "muse.xml", "aecg": folder / "aecg.xml"}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Classifier:
    """An untrained 3-fold smoke ensemble: equal inputs must give equal outputs, whatever the weights."""
    return Classifier.load(random_model_dir(tmp_path_factory.mktemp("model")), device="cpu")


def test_pydicoms_real_ecg_gives_its_rhythm_waveform_in_millivolts_with_age_and_sex():
    path = get_testdata_file("waveform_ecg.dcm")  # made by an ECG cart's software, shipped with pydicom
    record = read_any(path)
    assert (record.fs, record.signal.shape, record.age, record.sex) == (1000.0, (12, 10000), 42.0, "Female")
    rhythm = pydicom.dcmread(path).waveform_array(0).T  # pydicom's own reading, in its units (uV): the 10-s group, not the 1.2-s medians
    np.testing.assert_allclose(record.signal, rhythm / 1000, rtol=0, atol=1e-6)
    assert record.warnings == ()


@pytest.mark.parametrize("kind", ["dicom", "muse", "aecg"])
def test_a_clinical_file_gives_the_signal_demographics_and_outputs_of_the_wfdb_record(files, model, kind):
    wfdb, record = read_any(files["wfdb"]), read_any(files[kind])
    assert (record.name, record.fs, record.age, record.sex) == (kind, wfdb.fs, wfdb.age, wfdb.sex) == (kind, 500.0, 64.0, "Male")
    # MUSE stores I, II, V1-V6: its III, aVR, aVL and aVF are derived (float64 mV, so the last float32 bit may differ).
    np.testing.assert_allclose(record.signal, wfdb.signal, rtol=0, atol=1e-6 if kind == "muse" else 0)
    assert record.warnings == ()
    expected, answer = model.classify_record(wfdb), model.classify_record(record)
    assert answer.labels.tolist() == expected.labels.tolist()
    np.testing.assert_allclose(answer.probabilities, expected.probabilities, rtol=0, atol=1e-6)


def test_real_exports_spellings_and_scales_are_read(tmp_path, counts):
    """Lead names with prefixes and in other cases, the micro sign, mV, a scale other than 1 uV, no namespace, no optional fields."""
    spelled = {"I": "Lead I (Einthoven)", "aVR": "lead aVR", "V1": "V1 (Wilson)"}
    dicom = read_any(write_dicom(tmp_path / "a.DCM", counts, FS, labels=spelled, units="\u00b5V", groups=("RHYTHM",)))
    muse = read_any(_text(tmp_path / "b.XML", muse_xml(counts * 2, FS, per_bit="0.5", units="microvolts", crc=False, doctype=False,
                                                      lead_ids={"V4": "v4"}, age="768", age_units="MONTHS", gender="male")))
    aecg = read_any(_text(tmp_path / "c.xml", aecg_xml(counts, FS, codes={"aVL": "MDC_ECG_LEAD_aVL"}, scale="0.001", units="mV",
                                                      increment="2", increment_unit="ms")
                          .replace(' xmlns="urn:hl7-org:v3"', "")))
    for record in (dicom, muse, aecg):
        np.testing.assert_allclose(record.signal, counts / 1000, rtol=0, atol=1e-6)
        assert (record.fs, record.age, record.sex) == (500.0, 64.0, "Male")


def test_unknown_demographics_are_unknown_not_guessed(tmp_path, counts):
    dicom = read_any(write_dicom(tmp_path / "a.dcm", counts, FS, age=None, sex="O"))
    from_birth = read_any(write_dicom(tmp_path / "b.dcm", counts, FS, age=None, birth_date="19560101"))
    muse = read_any(_text(tmp_path / "c.xml", muse_xml(counts, FS, age=None, gender="UNKNOWN")))
    aecg = read_any(_text(tmp_path / "d.xml", aecg_xml(counts, FS, birth=None, gender="UN")))
    assert [(r.age, r.sex) for r in (dicom, muse, aecg)] == [(None, None)] * 3
    assert round(from_birth.age, 1) == 64.0


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _broken(tmp_path: Path, counts: np.ndarray) -> dict[str, tuple[Path, str]]:
    eleven = [lead for lead in INDEPENDENT if lead != "V3"]
    return {
        "dicom only medians": (write_dicom(tmp_path / "m.dcm", counts, FS, groups=("MEDIAN BEAT",)), "no rhythm waveform"),
        "dicom unknown units": (write_dicom(tmp_path / "u.dcm", counts, FS, units="mmHg"), "unknown amplitude units 'mmHg'"),
        "dicom lead missing": (write_dicom(tmp_path / "l.dcm", counts, FS, leads=LEADS[:8] + LEADS[9:]), r"missing lead\(s\) V3"),
        "not dicom": (_text(tmp_path / "n.dcm", "hello"), "not a DICOM file"),
        "muse lead missing": (_text(tmp_path / "v3.xml", muse_xml(counts, FS, leads=eleven)), r"missing lead\(s\) V3"),
        "muse only medians": (_text(tmp_path / "md.xml", muse_xml(counts, FS, waveform_types=("Median",))), "no rhythm waveform"),
        "muse bad base64": (_text(tmp_path / "b64.xml", muse_xml(counts, FS, data={"V2": "***"})), "lead V2: WaveFormData is not valid base64"),
        "muse unknown units": (_text(tmp_path / "mu.xml", muse_xml(counts, FS, units="FURLONGS")), "unknown amplitude units 'FURLONGS'"),
        "muse truncated": (_text(tmp_path / "t.xml", muse_xml(counts, FS)[:5000]), "not well-formed XML"),
        "aecg no interval": (_text(tmp_path / "i.xml", aecg_xml(counts, FS, increment="")), "no sampling interval"),
        "aecg too short": (_text(tmp_path / "s.xml", aecg_xml(counts[:, :400], FS)), "too short"),
        "other xml": (_text(tmp_path / "o.xml", "<html><body/></html>"), "neither GE MUSE's <RestingECG> nor HL7 aECG's"),
        "entities": (_text(tmp_path / "e.xml", '<!DOCTYPE a [<!ENTITY x "y">]><RestingECG>&x;</RestingECG>'), "XML refused"),
        "unsupported": (_text(tmp_path / "notes.txt", "12-lead ECG"), "not a supported ECG file"),
        "missing": (tmp_path / "absent.dcm", "no such file"),
    }


def test_broken_files_are_refused_with_the_file_and_the_problem(tmp_path, counts):
    for case, (path, message) in _broken(tmp_path, counts).items():
        with pytest.raises(RecordError, match=message) as error:
            read_any(path)
        assert error.value.path == str(path), case


def test_a_damaged_muse_lead_is_read_with_a_warning(tmp_path, counts):
    text = muse_xml(counts, FS).replace("<LeadDataCRC32>", "<LeadDataCRC32>1", 1)  # the median's first lead: not read
    text = text.replace("<LeadID>II</LeadID><LeadSampleSize>2</LeadSampleSize><LeadDataCRC32>",
                        "<LeadID>II</LeadID><LeadSampleSize>2</LeadSampleSize><LeadDataCRC32>9", 2)
    record = read_any(_text(tmp_path / "crc.xml", text))
    assert record.warnings == ("CRC32 of lead II's data differs from LeadDataCRC32 (the data may be damaged)",)


def test_inputs_are_found_in_folders_globs_and_names(tmp_path, counts):
    (tmp_path / "deep" / "er").mkdir(parents=True)
    header = write_record(tmp_path / "deep", "A1", counts / 1000, FS, 64, "Male", ())
    dicom = write_dicom(tmp_path / "deep" / "er" / "b.DCM", counts, FS)
    xml = _text(tmp_path / "c.xml", muse_xml(counts, FS))
    lone_mat = tmp_path / "deep" / "er" / "Z9.mat"
    lone_mat.write_bytes(header.with_suffix(".mat").read_bytes())
    (tmp_path / "notes.txt").write_text("not a record")
    (tmp_path / ".hidden").mkdir()
    write_dicom(tmp_path / ".hidden" / "h.dcm", counts, FS)
    assert find_inputs([tmp_path]) == [xml, header, lone_mat, dicom]
    assert find_inputs([str(tmp_path / "**" / "*.*"), xml]) == [xml, header, lone_mat, dicom]
    assert find_inputs([tmp_path / "notes.txt", header.with_suffix(".mat"), "nothing*.xml"]) == [
        tmp_path / "notes.txt", header.with_suffix(".mat"), Path("nothing*.xml")]
