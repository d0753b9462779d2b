"""Challenge-format files for tests: a ``NAME.hea``/``NAME.mat`` pair, or a label ``NAME.hea``, from counts and fields.

The header comes from ``ecgnet.synth.writer.format_header`` (the synthetic generator's
writer), whose fields are all text, so a test writes ordinary and deliberately odd
headers (a gain of ``200(10)/mV``, an age of ``NaN``, CRLF line ends, leads missing or
reordered) the same way; ``header=`` replaces the text (or bytes) outright. The signal is
a MATLAB v4 ``.mat`` holding one variable, ``val`` unless told otherwise.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import scipy.io

from ecgnet.synth.writer import format_header


def sine_counts(samples: int = 5000, fs: float = 500, amplitude: float = 300, step: float = 30,
                hz: float = 1.1) -> np.ndarray:
    """int16 (12, samples) counts: lead k a ``hz`` sine of ``amplitude + k * step`` counts and phase k rad.

    Each lead differs, so a reordering or a lost lead is visible; at 1000 counts/mV the
    default is about 0.6 mV peak to peak.
    """
    t = np.arange(samples) / fs
    return np.stack([np.round((amplitude + step * k) * np.sin(2 * np.pi * hz * t + k)) for k in range(12)]).astype(np.int16)


def mat_bytes(val, variable: str = "val", format: str = "4") -> bytes:
    """The bytes of a MATLAB file (v4, or v5 with ``format="5"`` for cells and text) holding ``val`` as ``variable``."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {variable: val}, format=format)
    return buffer.getvalue()


def write_pair(directory: str | Path, name: str, val: np.ndarray, header: str | bytes | None = None,
               variable: str = "val", **fields) -> Path:
    """Write ``NAME.hea`` and ``NAME.mat`` into ``directory``; returns the header's path.

    ``val`` is the (leads, samples) array saved in the ``.mat``; the header is ``header``
    when given, else ``format_header(name, val, **fields)`` (``fs`` defaults to 500 Hz).
    """
    directory = Path(directory)
    if header is not None and fields:
        raise TypeError(f"{name}: header fields {sorted(fields)} given with a whole header")
    if header is None:
        header = format_header(name, val, fields.pop("fs", 500), **fields)
    path = directory / f"{name}.hea"
    path.write_bytes(header.encode() if isinstance(header, str) else header)
    (directory / f"{name}.mat").write_bytes(mat_bytes(val, variable))
    return path


def write_label(directory: str | Path, name: str, dx: str, samples: int = 5000, **fields) -> Path:
    """Write only ``NAME.hea``, a label file for the scorer (it reads the ``#Dx`` line, no signal); returns its path.

    The header is ``format_header`` over 12 leads of ``samples`` zero counts at 500 Hz
    (first value and checksum 0), with ``dx`` and any other field as given.
    """
    path = Path(directory) / f"{name}.hea"
    text = format_header(name, np.zeros((12, samples), np.int16), fields.pop("fs", 500), dx=dx, **fields)
    path.write_bytes(text.encode())
    return path
