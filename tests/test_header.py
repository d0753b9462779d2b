"""Header parsing (the header half of ``ecgnet.records``): every variant of the 2020/2021 releases, and clean errors on broken text."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_path

from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.header import DEFAULT_GAIN, counts_per_mv, parse_header, read_dx_codes, read_header
from ecgnet.synth.writer import format_header

# A0001's counts as far as its header tells: 7500 samples, lead k starting at k and summing to 100 + k.
_COUNTS = np.zeros((12, 7500), np.int64)
_COUNTS[:, 0], _COUNTS[:, 1] = np.arange(12), 100


def _text(record_line: str | None = None, gain: str = "16+24 1000/mV", comments=("#Age: 74", "#Sex: Male", "#Dx: 59118001")) -> str:
    """A0001's header from the fixture writer (format_header).

    The record line, the format + gain field and the comment lines are the literal text each test is about.
    """
    fmt, gain_field = gain.split(" ", 1)
    lines = format_header("A0001", _COUNTS, 500, fmt=fmt, gain=gain_field, date="05-Feb-2020 11:39:16").splitlines()
    return "\n".join([record_line or lines[0], *lines[1:13], *comments]) + "\n"


def test_standard_header():
    header = parse_header(_text())
    assert (header.name, header.num_leads, header.fs, header.num_samples) == ("A0001", 12, 500.0, 7500)
    assert header.leads == LEADS
    spec = header.signals[3]
    assert (spec.gain, spec.baseline, spec.units, spec.init_value, spec.checksum, spec.fmt) == (1000.0, 0, "mV", 3, 103, "16+24")
    assert (header.age, header.sex, header.dx) == (74.0, "Male", ("59118001",))


@pytest.mark.parametrize("gain, expected", [
    ("16x1+24 1000.0(0)/mV", (1000.0, 0, "mV")),
    ("16+24 1000/mv", (1000.0, 0, "mv")),
    ("16+24 4880/mV", (4880.0, 0, "mV")),
    ("16 200(-12)/mV", (200.0, -12, "mV")),
    ("16 0/mV", (DEFAULT_GAIN, 0, "mV")),  # 0 means uncalibrated: WFDB's default gain
])
def test_gain_field_variants(gain, expected):
    spec = parse_header(_text(gain=gain)).signals[0]
    assert (spec.gain, spec.baseline, spec.units) == expected


def test_record_name_written_with_mat_and_crlf_and_spaced_comments():
    text = _text("E00001.mat 12 500 5000 05-May-2020 14:50:55", comments=("# Age: 37", "# Sex: female", "# Dx: 426783006"))
    header = parse_header(text.replace("\n", "\r\n"))
    assert header.name == "E00001" and header.num_samples == 5000
    assert (header.age, header.sex, header.dx) == (37.0, "Female", ("426783006",))


@pytest.mark.parametrize("value, expected", [
    ("Male", "Male"), ("male", "Male"), ("M", "Male"), ("Female", "Female"), ("female", "Female"),
    ("F", "Female"), ("Unknown", None), ("NaN", None), ("", None),
])
def test_sex_spellings(value, expected):
    assert parse_header(_text(comments=(f"#Sex: {value}",))).sex == expected


@pytest.mark.parametrize("value, expected", [("74", 74.0), ("NaN", None), ("", None), ("-1", None), ("abc", None), ("89.5", 89.5)])
def test_age_values(value, expected):
    assert parse_header(_text(comments=(f"#Age: {value}",))).age == expected


@pytest.mark.parametrize("line, expected", [
    ("#Dx:", ()),
    ("#Dx: ", ()),
    ("#Dx: 284470004,89792004,427084000,,427172004", ("284470004", "89792004", "427084000", "427172004")),
    ("#Dx: 251146004,284470004,284470004", ("251146004", "284470004")),
    ("#Dx: 164889003, 59118001 ,", ("164889003", "59118001")),
])
def test_dx_blank_duplicate_and_empty_codes(line, expected):
    assert parse_header(_text(comments=(line,))).dx == expected


def test_missing_dx_line_gives_no_codes():
    assert parse_header(_text(comments=("#Age: 50",))).dx == ()


@pytest.mark.parametrize("text, message", [
    ("", "no record line"),
    ("# only a comment\n", "no record line"),
    ("A0001\n", "at least a name"),
    ("A0001 twelve 500 5000\n", "bad lead count"),
    ("A0001 12 fast 5000\n", "bad sampling frequency"),
    ("A0001 12 -500 5000\n", "bad sampling frequency|positive"),
    ("A0001 12 500 many\n", "number of samples"),  # absent is WFDB-valid (the .mat gives it), unreadable is not
    ("A0001 12 500 5000\nA0001.mat 16 1000/mV 16 0 0 0 0 I\n", "12 leads but has 1"),
])
def test_broken_headers_raise_record_error(text, message):
    with pytest.raises(RecordError, match=message) as info:
        parse_header(text, "broken.hea")
    assert info.value.path == "broken.hea"


def test_unreadable_gain_is_an_error():
    with pytest.raises(RecordError, match="gain"):
        parse_header(_text(gain="16 lots/mV"))


def test_read_header_files(tmp_path):
    path = tmp_path / "X.hea"
    path.write_bytes(_text().encode() + b"#Hx: caf\xe9 \xff\n")  # latin-1 bytes must not crash
    assert read_header(path).name == "A0001"
    assert read_dx_codes(path) == ("59118001",)
    path.write_bytes(b"A0001 12 500\x00 5000\n")
    with pytest.raises(RecordError, match="NUL"):
        read_header(path)
    with pytest.raises(RecordError, match="cannot read header"):
        read_header(tmp_path / "absent.hea")
    with pytest.raises(RecordError, match="cannot read header"):
        read_dx_codes(tmp_path / "absent.hea")


def test_real_2020_and_2021_twins_parse_alike():
    real = shared_path("data", "cinc2020-real")
    old, new = read_header(real / "Q0002.hea"), read_header(real / "edge-cases" / "Q0002.hea")
    assert (old.name, old.fs, old.num_samples, old.age, old.sex, old.dx) == (new.name, new.fs, new.num_samples, new.age, new.sex, new.dx)
    assert [(s.gain, s.baseline, s.init_value, s.checksum, s.lead) for s in old.signals] == \
           [(s.gain, s.baseline, s.init_value, s.checksum, s.lead) for s in new.signals]
    etest = read_header(real / "edge-cases" / "ETEST.hea")
    assert etest.name == "ETEST" and etest.dx == () and etest.signals[0].gain == 4880.0
    incart = read_header(real / "edge-cases" / "I0001.hea")
    assert (incart.fs, incart.num_samples, incart.sex, incart.dx) == (257.0, 462600, "Female", ())


def test_sample_count_is_optional_as_in_wfdb():
    header = parse_header(_text("A0001 12 500"))
    assert header.num_samples is None and header.fs == 500.0


@pytest.mark.parametrize("field, per_mv", [
    ("2/uV", 2000.0), ("2/uv", 2000.0), ("2000/mV", 2000.0), ("2000/MV", 2000.0), ("1000/mv", 1000.0),
    ("1000000/V", 1000.0), ("1000", 1000.0), ("1000(5)", 1000.0),  # no units: WFDB's default, mV
])
def test_gain_units_convert_to_counts_per_mv(field, per_mv):
    spec = parse_header(_text(gain=f"16+24 {field}")).signals[0]
    assert counts_per_mv(spec, "x.hea") == pytest.approx(per_mv) and spec.gain_field == field


def test_unknown_gain_units_are_an_error_quoting_the_field():
    spec = parse_header(_text(gain="16+24 1000/mmHg")).signals[0]
    with pytest.raises(RecordError, match=r"x\.hea: gain '1000/mmHg' of lead I is in unknown units 'mmHg'"):
        counts_per_mv(spec, "x.hea")


def test_format_code_and_adc_resolution():
    spec = parse_header(_text(gain="16x1+24 1000.0(0)/mV")).signals[0]
    assert (spec.format_code, spec.adc_resolution) == ("16", 16)


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_dx_codes_are_read_with_every_line_end(tmp_path, newline):
    path = tmp_path / "C1.hea"
    path.write_bytes(_text(comments=("#Age: 50", "#Dx: 164889003,59118001")).replace("\n", newline).encode())
    assert read_dx_codes(path) == ("164889003", "59118001")
    assert parse_header(path.read_bytes().decode()).dx == ("164889003", "59118001")
