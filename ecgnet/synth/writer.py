"""Writing a record in the 2020 challenge format: ``NAME.hea`` + MATLAB v4 ``NAME.mat``."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from ecgnet.leads import LEADS
from ecgnet.records.header import signed_checksum

GAIN = 1000  # ADC units per mV, as in the real 2020 files
_DATE = "01-Jan-2020 00:00:00"


def to_adc(signal_mv: np.ndarray) -> np.ndarray:
    """mV -> int16 counts at 1000/mV, clipped to the int16 range."""
    return np.clip(np.rint(np.asarray(signal_mv, dtype=float) * GAIN), -32768, 32767).astype(np.int16)


_COMMENTS = ("#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown")  # the fields the 2020 files carry after #Dx


def format_header(name: str, adc: np.ndarray, fs: float | str, *, gain: str = f"{GAIN}/mV", fmt: str = "16+24",
                  leads: Sequence[str] = LEADS, age: str = "NaN", sex: str = "Unknown", dx: str = "",
                  comments: Sequence[str] = _COMMENTS, date: str | None = _DATE, newline: str = "\n") -> str:
    """A header in the real 2020 layout, every field as the text to write (tests use it for odd headers).

    ``adc`` is the int (rows, samples) signal in counts: each of the ``leads`` takes the
    first value and checksum (sum mod 65536 as signed 16-bit) of its row, or 0 and 0
    where ``leads`` names more rows than ``adc`` has; ``fmt`` is each signal line's format
    field (``16+24``: format 16 at byte offset 24). ``fs`` is written as given when
    text, else without a needless ``.0``; ``date=None`` leaves the date and time out.
    Format: the WFDB header specification (PhysioNet), as used by the 2020 challenge.
    """
    fs_text = fs if isinstance(fs, str) else f"{int(fs)}" if float(fs).is_integer() else f"{fs:g}"
    adc = np.asarray(adc)
    lines = [f"{name} {len(leads)} {fs_text} {adc.shape[1]}" + (f" {date}" if date else "")]
    for row, lead in enumerate(leads):
        counts = adc[row].astype(np.int64) if row < adc.shape[0] else np.zeros(0, np.int64)
        first = int(counts[0]) if counts.size else 0
        lines.append(f"{name}.mat {fmt} {gain} 16 0 {first} {signed_checksum(counts.sum())} 0 {lead}")
    lines += [f"#Age: {age}", f"#Sex: {sex}", f"#Dx: {dx}", *comments]
    return newline.join(lines) + newline


def header_text(name: str, adc: np.ndarray, fs: float, age: float | None, sex: str | None, codes: Sequence[str]) -> str:
    """The header of a synthetic record: (12, N) counts at 1000/mV, age in years (None: NaN), SNOMED CT codes."""
    age_text = "NaN" if age is None else str(int(round(age)))
    return format_header(name, adc, fs, age=age_text, sex=sex or "Unknown", dx=",".join(codes))


def write_record(out_dir: str | Path, name: str, signal_mv: np.ndarray, fs: float, age: float | None,
                 sex: str | None, codes: Sequence[str]) -> Path:
    """Write ``NAME.hea`` and ``NAME.mat`` (int16 ``val``, 12 x N) and return the header path."""
    signal_mv = np.asarray(signal_mv)
    if signal_mv.ndim != 2 or signal_mv.shape[0] != len(LEADS):
        raise ValueError(f"{name}: expected a 12 x N signal, got shape {signal_mv.shape}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    adc = to_adc(signal_mv)
    scipy.io.savemat(out / f"{name}.mat", {"val": adc}, format="4")
    header = out / f"{name}.hea"
    header.write_text(header_text(name, adc, fs, age, sex, codes))
    return header
