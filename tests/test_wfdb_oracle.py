"""WFDB as the oracle: wherever ``wfdb.rdrecord`` reads a record, ecgnet reads the same.

Compared: the signal in mV (wfdb's physical signal converted from its units), NaN
positions included, the sampling rate, the lead names and the length, at the layer
before ecgnet's documented repairs (``read_record(..., gain_policy="header",
repair=False)``). On every record of ../shared/data that wfdb reads (skipped with a
reason where ../shared is absent), on the synthetic writer's records, and on
generated well-formed records (always run). The intended deviations listed in
``ecgnet/records/`` that concern wfdb itself are tested at the end.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import wfdb
from conftest import shared_path
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgnet.leads import LEADS
from ecgnet.records.header import signed_checksum
from ecgnet.records.reader import read_record
from ecgnet.synth import generate_dataset

GENERATED_EXAMPLES = 60  # hypothesis cases per run: each writes and reads one record twice
MV_PER = {"uv": 1e-3, "mv": 1.0, "v": 1e3}  # wfdb's physical units to mV (its own table, not ecgnet's)


def assert_reads_as_wfdb(header_path: Path, theirs: wfdb.Record | None = None) -> None:
    """ecgnet's unrepaired reading under the header's gains equals wfdb's physical signal, lead by lead."""
    theirs = theirs or wfdb.rdrecord(str(header_path.with_suffix("")))
    ours = read_record(header_path, gain_policy="header", repair=False)
    assert ours.fs == theirs.fs
    assert ours.signal.shape == (len(LEADS), theirs.sig_len)
    names = [name.lower() for name in theirs.sig_name]
    for row, lead in enumerate(LEADS):
        channel = names.index(lead.lower())
        expected = theirs.p_signal[:, channel] * MV_PER[theirs.units[channel].lower()]
        got = ours.signal[row]
        assert np.array_equal(np.isnan(got), np.isnan(expected)), (header_path.name, lead)
        np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-9, equal_nan=True, err_msg=f"{header_path.name} {lead}")


def _compare_folder(directory: Path) -> tuple[int, list[str]]:
    """Compare every record wfdb reads; returns the count and the names wfdb cannot read."""
    compared, unread = 0, []
    for header_path in sorted(directory.glob("*.hea")):
        try:
            theirs = wfdb.rdrecord(str(header_path.with_suffix("")))
        except Exception:  # noqa: BLE001 - wfdb's own limits (see the deviation tests below), or no .mat
            unread.append(header_path.stem)
            continue
        assert_reads_as_wfdb(header_path, theirs)
        compared += 1
    return compared, unread


@pytest.mark.parametrize("folder, readable", [
    (("data", "cinc2020-real"), 110),  # the other 35 write NAME.mat on line 1, which wfdb refuses
    (("data", "cinc2020-real", "edge-cases"), 4),  # ETEST: NAME.mat on line 1; I0001: no .mat
    (("data", "ptbxl-dev"), 904),
])
def test_every_shared_record_wfdb_reads_reads_the_same(folder, readable):
    compared, unread = _compare_folder(shared_path(*folder))
    assert compared == readable, unread


def test_the_synthetic_writer_s_records_read_the_same(tmp_path):
    paths = generate_dataset(tmp_path, 8, seed=3, workers=1)
    for header_path in paths:
        assert_reads_as_wfdb(header_path)


# ---- generated well-formed records ---------------------------------------------

UNITS = (None, "uV", "mV", "mv", "V")
PER_UNIT = {None: 1.0, "uV": 1e-3, "mV": 1.0, "mv": 1.0, "V": 1e3}  # mV per unit, units absent = mV


@st.composite
def wfdb_records(draw):
    """A record's counts and header text: WFDB-valid, with the variants WFDB allows."""
    fs = draw(st.sampled_from([250, 257, 500, 1000]))
    samples = draw(st.integers(2 * fs, 3 * fs))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    val = rng.integers(-3000, 3000, size=(12, samples)).astype(np.int16)
    for _ in range(draw(st.integers(0, 3))):  # runs of WFDB's invalid value
        lead, start, length = rng.integers(12), rng.integers(samples), int(rng.integers(1, 60))
        val[lead, start:start + length] = -32768
    fmt = draw(st.sampled_from(["16+24", "16x1+24"]))
    count_on_line_1 = draw(st.booleans())
    file_name = draw(st.sampled_from(["mat", "dat"]))
    order = draw(st.permutations(range(12)))
    lines = [f"GEN {12} {fs}" + (f" {samples}" if count_on_line_1 else "")]
    for row in order:
        units = draw(st.sampled_from(UNITS))
        gain_mv = draw(st.sampled_from([200.0, 1000.0, 2000.0, 4880.0, 500.0]))  # counts per mV
        gain = gain_mv * PER_UNIT[units]
        adc_zero = draw(st.integers(-20, 20))
        baseline = draw(st.one_of(st.none(), st.integers(-50, 50)))
        field = f"{gain:.10g}" + (f"({baseline})" if baseline is not None else "") + (f"/{units}" if units else "")
        data = val[row]
        lines.append(f"GEN.{file_name} {fmt} {field} 16 {adc_zero} {int(data[0])} {signed_checksum(data.sum(dtype=np.int64))} 0 "
                     f"{LEADS[row]}")
    lines += ["#Age: 50", "#Sex: Female", "#Dx: 426783006"]
    return val, "\n".join(lines) + "\n", file_name


@settings(max_examples=GENERATED_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wfdb_records())
def test_generated_records_read_as_wfdb_reads_them(case):
    val, header, file_name = case
    with tempfile.TemporaryDirectory() as scratch:
        header_path = Path(scratch, "GEN.hea")
        header_path.write_text(header)
        scipy.io.savemat(Path(scratch, "GEN.mat"), {"val": val}, format="4")  # MATLAB v4: 24 header bytes, then int16 frames
        if file_name == "dat":  # a signal line naming another file: ecgnet reads NAME.mat all the same
            shutil.copyfile(Path(scratch, "GEN.mat"), Path(scratch, "GEN.dat"))
        assert_reads_as_wfdb(header_path)


# ---- where wfdb cannot read a real challenge header, ecgnet still does --------------

def _copy(source: Path, target: Path, record_line: str) -> Path:
    lines = source.read_text().splitlines()
    lines[0] = record_line
    target.write_text("\n".join(lines) + "\n")
    shutil.copyfile(source.with_suffix(".mat"), target.with_suffix(".mat"))
    return target


def test_name_mat_on_line_1_which_wfdb_refuses_is_read(tmp_path):
    """The 2020 Georgia headers write ``E00015.mat`` as the record name; wfdb 4.3.1 rejects the line."""
    real = shared_path("data", "cinc2020-real", "E00015.hea")
    with pytest.raises(Exception, match="record line"):
        wfdb.rdheader(str(real.with_suffix("")))
    fixed = _copy(real, tmp_path / "E00015.hea", "E00015 12 500 5000 05-May-2020 14:50:55")
    assert_reads_as_wfdb(fixed)
    ours = read_record(real, gain_policy="header", repair=False)
    assert np.array_equal(ours.signal, read_record(fixed, gain_policy="header", repair=False).signal)


def test_a_date_written_with_dashes_which_wfdb_refuses_is_read(tmp_path):
    """wfdb-python #351: a base date in ISO form ('2020-05-05') stops wfdb's header parser."""
    real = shared_path("data", "cinc2020-real", "A0001.hea")
    header = _copy(real, tmp_path / "A0001.hea", "A0001 12 500 7500 2020-05-05")
    with pytest.raises(ValueError):
        wfdb.rdheader(str(header.with_suffix("")))
    (tmp_path / "plain").mkdir()
    plain = _copy(real, tmp_path / "plain" / "A0001.hea", "A0001 12 500 7500")
    assert np.array_equal(read_record(header).signal, read_record(plain).signal)
    assert_reads_as_wfdb(plain)


def test_the_2020_wrong_gain_repair_deviates_by_the_gain_ratio(tmp_path):
    """Under ``auto`` a 2020 Georgia header's 4880/mV is replaced by 1000/mV: wfdb's reading x 4.88."""
    real = shared_path("data", "cinc2020-real", "E00015.hea")
    theirs = wfdb.rdrecord(str(_copy(real, tmp_path / "E00015.hea", "E00015 12 500 5000").with_suffix("")))
    repaired = read_record(real)
    np.testing.assert_allclose(repaired.signal, theirs.p_signal.T * 4.88, rtol=1e-5, atol=1e-6)
    assert repaired.warnings[0].startswith("gain override: header gain 4880/mV")
