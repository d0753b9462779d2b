"""What several test files share: learnable in-memory training data, challenge-format record folders (learnable,
good or faulty), the official interface's answers and how two answers compare.

Test files import from here (and from ``challenge_files``, ``model_dirs``, ``conftest``), never from each other.
"""
from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from challenge_files import mat_bytes, write_pair
from conftest import SHARED
from scipy.io import loadmat

from ecgnet.challenge.classes import NORMAL_INDEX, NUM_CLASSES
from ecgnet.config import PRESETS
from ecgnet.synth import generate_dataset, generate_record
from ecgnet.synth.writer import header_text, to_adc, write_record

REPO = Path(__file__).resolve().parents[1]

# ---- in-memory training data ----------------------------------------------------------------------------------

TINY = PRESETS["smoke"].replace(window=512, overlap=64, epochs=6, lr_milestones=(5,), batch_size=32, threads=1)
LEARNED_CLASSES = (NORMAL_INDEX, 2, 5, 9, 14, 19)  # a handful of classes, each tied to one lead


@dataclass
class ArrayCache:
    """The part of ``cache.Cache`` training reads, held in memory: records made from arrays."""

    names: np.ndarray
    labels: np.ndarray
    demographics: np.ndarray
    signals: list
    fingerprint: str

    def __len__(self) -> int:
        return len(self.names)

    def signal(self, i: int) -> np.ndarray:
        return self.signals[i]


def learnable_cache(n: int, seed: int = 0) -> ArrayCache:
    """Records at 257 Hz whose classes show as a 5 Hz wave on one lead each: a tiny net can learn them."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((n, NUM_CLASSES), dtype=bool)
    signals = []
    for i in range(n):
        chosen = rng.choice(LEARNED_CLASSES, size=rng.integers(1, 3), replace=False)
        labels[i, chosen] = True
        length = int(rng.integers(400, 900))
        x = 0.3 * rng.standard_normal((12, length)).astype(np.float32)
        t = np.arange(length) / 257.0
        for c in chosen:
            x[LEARNED_CLASSES.index(c) * 2] += np.sin(2 * np.pi * 5 * t + rng.uniform(0, 6)).astype(np.float32)
        signals.append(x)
    demographics = np.tile(np.array([0.5, 0, 1, 0, 1], dtype=np.float32), (n, 1))
    names = np.array([f"A{i:04d}" for i in range(n)])
    return ArrayCache(names, labels, demographics, signals, f"arrays-{n}-{seed}")


# ---- challenge-format record folders --------------------------------------------------------------------------

CODES = ("426783006", "164889003", "713427006", "427084000")  # SNR, AF, CRBBB, STach: each shows on one lead


def write_records(directory: Path, n: int, seed: int = 0) -> Path:
    """``n`` 10-s 500 Hz challenge-format records (int16 ``val``, gain 1000/mV) with learnable labels."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = np.arange(5000) / 500.0
    for i in range(n):
        name = f"A{i + 1:04d}"
        codes = list(rng.choice(CODES, size=rng.integers(1, 3), replace=False))
        x = 150 * rng.standard_normal((12, 5000))
        for code in codes:
            x[CODES.index(code) * 3] += 1000 * np.sin(2 * np.pi * 5 * t)
        val = np.round(x).astype(np.int16)
        write_pair(directory, name, val, age=str(int(rng.integers(20, 90))), sex=str(rng.choice(["Male", "Female"])),
                   dx=",".join(codes), date=None)
    return directory


def good_records(directory: Path, n: int, seed: int) -> dict[str, None]:
    """``n`` valid 10-s 500 Hz synthetic records: {name: None}."""
    paths = generate_dataset(directory, n, seed=seed, workers=1, fs_choices=[500], duration_range=(10, 10))
    return dict.fromkeys(p.stem for p in paths)


# ---- faulty records (the driver's and train_model.py's bad input) ---------------------------------------------

EDGE_CASES = SHARED / "data" / "cinc2020-real" / "edge-cases"
# Edge cases the driver classifies, and the one it must report (a header without its .mat).
EDGE_READABLE = ("A0001", "ETEST", "HR00001", "JS20005", "Q0002")
EDGE_MISSING_SIGNAL = "I0001"
TWO_HOURS = 2 * 3600

# One generated fault: (name, header text or bytes or None, .mat bytes or None, regex of its error or None if readable).
Fault = tuple[str, str | bytes | None, bytes | None, str | None]
HeaderOf = Callable[[str, np.ndarray], str]  # (name, counts) -> the base record's header for them


def _mat_faults(header: HeaderOf, adc: np.ndarray) -> list[Fault]:
    """Signal files that are cut, empty, or hold no numeric ``val`` (text, complex, a cell)."""
    good_mat = mat_bytes(adc)
    cell = np.empty((1, 2), dtype=object)
    cell[0, 0], cell[0, 1] = adc[:6], adc[6:]
    return [
        ("TRUNCATED", header("TRUNCATED", adc), good_mat[: len(good_mat) // 2], "not a readable MATLAB file"),
        ("ZEROBYTES", header("ZEROBYTES", adc), b"", r"signal file is empty \(0 bytes\)"),
        ("WRONGVAR", header("WRONGVAR", adc), mat_bytes(adc, "signal", format="5"), "no variable 'val'"),
        ("COMPLEXVAL", header("COMPLEXVAL", adc), mat_bytes(adc.astype(np.complex128), format="5"), "non-numeric type complex"),
        ("STRINGVAL", header("STRINGVAL", adc), mat_bytes("twelve leads", format="5"), "non-numeric type"),
        ("CELLVAL", header("CELLVAL", adc), mat_bytes(cell, format="5"), "non-numeric type object"),
    ]


def _text_faults(header: HeaderOf, adc: np.ndarray) -> list[Fault]:
    """Headers cut short, random bytes (with and without NULs) in either file, no header, a latin-1 header."""
    good_mat = mat_bytes(adc)
    lines = header("FEWLINES", adc).splitlines()
    rng = np.random.default_rng(3)
    garbage_mat = rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    garbage_hea = rng.integers(0, 256, 600, dtype=np.uint8).tobytes()
    no_nul = np.random.default_rng(1).integers(1, 256, 600, dtype=np.uint8).tobytes()
    latin1 = header("LATIN1", adc).replace("#Sx: Unknown", "#Sx: Müdigkeit, Schwindel (Bürozeit)")
    return [
        ("FEWLINES", "\n".join(lines[:7] + lines[13:]) + "\n", good_mat, "claims 12 leads but has 6 signal lines"),
        ("GARBAGEMAT", header("GARBAGEMAT", adc), garbage_mat, "not a readable MATLAB file"),
        ("GARBAGEHEA", garbage_hea, good_mat, "NUL bytes: not a text header"),
        ("GARBAGETEXT", no_nul, good_mat, "bad lead count .* on the record line"),
        ("NOHEADER", None, good_mat, r"header file NOHEADER\.hea is missing"),
        ("LATIN1", latin1.encode("latin-1"), good_mat, None),
    ]


def _sample_faults(header: HeaderOf, signal_mv: np.ndarray) -> list[Fault]:
    """Two hours of signal, 0.2 s of it, and a few, most or all samples NaN or infinite."""
    adc = to_adc(signal_mv)
    long_adc = to_adc(np.tile(signal_mv, (1, TWO_HOURS // 10)))

    def with_nonfinite(fraction: float, value: float) -> np.ndarray:
        val = adc.astype(np.float64)
        flat = val.reshape(-1)
        flat[np.random.default_rng(5).choice(flat.size, int(fraction * flat.size) or 6, replace=False)] = value
        return val

    few = with_nonfinite(0, np.nan)
    few[3, 100:103] = np.inf
    few[4, 200] = -np.inf
    return [
        ("TWOHOURS", header("TWOHOURS", long_adc), mat_bytes(long_adc), None),
        # 0.2 s: no beat to classify (refused like a flat record: records.reader.too_short)
        ("SAMPLES100", header("SAMPLES100", adc[:, :100]), mat_bytes(adc[:, :100]), r"too short: 100 samples"),
        ("NANFEW", header("NANFEW", adc), mat_bytes(few), None),
        ("NANMOST", header("NANMOST", adc), mat_bytes(with_nonfinite(0.6, np.nan)), "are NaN or infinite"),
        ("INFALL", header("INFALL", adc), mat_bytes(with_nonfinite(1.0, np.inf)), "are NaN or infinite"),
    ]


def write_faults(directory: Path) -> dict[str, str | None]:
    """Write one record per fault into ``directory``: {name: None if readable, else a regex its error must match}.

    Names are what the driver's ``.mat`` listing sees; ``NOHEADER`` has only a ``.mat``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    signal_mv, fs, age, sex, codes = generate_record(0, 7, fs_choices=[500], duration_range=(10, 10))
    adc = to_adc(signal_mv)

    def header(name: str, val: np.ndarray) -> str:
        return header_text(name, val, fs, age, sex, codes)

    expected: dict[str, str | None] = {}
    for name, hea, mat, outcome in _mat_faults(header, adc) + _text_faults(header, adc) + _sample_faults(header, signal_mv):
        if hea is not None:
            (directory / f"{name}.hea").write_bytes(hea if isinstance(hea, bytes) else hea.encode())
        if mat is not None:
            (directory / f"{name}.mat").write_bytes(mat)
        expected[name] = outcome
    for rate in (300, 128):
        mv, _, _, _, _ = generate_record(rate, 11, fs_choices=[rate], duration_range=(10, 10))
        write_record(directory, f"FS{rate}", mv, rate, age, sex, codes)
        expected[f"FS{rate}"] = None
    return expected


def copy_edge_cases(directory: Path) -> dict[str, str | None]:
    """The real edge-case records, when ../shared is present: {name: expected outcome}."""
    if not EDGE_CASES.is_dir():
        return {}
    for path in EDGE_CASES.iterdir():
        if path.suffix in (".hea", ".mat"):
            shutil.copyfile(path, directory / path.name)
    return {**dict.fromkeys(EDGE_READABLE), EDGE_MISSING_SIGNAL: r"signal file I0001\.mat is missing"}


# ---- the official interface's answers ---------------------------------------------------------------------------

def official_driver_files(model: Path, data: Path) -> dict[Path, str]:
    """{NAME.mat: the text the organisers' 2020 driver writes for it}: per-record calls, values written with str()."""
    sys.path.insert(0, str(REPO))
    try:
        from run_12ECG_classifier import load_12ECG_model, run_12ECG_classifier
    finally:
        sys.path.remove(str(REPO))
    loaded = load_12ECG_model(str(model))
    files = {}
    for mat in sorted(data.glob("*.mat")):
        values = np.asarray(loadmat(mat)["val"], dtype=np.float64)
        header = mat.with_suffix(".hea").read_text().splitlines(keepends=True)
        labels, scores, classes = run_12ECG_classifier(values, header, loaded)
        files[mat] = "\n".join([f"#{mat.stem}", ",".join(classes), ",".join(str(i) for i in labels), ",".join(str(i) for i in scores)]) + "\n"
    return files


def assert_same_answers(written: str, expected: str, where: str) -> None:
    """Record line, classes and labels identical; scores equal to float tolerance.

    The driver classifies several records per forward pass, and the kernels' summation
    order depends on the batch size, so its scores may differ from per-record calls in
    the last bits (about 1e-7); a label never may.
    """
    written_lines, expected_lines = written.split("\n"), expected.split("\n")
    assert written_lines[:3] == expected_lines[:3] and written_lines[4:] == expected_lines[4:], where
    if expected_lines[3]:
        np.testing.assert_allclose([float(x) for x in written_lines[3].split(",")],
                                   [float(x) for x in expected_lines[3].split(",")], rtol=0, atol=1e-5, err_msg=where)
    else:
        assert written_lines[3] == "", where
