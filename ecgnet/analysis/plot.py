"""Standard 12-lead ECG paper plots: 25 mm/s, 10 mm/mV, 1 mm and 5 mm grid.

Layout: three rows of four leads (2.5 s each: I aVR V1 V4 / II aVL V2 V5 /
III aVF V3 V6) and a 10-s lead II rhythm strip, each row starting with a 1 mV
calibration pulse, as printed by clinical electrocardiographs.
"""
from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ecgnet.fileio import atomic_write_bytes  # noqa: E402
from ecgnet.leads import LEADS  # noqa: E402

MM_PER_S = 25.0
MM_PER_MV = 10.0
_LAYOUT = (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6"))
_ROW_MM = 32.5  # vertical space of one row
_CAL_MM = 10.0  # width taken by the calibration pulse (0.4 s)


def _segment(signal: np.ndarray, fs: float, start_s: float, length_s: float) -> tuple[np.ndarray, np.ndarray]:
    i0, i1 = int(round(start_s * fs)), int(round((start_s + length_s) * fs))
    y = signal[i0:i1]
    return np.arange(len(y)) / fs * MM_PER_S, (y - np.median(y)) * MM_PER_MV if len(y) else y


def plot_12lead(signal_mv: np.ndarray, fs: float, title: str, path: str | Path, shade: np.ndarray | None = None) -> Path:
    """Draw a 12 x N signal (mV) on standard ECG paper and save it as a PNG (or any matplotlib format).

    ``shade`` (12 x N, values in [-1, 1], e.g. an attribution) is drawn behind each lead, red for
    positive and blue for negative values.
    """
    signal_mv = np.asarray(signal_mv, dtype=float)
    if signal_mv.ndim != 2 or signal_mv.shape[0] != 12:
        raise ValueError(f"expected a 12 x N signal, got shape {signal_mv.shape}")
    if shade is not None and np.shape(shade) != signal_mv.shape:
        raise ValueError(f"shade must have the signal's shape {signal_mv.shape}, got {np.shape(shade)}")
    width_mm = _CAL_MM + 10.0 * MM_PER_S + 5.0
    height_mm = 4 * _ROW_MM + 5.0
    fig = plt.figure(figsize=(width_mm / 25.4 * 1.1, height_mm / 25.4 * 1.1 + 0.4), dpi=110)
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.4 / (height_mm / 25.4 * 1.1 + 0.4)))
    ax.set_xlim(0, width_mm)
    ax.set_ylim(0, height_mm)
    ax.set_aspect("equal")
    ax.axis("off")
    for x in np.arange(0, width_mm + 0.01, 1.0):
        ax.axvline(x, color="#f4c2c2" if x % 5 else "#e06666", lw=0.3 if x % 5 else 0.7, zorder=0)
    for y in np.arange(0, height_mm + 0.01, 1.0):
        ax.axhline(y, color="#f4c2c2" if y % 5 else "#e06666", lw=0.3 if y % 5 else 0.7, zorder=0)

    def row(baseline: float, pieces: list[tuple[str, float, float]]) -> None:
        cal_x = np.array([1.0, 3.0, 3.0, 8.0, 8.0, 10.0])
        cal_y = baseline + np.array([0.0, 0.0, MM_PER_MV, MM_PER_MV, 0.0, 0.0])
        ax.plot(cal_x, cal_y, color="black", lw=0.8)
        for lead, start_s, length_s in pieces:
            x, y = _segment(signal_mv[LEADS.index(lead)], fs, start_s, length_s)
            x0 = _CAL_MM + start_s * MM_PER_S
            if shade is not None and len(x):
                band = shade[LEADS.index(lead)][int(round(start_s * fs)):][:len(x)]
                faint = np.abs(band[None, :]) < 0.05
                ax.imshow(np.ma.masked_where(faint, band[None, :]), extent=(x0, x0 + len(x) / fs * MM_PER_S, baseline - 12, baseline + 12),
                          cmap="RdBu_r", vmin=-1.4, vmax=1.4, alpha=0.8, aspect="equal", zorder=0.5, interpolation="bilinear")
            ax.plot(x0 + x, baseline + y, color="black", lw=0.6)
            ax.text(x0 + 1.0, baseline + 7.0, lead, fontsize=8, fontweight="bold")
            if start_s > 0:
                ax.plot([x0, x0], [baseline - 3, baseline + 3], color="black", lw=0.6)

    for r, leads in enumerate(_LAYOUT):
        baseline = height_mm - (r + 0.6) * _ROW_MM
        row(baseline, [(lead, 2.5 * c, 2.5) for c, lead in enumerate(leads)])
    row(height_mm - 3.6 * _ROW_MM, [("II", 0.0, 10.0)])
    fig.suptitle(f"{title}    25 mm/s, 10 mm/mV", fontsize=10, x=0.01, ha="left", y=0.995)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: str | Path, dpi: float | None = None, tight: bool = False) -> Path:
    """Write ``fig`` to ``path`` atomically (format from the suffix, e.g. ``.png``), close it, and return the path.

    Every figure ecgnet draws is saved here, so a killed run never leaves half a picture.
    """
    path = Path(path)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight" if tight else None)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path
