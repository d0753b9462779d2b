"""Fuzzing the record reader: random and mutated headers, .mat bytes and arrays.

Whatever bytes it is given, the reader either returns a Record or raises its own
documented ``RecordError`` naming the file; never another exception, never a hang
(hypothesis' deadline catches slow examples).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from challenge_files import mat_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecgnet.errors import RecordError
from ecgnet.records.reader import Record, read_record, record_from_arrays
from ecgnet.synth.writer import format_header

FUZZ = settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_pair(samples: int = 1000) -> tuple[str, bytes]:
    val = (np.random.default_rng(0).standard_normal((12, samples)) * 300).astype(np.int16)
    header = format_header("FZ0001", val, 500, age="63", sex="Female", dx="426783006,164889003")
    return header, mat_bytes(val)


HEADER, MAT = _valid_pair()


def _read(directory: Path, header: bytes, mat: bytes | None) -> Record | None:
    (directory / "FZ0001.hea").write_bytes(header)
    mat_path = directory / "FZ0001.mat"
    mat_path.unlink(missing_ok=True)
    if mat is not None:
        mat_path.write_bytes(mat)
    try:
        return read_record(directory / "FZ0001.hea")
    except RecordError as error:
        assert "FZ0001" in str(error), f"error does not name the file: {error}"
        return None


def test_the_unmutated_pair_reads(tmp_path):
    record = _read(tmp_path, HEADER.encode(), MAT)
    assert record is not None and record.signal.shape == (12, 1000) and not record.warnings


@FUZZ
@given(st.binary(max_size=2000))
def test_random_header_bytes(tmp_path, data):
    result = _read(tmp_path, data, MAT)
    if result is not None:
        assert result.signal.shape[0] == 12 and np.isfinite(result.signal).all()


def _mutate_text(text: str, draw) -> str:
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["drop", "dup", "token", "swap", "garbage"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "drop" and len(lines) > 1:
            del lines[i]
        elif kind == "dup":
            lines.insert(i, lines[i])
        elif kind == "token":
            tokens = lines[i].split(" ")
            j = draw(st.integers(0, max(len(tokens) - 1, 0)))
            tokens[j] = draw(st.sampled_from(["", "NaN", "-1", "0", "1e309", "inf", "99999999999", "x/mV", "(", "1000(", "/", "#", "-0"]))
            lines[i] = " ".join(tokens)
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = draw(st.text(max_size=60))
    return "\n".join(lines)


@FUZZ
@given(st.data())
def test_mutated_headers(tmp_path, data):
    text = _mutate_text(HEADER, data.draw)
    result = _read(tmp_path, text.encode("utf-8", "replace"), MAT)
    if result is not None:
        assert result.signal.shape[0] == 12 and np.isfinite(result.signal).all()


@FUZZ
@given(st.data())
def test_mutated_mat_bytes(tmp_path, data):
    mat = bytearray(MAT)
    kind = data.draw(st.sampled_from(["truncate", "flip", "prefix", "random"]))
    if kind == "truncate":
        mat = mat[: data.draw(st.integers(0, len(mat) - 1))]
    elif kind == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            # Most of the structure lives in the first 64 bytes (the v4 header and name).
            i = data.draw(st.integers(0, min(len(mat) - 1, data.draw(st.sampled_from([64, len(mat) - 1])))))
            mat[i] = data.draw(st.integers(0, 255))
    elif kind == "prefix":
        mat = bytearray(data.draw(st.binary(min_size=1, max_size=64))) + mat
    else:
        mat = bytearray(data.draw(st.binary(max_size=4000)))
    result = _read(tmp_path, HEADER.encode(), bytes(mat))
    if result is not None:
        assert result.signal.shape == (12, 1000) and np.isfinite(result.signal).all()


@FUZZ
@given(
    st.integers(0, 14),
    st.integers(0, 1200),
    st.sampled_from([np.float64, np.float32, np.int16, np.int64, np.uint8, np.complex64, np.bool_]),
    st.sampled_from(["normal", "nan", "inf", "zero", "huge"]),
)
def test_arrays_handed_to_run_12ECG_classifier(leads, samples, dtype, fill):
    rng = np.random.default_rng(leads * 10_000 + samples)
    data = rng.standard_normal((leads, samples)) * 300
    if fill == "nan":
        data[rng.random(data.shape) < 0.5] = np.nan
    elif fill == "inf":
        data[rng.random(data.shape) < 0.05] = np.inf
    elif fill == "zero":
        data[:] = 0
    elif fill == "huge":
        data *= 1e12
    with np.errstate(invalid="ignore", over="ignore"):
        data = data.astype(dtype)
    try:
        record = record_from_arrays(data, HEADER.splitlines(), where="FZ0001")
    except RecordError as error:
        assert "FZ0001" in str(error)
        return
    assert record.signal.shape == (12, 1000) and np.isfinite(record.signal).all()


@pytest.mark.parametrize("name", ["val", "data"])
def test_wrong_variable_name_is_a_record_error(tmp_path, name):
    val = scipy.io.loadmat(io.BytesIO(MAT))["val"]
    result = _read(tmp_path, HEADER.encode(), mat_bytes(val, variable=name))
    assert (result is None) == (name != "val")
