"""WFDB records with ``.dat`` signal files: every storage format, several files per record, read like their ``.mat`` copy.

Each record here is written twice: as a WFDB record (the signal files in one storage
format, written by ``wfdb.wrsamp`` where it writes the format, else by ``_encode``
from signal(5)'s layout) and as a challenge ``.mat`` copy of the same counts (format
16, where -32768 marks a missing sample). Both must give the same signal, in the
reader, the driver, ``run_12ECG_classifier``'s input, the cache training reads and the
API, and wfdb's own physical reading (the oracle) must agree with ours.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import wfdb
from challenge_files import sine_counts, write_pair
from helpers import assert_same_answers
from model_dirs import random_model_dir

from ecgnet.api import Classifier
from ecgnet.data.cache import build_cache, fingerprint
from ecgnet.errors import RecordError
from ecgnet.inference.predict import classify, load_challenge_data, load_model, main
from ecgnet.leads import LEADS
from ecgnet.records.header import signed_checksum
from ecgnet.records.reader import INVALID_SAMPLE, read_record
from ecgnet.synth import generate_record
from ecgnet.synth.writer import format_header, to_adc

FS = 500
# Bits of each format's samples; wfdb-python writes the formats it can (wfdb.wrsamp), _encode the others.
BITS = {"16": 16, "212": 12, "24": 24, "32": 32, "80": 8, "160": 16, "61": 16, "310": 10, "311": 10, "8": 32,
        "508": 8, "516": 16, "524": 24}
WRITTEN_BY_WFDB = ("16", "212", "24", "32", "80", "508", "516", "524")
DEMOGRAPHICS = ["Age: 63", "Sex: Female", "Dx: 426783006"]


def _encode(frames: np.ndarray, fmt: str, initial: np.ndarray) -> bytes:
    """The bytes of a signal file in ``fmt`` (signal(5)) from (N, leads) counts, samples interleaved frame by frame."""
    stream = frames.astype(np.int64).ravel()
    if fmt == "61":
        return stream.astype(">i2").tobytes()
    if fmt == "160":
        return (stream + 2**15).astype("<u2").tobytes()
    if fmt == "8":  # first differences, the first from the header's initial value
        return np.diff(frames, axis=0, prepend=initial[None, :]).ravel().astype(np.int8).tobytes()
    s0, s1, s2 = (stream[k::3] & 0x3FF for k in range(3))
    if fmt == "311":  # three 10-bit samples in a 32-bit little-endian word
        return (s0 | s1 << 10 | s2 << 20).astype("<u4").tobytes()
    if fmt == "310":  # two 16-bit words: bits 1-10 a sample each, bits 11-15 half of the third
        words = np.stack([s0 << 1 | (s2 & 0x1F) << 11, s1 << 1 | (s2 >> 5) << 11], axis=1)
        return words.astype("<u2").tobytes()
    raise ValueError(fmt)


def write_dat(folder: Path, name: str, val: np.ndarray, fmt: str, units: str = "mV", gain: float = 1000.0,
              baseline: int = 0, files: list[str] | None = None) -> Path:
    """``NAME.hea`` + signal file(s) of the (12, N) counts ``val`` in ``fmt``; ``files`` names each lead's file."""
    frames = val.T.astype(np.int64)
    if files is None:  # a FLAC signal file holds at most 8 signals: two files, as wfdb writes them
        files = [f"{name}_1.dat"] * 8 + [f"{name}_2.dat"] * 4 if fmt.startswith("5") else [f"{name}.dat"] * len(LEADS)
    if fmt in WRITTEN_BY_WFDB:
        record = wfdb.Record(record_name=name, n_sig=len(LEADS), fs=FS, sig_len=frames.shape[0], file_name=files,
                             fmt=[fmt] * len(LEADS), adc_gain=[gain] * len(LEADS), baseline=[baseline] * len(LEADS),
                             units=[units] * len(LEADS), sig_name=list(LEADS), d_signal=frames, adc_res=[BITS[fmt]] * len(LEADS),
                             adc_zero=[0] * len(LEADS), init_value=[int(x) for x in frames[0]],
                             checksum=[int(x) for x in signed_checksum(frames.sum(axis=0))], block_size=[0] * len(LEADS),
                             comments=DEMOGRAPHICS)
        record.wrsamp(write_dir=str(folder))
        return folder / f"{name}.hea"
    lines = [f"{name} {len(LEADS)} {FS} {frames.shape[0]}"]
    for lead, column in zip(LEADS, frames.T):
        lines.append(f"{files[0]} {fmt} {gain:g}({baseline})/{units} {BITS[fmt]} 0 {column[0]} "
                     f"{signed_checksum(column.sum())} 0 {lead}")
    (folder / files[0]).write_bytes(_encode(frames, fmt, frames[0]))
    (folder / f"{name}.hea").write_text("\n".join(lines + [f"#{line}" for line in DEMOGRAPHICS]) + "\n")
    return folder / f"{name}.hea"


def mat_copy(folder: Path, name: str, val: np.ndarray, fmt: str, gain_field: str = "1000/mV") -> Path:
    """The challenge ``.mat`` copy of counts stored in ``fmt``: format 16, the format's missing samples as -32768."""
    copy = val.astype(np.int64)
    if fmt in INVALID_SAMPLE:
        copy[copy == INVALID_SAMPLE[fmt]] = INVALID_SAMPLE["16"]
    copy = copy.astype(np.int16)
    return write_pair(folder, name, copy, header=format_header(name, copy, FS, gain=gain_field, age="63", sex="Female",
                                                              dx="426783006", comments=()))


def _counts(fmt: str, samples: int = 1500) -> np.ndarray:
    """Distinct leads within the format's range, with 50 missing samples in V2 where the format has a marker."""
    amplitude = min(300, 2 ** (BITS[fmt] - 1) - 40)
    val = sine_counts(samples, FS, amplitude=amplitude * 0.6, step=amplitude * 0.03).astype(np.int64)
    if fmt in INVALID_SAMPLE:
        val[7, 600:650] = INVALID_SAMPLE[fmt]
    return val


@pytest.mark.parametrize("fmt", list(BITS))
def test_every_storage_format_reads_like_its_mat_copy_and_as_wfdb_reads_it(tmp_path, fmt):
    val = _counts(fmt)
    header = write_dat(tmp_path, "W1", val, fmt, units="uV", gain=1.0, baseline=7)  # 1 count/uV = 1000/mV, baseline 7
    mat = mat_copy(tmp_path, "M1", val, fmt, gain_field="1000(7)/mV")
    ours, theirs = read_record(header), read_record(mat)
    assert np.array_equal(ours.signal, theirs.signal) and (ours.age, ours.sex, ours.fs) == (theirs.age, theirs.sex, theirs.fs)
    assert np.array_equal(ours.labels, theirs.labels)
    assert [w for w in ours.warnings if "checksum" in w or "first sample" in w] == []
    if fmt in INVALID_SAMPLE:
        assert ours.warnings == (f"50 NaN/infinite or invalid sample(s) (WFDB's invalid value: {INVALID_SAMPLE[fmt]} in format {fmt}) "
                                 "in lead(s) V2 set to 0 mV",)
    oracle = wfdb.rdrecord(str(header.with_suffix("")))  # physical, in uV
    unrepaired = read_record(header, gain_policy="header", repair=False).signal
    np.testing.assert_allclose(unrepaired, oracle.p_signal.T * 1e-3, rtol=1e-6, atol=1e-9, equal_nan=True)
    assert np.array_equal(np.isnan(unrepaired), np.isnan(oracle.p_signal.T))


def test_a_record_in_several_signal_files_of_several_formats(tmp_path):
    """Limb leads in one format-16 file, chest leads in a format-212 file (MIMIC-style multi-file records)."""
    val = _counts("212")
    files = ["MF_1.dat"] * 6 + ["MF_2.dat"] * 6
    frames = val.T
    record = wfdb.Record(record_name="MF", n_sig=12, fs=FS, sig_len=frames.shape[0], file_name=files, fmt=["16"] * 6 + ["212"] * 6,
                         adc_gain=[1000.0] * 12, baseline=[0] * 12, units=["mV"] * 12, sig_name=list(LEADS), d_signal=frames,
                         adc_res=[16] * 6 + [12] * 6, adc_zero=[0] * 12, init_value=[int(x) for x in frames[0]],
                         checksum=[0] * 12, block_size=[0] * 12, comments=DEMOGRAPHICS)
    record.wrsamp(write_dir=str(tmp_path))  # writes each file in its format, and the checksums
    ours = read_record(tmp_path / "MF.hea")
    copy = val.copy()
    copy[7, 600:650] = -32768
    expected = read_record(write_pair(tmp_path, "M2", copy.astype(np.int16), age="63", sex="Female", dx="426783006"))
    assert np.array_equal(ours.signal, expected.signal)
    assert ours.warnings == ("50 NaN/infinite or invalid sample(s) (WFDB's invalid value: -2048 in format 212, -32768 in format 16) "
                             "in lead(s) V2 set to 0 mV",)


def test_upper_case_dat_files_and_headers_pair_by_the_same_rule(tmp_path):
    val = _counts("16")
    header = write_dat(tmp_path, "X1", val, "16")
    expected = read_record(header).signal
    os.rename(header, tmp_path / "X1.HEA")
    os.rename(tmp_path / "X1.dat", tmp_path / "X1.DAT")  # the header still names X1.dat
    for path in ("X1.HEA", "X1.hea", "X1.DAT", "X1"):
        assert np.array_equal(read_record(tmp_path / path).signal, expected), path
    assert np.array_equal(load_challenge_data(tmp_path / "X1.HEA")[0], val)
    (tmp_path / "X1.DAT").unlink()
    with pytest.raises(RecordError, match=r"X1\.HEA: signal file X1\.dat is missing"):
        read_record(tmp_path / "X1.HEA")
    (tmp_path / "X1.dat").write_bytes(b"\x00" * 11)  # far too short for its 1500 samples
    with pytest.raises(RecordError, match=r"X1\.HEA: "):
        read_record(tmp_path / "X1.HEA")


def test_a_multi_segment_record_is_refused_by_name(tmp_path):
    (tmp_path / "MS.hea").write_text("MS/2 12 500 3000\nMS_1 1500\nMS_2 1500\n")
    with pytest.raises(RecordError, match=r"MS\.hea: 'MS/2' on the record line is a multi-segment record"):
        read_record(tmp_path / "MS.hea")


# ---- a PTB-XL-style record through the driver, the contract, training and the API -------------

@pytest.fixture(scope="module")
def ptbxl_style(tmp_path_factory) -> Path:
    """``00001_hr`` in format 16 and ``00002_hr`` in format 212 (PTB-XL's naming: NAME.hea + NAME.dat), their ``.mat``
    copy ``HR00001``, and ``00003_hr``, a header whose ``.dat`` is missing."""
    folder = tmp_path_factory.mktemp("ptbxl_style")
    signal = generate_record(0, seed=5, fs=FS, duration=10.0)[0]
    val = to_adc(np.clip(signal, -2.0, 2.0)).astype(np.int64)  # within format 212's 12 bits at 1000/mV
    val[7, 1000:1100] = -32768
    write_dat(folder, "00001_hr", val, "16")
    val_212 = val.copy()
    val_212[7, 1000:1100] = INVALID_SAMPLE["212"]
    write_dat(folder, "00002_hr", val_212, "212")
    mat_copy(folder, "HR00001", val, "16")
    write_dat(folder, "00003_hr", val, "16")
    (folder / "00003_hr.dat").unlink()
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return random_model_dir(tmp_path_factory.mktemp("wfdb_model"))


def test_dat_records_and_their_mat_copy_give_identical_outputs(ptbxl_style, model_dir):
    ensemble = load_model(model_dir)
    answers = [classify(ensemble, *load_challenge_data(ptbxl_style / name)) for name in ("00001_hr.dat", "00002_hr.hea", "HR00001.mat")]
    assert answers[0] == answers[1] == answers[2] and len(answers[0][1]) == 24  # the contract's per-record answers, exactly
    api = Classifier(ensemble)
    results = [api.classify_file(ptbxl_style / name) for name in ("00001_hr.dat", "00002_hr.hea", "HR00001.mat")]
    assert all(np.array_equal(r.probabilities, results[2].probabilities) for r in results)


def test_the_driver_classifies_dat_records_and_names_a_missing_dat(ptbxl_style, model_dir, tmp_path):
    out = tmp_path / "out"
    assert main(str(model_dir), str(ptbxl_style), str(out)) == 1
    assert sorted(p.name for p in out.iterdir()) == ["00001_hr.csv", "00002_hr.csv", "00003_hr.csv", "HR00001.csv"]
    expected = (out / "HR00001.csv").read_text().split("\n", 1)[1]
    for name in ("00001_hr", "00002_hr"):
        assert_same_answers("#\n" + (out / f"{name}.csv").read_text().split("\n", 1)[1], "#\n" + expected, name)
    assert (out / "00003_hr.csv").read_text() == "#00003_hr\n\n\n\n"


def test_training_caches_dat_records_like_their_mat_copy(ptbxl_style, tmp_path):
    cache = build_cache(ptbxl_style, tmp_path / "cache", workers=1)
    assert list(cache.names) == ["00001_hr", "00002_hr", "HR00001"]
    assert np.array_equal(cache.signal(0), cache.signal(2)) and np.array_equal(cache.signal(1), cache.signal(2))
    assert [(Path(file).name, reason) for file, reason in cache.bad_records] == [("00003_hr.hea", "signal file 00003_hr.dat is missing")]
    before = fingerprint(ptbxl_style)
    os.utime(ptbxl_style / "00002_hr.dat", ns=(1, 1))  # a signal file changed: the cache is rebuilt
    assert fingerprint(ptbxl_style) != before
