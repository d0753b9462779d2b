"""Writing a record in the 2020 challenge format: ``NAME.hea`` + MATLAB v4 ``NAME.mat``."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.io

from ..header import signed_checksum
from ..leads import LEADS

GAIN = 1000  # ADC units per mV, as in the real 2020 files
_DATE = "01-Jan-2020 00:00:00"


def to_adc(signal_mv: np.ndarray) -> np.ndarray:
    """mV -> int16 counts at 1000/mV, clipped to the int16 range."""
    return np.clip(np.rint(np.asarray(signal_mv, dtype=float) * GAIN), -32768, 32767).astype(np.int16)


def header_text(name: str, adc: np.ndarray, fs: float, age: float | None, sex: str | None, codes: Sequence[str]) -> str:
    """The header of the real 2020 layout (checksum: sum of samples mod 65536 as signed 16-bit)."""
    fs_text = f"{int(fs)}" if float(fs).is_integer() else f"{fs:g}"
    lines = [f"{name} {adc.shape[0]} {fs_text} {adc.shape[1]} {_DATE}"]
    for lead, row in zip(LEADS, adc):
        checksum = signed_checksum(row.sum(dtype=np.int64))
        first = int(row[0]) if row.size else 0
        lines.append(f"{name}.mat 16+24 {GAIN}/mV 16 0 {first} {checksum} 0 {lead}")
    age_text = "NaN" if age is None else str(int(round(age)))
    lines += [f"#Age: {age_text}", f"#Sex: {sex or 'Unknown'}", f"#Dx: {','.join(codes)}",
              "#Rx: Unknown", "#Hx: Unknown", "#Sx: Unknown"]
    return "\n".join(lines) + "\n"


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
