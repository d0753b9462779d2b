"""Reading records: every real file in ../shared, the gain policy, and generated faults."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
from challenge_files import mat_bytes, sine_counts, write_pair
from conftest import shared_path

from ecgnet.challenge.classes import CLASS_INDEX, encode_codes
from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.files import NameClash, find_records
from ecgnet.records.header import read_dx_codes, read_header
from ecgnet.records.reader import load_mat, qrs_amplitude, read_record, record_from_arrays
from ecgnet.synth.writer import format_header

UNIT = np.ones(12, dtype=np.float32)


def _headers_in(directory: Path) -> list[Path]:
    """The headers directly in ``directory``: each shared folder is checked on its own (edge-cases/ repeats names)."""
    return sorted(directory.glob("*.hea"))


def _check_real(directory: Path) -> list[str]:
    """Every record reads as its header says; returns the names that failed with a RecordError."""
    failed = []
    for header_path in _headers_in(directory):
        try:
            record = read_record(header_path)
        except RecordError as exc:
            assert str(header_path.with_suffix("")) in exc.path.replace(".hea", "").replace(".mat", "")
            failed.append(header_path.stem)
            continue
        header = read_header(header_path)
        assert record.name == header_path.stem
        assert record.signal.shape == (12, header.num_samples) and record.signal.dtype == np.float32
        assert np.array_equal(record.labels, encode_codes(read_dx_codes(header_path))), record.name
        assert record.fs == header.fs
        amplitude = qrs_amplitude(record.signal, record.fs, UNIT)
        assert 0.3 <= amplitude <= 5.0, f"{record.name}: QRS amplitude {amplitude:.3f} mV is not physiological"
        assert sum("gain override" in w for w in record.warnings) <= 1
    return failed


def test_every_real_cinc2020_record_reads_as_its_header_says():
    directory = shared_path("data", "cinc2020-real")
    assert _check_real(directory) == []
    assert len(_headers_in(directory)) == 145


def test_every_edge_case_reads_or_fails_as_documented():
    directory = shared_path("data", "cinc2020-real", "edge-cases")
    assert _check_real(directory) == ["I0001"]
    with pytest.raises(RecordError, match="I0001.mat is missing"):
        read_record(directory / "I0001.hea")


def test_every_ptbxl_dev_record_reads():
    """How fast: ``bench/bench_records.py --read`` (the wall-clock bound lives there, not in a unit test)."""
    assert _check_real(shared_path("data", "ptbxl-dev")) == []


def test_wrong_2020_gains_are_overridden_once_with_a_warning():
    real = shared_path("data", "cinc2020-real")
    for name, gain in (("E00015", 4880), ("HR00599", 200)):
        auto = read_record(real / f"{name}.hea")
        trusted = read_record(real / f"{name}.hea", gain_policy="header")
        assert [w for w in auto.warnings if w.startswith("gain override")] == [auto.warnings[0]]
        assert f"{gain}/mV" in auto.warnings[0]
        np.testing.assert_allclose(trusted.signal * gain / 1000, auto.signal, rtol=1e-5, atol=1e-6)
        assert np.array_equal(read_record(real / f"{name}.hea", gain_policy="fixed1000").signal, auto.signal)
    correct = read_record(real / "HR00001.hea")  # 2021-corrected header, 1000/mv
    assert not any("gain" in w for w in correct.warnings)


def test_2021_copies_equal_their_2020_twins():
    real = shared_path("data", "cinc2020-real")
    for name in ("Q0002", "HR00001"):
        old, new = read_record(real / f"{name}.hea"), read_record(real / "edge-cases" / f"{name}.hea")
        assert np.array_equal(old.signal, new.signal), name
        assert (old.age, old.sex, old.fs, old.source) == (new.age, new.sex, new.fs, new.source)
    q_old, q_new = read_record(real / "Q0002.hea"), read_record(real / "edge-cases" / "Q0002.hea")
    assert np.array_equal(q_old.labels, q_new.labels) and q_old.unscored == q_new.unscored == ("164861001",)
    etest, e00009 = read_record(real / "edge-cases" / "ETEST.hea"), read_record(real / "E00009.hea")
    assert np.array_equal(etest.signal, e00009.signal) and not etest.labels.any()


def test_dx_variants_of_real_headers():
    edge = shared_path("data", "cinc2020-real", "edge-cases")
    js = read_record(edge / "JS20005.hea")  # "284470004,89792004,427084000,,427172004"
    assert {c for c in CLASS_INDEX if js.labels[CLASS_INDEX[c]]} == {"284470004", "427084000", "427172004"}
    assert js.unscored == ("89792004",)
    assert js.source == "Chapman-Shaoxing-Ningbo"
    blank = read_record(edge / "A0001.hea")
    assert not blank.labels.any() and blank.unscored == ()


# ---- generated files -------------------------------------------------------

def _counts(samples: int = 5000, fs: float = 500) -> np.ndarray:
    """12 leads of ~1 mV peak-to-peak at 1000 counts/mV, each lead distinct so reordering is visible."""
    return sine_counts(samples, fs, amplitude=400, step=20, hz=1.2)


# The generated records' fields: labels, demographics, no date (tests edit line 1) and one comment.
FIELDS = {"dx": "426783006,164861001", "age": "63", "sex": "Female", "date": None, "comments": ("#Rx: Unknown",)}


def _header_text(name: str, val: np.ndarray, fs: float = 500, **fields) -> str:
    return format_header(name, val, fs, **{**FIELDS, **fields})


def _write(tmp_path: Path, name: str, val, header: str | bytes | None = None, **fields) -> Path:
    return write_pair(tmp_path, name, val, header if header is not None else _header_text(name, np.asarray(val), **fields))


def test_generated_record_scaling_labels_and_demographics(tmp_path):
    val = (_counts() // 5).astype(np.int16)  # ~1 mV at 200 counts/mV
    record = read_record(_write(tmp_path, "X0001", val, gain="200(10)/mV"))
    np.testing.assert_allclose(record.signal, (val - 10) / 200.0, rtol=1e-6)  # a plausible 200/mV header is honoured
    assert record.warnings == ()
    assert record.labels[CLASS_INDEX["426783006"]] and record.labels.sum() == 1
    assert record.unscored == ("164861001",) and (record.age, record.sex, record.source) == (63.0, "Female", "X")


def test_leads_in_another_order_are_reordered_by_name(tmp_path):
    val = _counts()
    order = [11, 0, 5, 1, 2, 3, 4, 6, 7, 8, 9, 10]
    shuffled_leads = [LEADS[i].upper() for i in order]  # names are matched case-insensitively
    record = read_record(_write(tmp_path, "X0002", val[order], leads=shuffled_leads))
    np.testing.assert_allclose(record.signal, val / 1000.0, rtol=1e-6)
    assert any("reordered" in w for w in record.warnings)


def test_missing_or_duplicate_lead_is_an_error(tmp_path):
    val = _counts()
    leads = list(LEADS)
    leads[4] = "V7"
    with pytest.raises(RecordError, match="missing lead.*aVL"):
        read_record(_write(tmp_path, "X0003", val, leads=leads))
    leads[4] = "II"
    with pytest.raises(RecordError, match="twice"):
        read_record(_write(tmp_path, "X0004", val, leads=leads))


def test_missing_empty_truncated_and_garbage_mat_files(tmp_path):
    path = _write(tmp_path, "X0005", _counts())
    mat = path.with_suffix(".mat")
    full = mat.read_bytes()
    mat.unlink()
    with pytest.raises(RecordError, match="X0005.mat is missing") as info:
        read_record(path)
    assert info.value.path == str(path)
    mat.write_bytes(b"")
    with pytest.raises(RecordError, match="empty"):
        read_record(path)
    mat.write_bytes(full[: len(full) // 2])
    with pytest.raises(RecordError, match="truncated or corrupt") as info:
        read_record(path)
    assert info.value.path == str(mat)
    for garbage in (b"\x00" * 7, b"not a matlab file at all" * 40, np.random.default_rng(0).bytes(5000)):
        mat.write_bytes(garbage)
        with pytest.raises(RecordError):
            load_mat(mat)


def test_mat_without_val_or_with_non_numeric_val(tmp_path):
    path = _write(tmp_path, "X0006", _counts())
    path.with_suffix(".mat").write_bytes(mat_bytes(_counts(), "data"))
    with pytest.raises(RecordError, match="no variable 'val'"):
        read_record(path)
    path.with_suffix(".mat").write_bytes(mat_bytes("twelve leads"))
    with pytest.raises(RecordError, match="non-numeric"):
        read_record(path)


def test_shape_must_match_the_header(tmp_path):
    val = _counts()
    header = _header_text("X0007", val)
    with pytest.raises(RecordError, match="differs from the header"):
        read_record(_write(tmp_path, "X0007", val[:, :4000], header=header))
    with pytest.raises(RecordError, match="differs from the header"):
        read_record(_write(tmp_path, "X0008", val[:11], header=_header_text("X0008", val)))


def test_checksum_mismatch_is_only_a_warning(tmp_path):
    val = _counts()
    header = _header_text("X0009", val)
    altered = val.copy()
    altered[2, 100] += 5
    record = read_record(_write(tmp_path, "X0009", altered, header=header))
    assert any("checksum" in w and "III" in w for w in record.warnings)
    np.testing.assert_allclose(record.signal, altered / 1000.0, rtol=1e-6)


def test_few_nan_samples_are_repaired_many_are_an_error(tmp_path):
    val = _counts().astype(np.float64)
    few = val.copy()
    few[3, 10:20] = np.nan
    few[5, 7] = np.inf
    record = read_record(_write(tmp_path, "X0010", few, header=_header_text("X0010", _counts())))
    assert np.isfinite(record.signal).all() and (record.signal[3, 10:20] == 0).all()
    assert any("11 NaN/infinite" in w for w in record.warnings)
    many = val.copy()
    many[:, :4000] = np.nan
    with pytest.raises(RecordError, match="NaN or infinite"):
        read_record(_write(tmp_path, "X0011", many, header=_header_text("X0011", _counts())))


def test_flat_leads_warn_and_an_all_flat_record_is_an_error(tmp_path):
    val = _counts()
    val[7] = 0
    record = read_record(_write(tmp_path, "X0012", val))
    assert any("flat" in w and "V2" in w for w in record.warnings)
    assert not record.signal[7].any()
    with pytest.raises(RecordError, match="flat"):
        read_record(_write(tmp_path, "X0013", np.zeros((12, 5000), np.int16)))


def test_header_variants_crlf_and_non_utf8_bytes(tmp_path):
    val = _counts()
    text = _header_text("X0014", val, newline="\r\n", sex="m", age="NaN", fmt="16x1+24", gain="1000.0(0)/mv")
    text = text.replace("X0014 12", "X0014.mat 12", 1).replace("#Age", "# Age")
    raw = text.encode() + "#Hx: caf\u00e9\r\n".encode("latin-1")
    record = read_record(_write(tmp_path, "X0014", val, header=raw))
    assert (record.age, record.sex) == (None, "Male")
    np.testing.assert_allclose(record.signal, val / 1000.0, rtol=1e-6)


@pytest.mark.parametrize("gain", ["4880/mV", "2000000/mV", "306000/mV", "200/mV"])
def test_every_wrong_2020_source_gain_is_repaired(tmp_path, gain):
    """Georgia, PTB, INCART and PTB-XL headers of 2020 with counts at the true ~1000/mV."""
    val = _counts()
    record = read_record(_write(tmp_path, "X0016", val, gain=gain))
    np.testing.assert_allclose(record.signal, val / 1000.0, rtol=1e-6)
    assert len(record.warnings) == 1 and record.warnings[0].startswith(f"gain override: header gain {gain}")


def test_implausible_gain_that_1000_cannot_fix_is_kept_with_a_warning(tmp_path):
    val = (_counts() // 40).astype(np.int16)  # 0.025 mV at 1000/mV, 0.125 at 200/mV: nothing plausible
    record = read_record(_write(tmp_path, "X0015", val, gain="200/mV"))
    np.testing.assert_allclose(record.signal, val / 200.0, rtol=1e-6)
    assert any("no better" in w for w in record.warnings)
    with pytest.raises(ValueError, match="gain_policy"):
        read_record(tmp_path / "X0015.hea", gain_policy="guess")


def test_record_from_arrays_matches_read_record(tmp_path):
    real = shared_path("data", "cinc2020-real")
    for name in ("E00015", "A0001", "S0001"):
        header_path = real / f"{name}.hea"
        expected = read_record(header_path)
        data = scipy.io.loadmat(header_path.with_suffix(".mat"))["val"].astype(np.float64)  # as the driver passes it
        with open(header_path) as handle:
            lines = handle.readlines()
        for header_lines in (lines, [line.rstrip("\n") for line in lines]):
            got = record_from_arrays(data, header_lines)
            assert np.array_equal(got.signal, expected.signal) and got.warnings == expected.warnings
            assert np.array_equal(got.labels, expected.labels) and got.name == name
    with pytest.raises(RecordError, match="<driver>.*differs from the header"):
        record_from_arrays(data[:, :100], lines, where="<driver>")


def test_record_at_300_hz(tmp_path):
    val = _counts(3000, 300)
    record = read_record(_write(tmp_path, "U0001", val, fs=300))
    assert record.fs == 300 and record.signal.shape == (12, 3000)


def test_find_records_is_sorted_and_rejects_a_missing_directory(tmp_path):
    for name in ("B2", "A1"):
        (tmp_path / f"{name}.hea").write_text("x")
    (tmp_path / "notes.txt").write_text("x")
    assert [r.header.name for r in find_records(tmp_path).records] == ["A1.hea", "B2.hea"]
    with pytest.raises(RecordError, match="not a directory"):
        find_records(tmp_path / "absent")


def test_low_voltage_record_under_a_wrong_gain_is_still_repaired(tmp_path):
    """A genuinely low-voltage record (QRS about 0.45 mV at the true 1000/mV) under Georgia's 4880/mV."""
    val = _counts()
    amplitude = qrs_amplitude(val.astype(np.float32), 500.0, np.full(12, 1000.0, dtype=np.float32))
    low_voltage = np.round(val * (0.45 / amplitude)).astype(np.int16)
    record = read_record(_write(tmp_path, "X0017", low_voltage, gain="4880/mV"))
    np.testing.assert_allclose(record.signal, low_voltage / 1000.0, rtol=1e-6)
    assert record.warnings and record.warnings[0].startswith("gain override: header gain 4880/mV")


# ---- WFDB semantics ---------------------------------------------------------

def test_find_records_looks_in_sub_folders_and_sets_repeated_names_apart(tmp_path):
    for folder, name in (("Training_WFDB", "B2"), ("Training_2/g1", "A1"), ("", "C3"), (".hidden", "D4")):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / folder / f"{name}.hea").write_text("x")
    (tmp_path / ".E5.hea").write_text("x")
    found = find_records(tmp_path)
    assert [r.header.relative_to(tmp_path).as_posix() for r in found.records] == ["Training_2/g1/A1.hea", "Training_WFDB/B2.hea", "C3.hea"]
    assert found.clashes == []
    (tmp_path / "Training_2" / "b2.HEA").write_text("x")  # the same name in another case: one NAME.csv on Windows and macOS
    found = find_records(tmp_path)
    assert [r.name for r in found.records] == ["A1", "C3"]
    assert found.clashes == [NameClash("b2", (tmp_path / "Training_2" / "b2.HEA", tmp_path / "Training_WFDB" / "B2.hea"))]
    assert str(found.clashes[0].error) == (f"{tmp_path}/Training_2/b2.HEA: record name 'b2' is also used by {tmp_path}/Training_WFDB/B2.hea: "
                                           "record names must be unique (outputs are written as NAME.csv), so none of them is read")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(RecordError, match=r"empty: no records here"):
        find_records(tmp_path / "empty")


def test_the_real_folder_with_its_edge_cases_repeats_names_and_says_which():
    real = shared_path("data", "cinc2020-real")
    found = find_records(real)
    repeated = {clash.name: clash.paths for clash in found.clashes}
    assert repeated and all(paths == (real / f"{name}.hea", real / "edge-cases" / f"{name}.hea") for name, paths in repeated.items())
    assert len(found.records) + len(repeated) == len({p.stem for p in real.rglob("*.hea")})


def _with_gap(value: float, dtype) -> np.ndarray:
    val = _counts().astype(dtype)
    val[7, 1000:1500] = value  # 1 s of V2
    return val


def test_invalid_sample_value_reads_exactly_like_nan(tmp_path):
    """WFDB's invalid value of format 16 (-32768) is a missing sample, like NaN: same signal, one warning."""
    header = _header_text("X0020", _with_gap(-32768, np.int16))  # checksums of the samples as stored
    invalid = read_record(_write(tmp_path, "X0020", _with_gap(-32768, np.int16), header=header))
    nan = read_record(_write(tmp_path, "X0021", _with_gap(np.nan, np.float64), header=header.replace("X0020", "X0021")))
    assert np.array_equal(invalid.signal, nan.signal) and (invalid.signal[7, 1000:1500] == 0).all()
    assert invalid.warnings == nan.warnings and len(invalid.warnings) == 1
    assert "500 NaN/infinite or invalid sample(s)" in invalid.warnings[0] and "lead(s) V2" in invalid.warnings[0]
    driver = record_from_arrays(_with_gap(-32768, np.int16).astype(np.float64), header.replace("X0020", "X0022"))  # as the driver hands it
    assert np.array_equal(driver.signal, invalid.signal) and driver.warnings == invalid.warnings
    unrepaired = read_record(tmp_path / "X0020.hea", repair=False)
    assert np.isnan(unrepaired.signal[7, 1000:1500]).all() and np.isfinite(np.delete(unrepaired.signal, np.s_[1000:1500], axis=1)).all()


def test_invalid_value_depends_on_the_format_and_too_many_are_refused(tmp_path):
    val = _counts() // 20  # within format 212's 12-bit range
    val[2, :50] = -2048
    header = _header_text("X0023", val, fmt="212")
    record = read_record(_write(tmp_path, "X0023", val, header=header), gain_policy="header")
    assert (record.signal[2, :50] == 0).all() and "-2048 in format 212" in record.warnings[-1]
    as_16 = read_record(_write(tmp_path, "X0024", val, header=_header_text("X0024", val)), gain_policy="header")
    assert as_16.signal[2, 0] == pytest.approx(-2.048)  # -2048 is an ordinary sample in format 16
    many = _counts()
    many[:, :1000] = -32768
    with pytest.raises(RecordError, match=r"X0025\.mat: 20% of the samples are NaN or infinite or the format's invalid value"):
        read_record(_write(tmp_path, "X0025", many, header=_header_text("X0025", _counts())))


@pytest.mark.parametrize("policy", ["auto", "header", "fixed1000"])
def test_gain_units_convert_to_counts_per_mv_under_every_policy(tmp_path, policy):
    val = (_counts() * 2).astype(np.int16)  # ~1 mV at 2000 counts/mV
    reference = read_record(_write(tmp_path, "X0030", val, gain="2000/mV"), gain_policy=policy)
    for k, gain in enumerate(("2/uV", "2/UV", "2000/MV", "2000/mv", "2000000/V", "2000")):
        record = read_record(_write(tmp_path, f"X003{k + 1}", val, gain=gain), gain_policy=policy)
        assert np.array_equal(record.signal, reference.signal), gain
        assert record.warnings == reference.warnings, gain
    if policy != "fixed1000":
        np.testing.assert_allclose(reference.signal, val / 2000.0, rtol=1e-6)


def test_unknown_gain_units_are_an_error_and_overrides_quote_the_header(tmp_path):
    with pytest.raises(RecordError, match=r"X0040\.hea: gain '1000/mmHg' of lead I is in unknown units 'mmHg'"):
        read_record(_write(tmp_path, "X0040", _counts(), gain="1000/mmHg"), gain_policy="fixed1000")
    record = read_record(_write(tmp_path, "X0041", _counts(), gain="4.88/uV"))  # Georgia's wrong 4880/mV, written in uV
    np.testing.assert_allclose(record.signal, _counts() / 1000.0, rtol=1e-6)
    assert record.warnings[0].startswith("gain override: header gain 4.88/uV gives an implausible QRS amplitude")


def test_gain_check_ignores_rail_clipped_and_missing_samples(tmp_path):
    """Georgia-like: true 1000/mV counts under its wrong 4880/mV, seven leads saturated at the 16-bit rails."""
    val = _counts().astype(np.int32)
    val[:7, ::50] = 32767  # spikes to the rails every 0.1 s: each 2-s segment's peak-to-peak is the ADC's full range
    val[:7, 25::50] = -32767
    val[:7, 10::50] = -32768  # and WFDB's invalid value
    val = val.astype(np.int16)
    record = read_record(_write(tmp_path, "E09001", val, header=_header_text("E09001", val, gain="4880/mV")))
    assert record.warnings[0].startswith("gain override: header gain 4880/mV"), record.warnings
    assert record.signal[8, 0] == pytest.approx(val[8, 0] / 1000.0)
    assert qrs_amplitude(np.where(np.abs(val) >= 32767, np.nan, val).astype(np.float32), 500.0, np.full(12, 1000.0)) == pytest.approx(
        qrs_amplitude(_counts()[7:].astype(np.float32), 500.0, np.full(5, 1000.0)))


def test_a_record_too_short_to_hold_a_beat_is_refused_like_a_flat_one(tmp_path):
    with pytest.raises(RecordError, match=r"S9003\.hea: record is too short: 3 samples at 1000 Hz \(0\.003 s\)"):
        read_record(_write(tmp_path, "S9003", _counts(3, 1000), fs=1000))
    with pytest.raises(RecordError, match=r"too short: 950 samples at 500 Hz"):
        record_from_arrays(_counts(950).astype(np.float64), _header_text("S9004", _counts(950)), where="S9004")
    assert read_record(_write(tmp_path, "S9005", _counts(1000), fs=500)).signal.shape == (12, 1000)  # exactly 2 s


def test_the_sample_count_may_be_absent_from_line_1(tmp_path):
    val = _counts()
    text = _header_text("X0050", val).replace("X0050 12 500 5000", "X0050 12 500", 1)
    record = read_record(_write(tmp_path, "X0050", val, header=text))
    assert record.signal.shape == (12, 5000)
    np.testing.assert_allclose(record.signal, val / 1000.0, rtol=1e-6)


def test_the_finder_pairs_headers_and_mat_files_ignoring_case(tmp_path):
    """Each record once, by its header's name: a header alone (WFDB or signal missing), a .mat alone (header missing)."""
    for folder, file_name in (("g1", "E1.mat"), ("g1", "E1.hea"), ("g2", "A1.HEA"), ("g2", "A1.mat"), ("g2", "A2.hea"),
                              ("g2", "A3.Mat"), ("g2", "a4.hEa"), ("g2", "A4.MAT")):
        (tmp_path / folder).mkdir(exist_ok=True)
        (tmp_path / folder / file_name).write_bytes(b"x")
    found = find_records(tmp_path)
    g1, g2 = tmp_path / "g1", tmp_path / "g2"
    assert [(r.name, r.header, r.mat) for r in found.records] == [
        ("A1", g2 / "A1.HEA", g2 / "A1.mat"), ("A2", g2 / "A2.hea", None), ("A3", None, g2 / "A3.Mat"),
        ("E1", g1 / "E1.hea", g1 / "E1.mat"), ("a4", g2 / "a4.hEa", g2 / "A4.MAT")]
    assert [r.path for r in found.records] == [g2 / "A1.mat", g2 / "A2.hea", g2 / "A3.Mat", g1 / "E1.mat", g2 / "A4.MAT"]
    (g2 / "A1.MAT").write_bytes(b"x")  # NAME.mat as the challenge spells it wins: A1.HEA keeps A1.mat, and A1.MAT repeats the name
    assert {c.name: c.paths for c in find_records(tmp_path).clashes} == {"A1": (g2 / "A1.HEA", g2 / "A1.MAT")}


@pytest.mark.parametrize("rail", [32767, -32767])
def test_either_rail_alone_is_ignored_by_the_gain_check(tmp_path, rail):
    """Seven leads whose every 2-s segment touches one rail (the bottom one reads -32767: -32768 is WFDB's invalid value)."""
    val = _counts().astype(np.int32)
    val[:7, ::50] = rail
    val = val.astype(np.int16)
    record = read_record(_write(tmp_path, "E09002", val, header=_header_text("E09002", val, gain="4880/mV")))
    assert record.warnings[0].startswith("gain override: header gain 4880/mV"), record.warnings
