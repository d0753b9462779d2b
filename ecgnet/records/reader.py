"""Reading a record (``NAME.hea`` + ``NAME.mat``, or a WFDB record's signal files) into a checked ``Record`` in millivolts.

Two ways in, one set of checks: a challenge record's ``NAME.mat`` (MATLAB ``val``,
read by scipy: the fast path every 2020 record takes), or, for a header without a
``.mat``, the signal files its signal lines name, in any WFDB storage format and any
number of files (16, 212, 24, 32, 61, 80, 160, 310, 311, 8, FLAC 508/516/524; PTB-XL,
MIMIC-IV-ECG, LUDB), read as ADC counts by ``wfdb.rdrecord``, the reference
implementation. Files pair by name ignoring case (``records.files.matching_file``).

The reading follows WFDB's semantics (header(5), signal(5); checked against the
``wfdb`` package by ``tests/test_wfdb_oracle.py``): physical value = (sample -
baseline) / gain, the gain in ADC units per the header's units (``uV``, ``mV`` or
``V``, any case; converted to per mV), the baseline defaulting to the ADC zero, a
format's invalid-sample value (-32768 in format 16) read as a missing sample, and
the record line's sample count optional (the signal file gives the length).

What is checked, and what happens (a ``RecordError`` names the file and the problem):

* header without its signal file(s), ``.mat`` without its header; empty, truncated or
  non-MATLAB ``.mat``; no ``val`` variable; non-numeric ``val``; ``val`` not 2-D; a
  WFDB signal file that wfdb cannot read -> error.
* ``val`` shape differs from the header's lead and sample counts; zero samples -> error.
* a gain in units other than uV, mV or V -> error (the gain field quoted).
* a standard lead missing or named twice -> error. Leads in another order are
  reordered by name (case-insensitive); extra leads are dropped with a warning;
  a header with no lead names at all is taken in the standard order, with a warning.
  With ``all_leads=False`` (for a model of reduced lead sets: the 2021 challenge's
  records of 2, 3, 4 or 6 signal lines) missing standard leads are allowed: their rows
  of the signal are 0 and ``Record.leads`` names the leads read; at least one is needed.
* per-lead checksum (sum of samples mod 2**16, signed) or first value differs
  from the header -> warning only (the data are still usable).
* missing samples (NaN, inf, or the format's invalid-sample value, in ``val`` as
  int16 or as the driver's float64): up to ``MAX_NONFINITE_FRACTION`` of the record
  they are set to the lead's baseline (0 mV) with one warning; more -> error.
* a flat (constant, e.g. all-zero) lead -> kept, with a warning; all leads flat -> error.
* shorter than ``MIN_DURATION_S`` (after resampling to 257 Hz) -> error, like a flat
  record: no beat to classify, and the network would see only zero padding.

Gain policies (``gain_policy``), the scale from ADC counts to mV:

* ``"header"``: trust each signal line's gain, units and baseline (WFDB's reading).
* ``"fixed1000"``: 1000 counts/mV for every lead (the header's baseline is kept):
  the true scale of every 2020 source.
* ``"auto"`` (default): the header's gains, unless they give a physiologically
  implausible QRS amplitude (``qrs_amplitude`` outside ``PLAUSIBLE_QRS_MV``, missing
  and rail-clipped samples left out) while 1000/mV gives a plausible one (or, when
  neither is plausible, one nearer the plausible range on a log scale); then
  1000/mV, with a warning quoting the header's gain field. This repairs the
  2020 release's wrong source-wide gains (Georgia 4880/mV, PTB-XL 200/mV, PTB
  2000000/mV, INCART 306000/mV, where the counts are ~1000/mV) and still honours
  correct headers with other gains, e.g. 200/mV. Records z-scored upstream and
  stored as ``z * 150`` at 1000/mV (a PTB-XL derivative is shared so) have
  nominal "mV" (1 z = 0.15 mV, median QRS about 1.1 mV): plausible, header kept.

Intended deviations from ``wfdb.rdrecord``, each for a reason and each tested:

1. ``auto`` gains: the 2020 release's wrong gains would give signals 5x too small
   or large (tests/test_records.py, gain tests). ``gain_policy="header"`` is WFDB's reading.
2. Missing samples become 0 mV (``repair=False`` keeps them NaN, as wfdb does): the
   network cannot take NaN, and the repair is reported (test_records: NaN and -32768 repair).
3. Leads come in ``LEADS`` order whatever the header's order, extra leads are
   dropped: the network's input is the standard 12 leads (test_records: reordering),
   a lead the record lacks a row of zeros named absent by ``Record.leads``.
4. The signal is read from ``NAME.mat`` beside the header, when there is one, whatever
   the signal line's file name says: the challenge's convention (test_wfdb_oracle:
   ``.dat`` names). Without it, from the files the signal lines name.
5. Record lines wfdb rejects are read: ``NAME.mat`` as the record name (the 2020
   Georgia headers) and dates written with '-' (wfdb-python #351) (test_wfdb_oracle).
6. Too-short and all-flat records are refused instead of classified from nothing
   (test_records: flat and too-short records).

The header is parsed by ``records.header``; ``records.files`` finds the records of a folder.
"""
from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io

from ecgnet.challenge.classes import encode_codes, is_scored
from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.files import HEADER_SUFFIX, MAT_SUFFIX, RecordFiles, matching_file, record_file, source_of
from ecgnet.records.header import Header, SignalSpec, counts_per_mv, parse_header, read_header
from ecgnet.signal import TARGET_FS, resampled_length

GAIN_POLICIES: tuple[str, ...] = ("auto", "header", "fixed1000")
REFERENCE_GAIN = 1000.0  # counts per mV of every 2020 source, whatever its header says
# Median over leads of the median 2-s peak-to-peak amplitude, in mV. On the real
# 2020 records at their true 1000/mV this spans 0.43-2.3 mV; the wrong headers of
# the same files give 0.09-0.48 (4880/mV) and 3.2-6.9 (200/mV). Only records whose
# header gain is not already 1000/mV can be changed by the test.
PLAUSIBLE_QRS_MV: tuple[float, float] = (0.5, 2.5)
AMPLITUDE_SEGMENT_S = 2.0  # each segment holds at least one beat at heart rates above 30/min
MAX_NONFINITE_FRACTION = 0.1  # of all samples; missing samples beyond this refuse the record
# The shortest record classified: one beat at 30/min, the slowest rate the amplitude check's
# 2-s segments are built for (sinus bradycardia rarely goes lower). Every 2020 source's
# records are at least 6 s long, so this refuses only files that hold no beat at all.
MIN_DURATION_S = AMPLITUDE_SEGMENT_S

# WFDB's invalid-sample value of each storage format (signal(5)); formats not listed (8: first differences) have none.
INVALID_SAMPLE: dict[str, int] = {"80": -(2**7), "508": -(2**7), "310": -(2**9), "311": -(2**9), "212": -(2**11),
                                  "16": -(2**15), "61": -(2**15), "160": -(2**15), "516": -(2**15), "24": -(2**23),
                                  "524": -(2**23), "32": -(2**31)}
# Each format's digital range, the ADC's rails when the header gives no resolution: the invalid value to its positive mirror less one.
SAMPLE_RANGE: dict[str, tuple[int, int]] = {fmt: (invalid, -invalid - 1) for fmt, invalid in INVALID_SAMPLE.items()}
_LEAD_INDEX = {lead.lower(): i for i, lead in enumerate(LEADS)}


@dataclass
class Record:
    """One record, checked and scaled: the signal is float32 (12, N) in mV, leads in ``LEADS`` order.

    Missing samples are 0 mV (NaN only in a ``read_record(..., repair=False)`` reading).
    ``leads``: the leads the record holds signal for, in ``LEADS`` order; the rows of the
    others are 0 (only a reading with ``all_leads=False`` lacks any).
    """

    name: str
    path: Path
    fs: float
    signal: np.ndarray
    age: float | None
    sex: str | None
    labels: np.ndarray
    unscored: tuple[str, ...]
    source: str
    warnings: tuple[str, ...]
    leads: tuple[str, ...] = LEADS


def _validated(val: object, where: str | Path) -> np.ndarray:
    array = np.asarray(val) if not isinstance(val, np.ndarray) else val
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise RecordError(where, f"'val' has non-numeric type {array.dtype}")
    if array.ndim != 2:
        raise RecordError(where, f"'val' must be a 2-D (leads, samples) array, got shape {array.shape}")
    return array


def load_mat(path: str | Path) -> np.ndarray:
    """The ``val`` array of a challenge ``.mat`` file, checked to be a numeric 2-D array."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecordError(path, "signal file is missing") from None
    except OSError as exc:
        raise RecordError(path, f"cannot read signal file ({exc.strerror or exc})") from None
    if size == 0:
        raise RecordError(path, "signal file is empty (0 bytes)")
    try:
        contents = scipy.io.loadmat(path, variable_names=["val"])
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, TypeError, OSError, MatReadError, ... on garbage
        raise RecordError(path, f"not a readable MATLAB file, truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if "val" not in contents:
        raise RecordError(path, "MATLAB file has no variable 'val'")
    return _validated(contents["val"], path)


def load_wfdb(header_path: Path, header: Header) -> tuple[np.ndarray, Path]:
    """The ADC counts (leads, N) int64 of a WFDB record's signal files, read by ``wfdb.rdrecord``, and its first signal file.

    Counts as stored: the baseline not subtracted, WFDB's invalid-sample value kept
    (``_assemble`` marks it missing), as in a ``.mat``'s ``val``. Every file the signal
    lines name is found by the pairing rule; where a name's case differs from the
    file's (``U0001.HEA``, ``00001_HR.DAT``), wfdb, which opens names as written, reads
    through links under the written names in a temporary folder. A missing file, or one
    wfdb cannot read, is a ``RecordError``.
    """
    files = _named_files(header_path, header)
    missing = [name for name, path in files.items() if path is None]
    if missing:
        raise RecordError(header_path, f"signal file {', '.join(missing)} is missing")
    first = files[header.signals[0].file_name]
    if header_path.suffix == HEADER_SUFFIX and all(path.name == name for name, path in files.items()):
        return _rdrecord(header_path.with_suffix(""), header_path), first
    with tempfile.TemporaryDirectory(prefix="ecgnet-wfdb-") as links:
        for name, path in {header_path.stem + HEADER_SUFFIX: header_path, **files}.items():
            os.symlink(path.resolve(), Path(links, name))
        return _rdrecord(Path(links, header_path.stem), header_path), first


def _named_files(header_path: Path, header: Header) -> dict[str, Path | None]:
    """Each signal file the header's signal lines name, found beside it by the pairing rule (None where there is none)."""
    return {name: matching_file(header_path.parent, name) for name in dict.fromkeys(spec.file_name for spec in header.signals)}


def _rdrecord(base: Path, header_path: Path) -> np.ndarray:
    """``wfdb.rdrecord``'s ADC counts (leads, N) of the record ``base`` (its header ``base.hea``); errors name ``header_path``."""
    import wfdb  # here, not at the top: it loads pandas (~0.7 s), which no .mat record needs

    try:
        return wfdb.rdrecord(str(base), physical=False, return_res=64).d_signal.T
    except Exception as exc:  # noqa: BLE001 - wfdb raises ValueError, IndexError, OSError, ... on odd files
        raise RecordError(header_path, f"wfdb cannot read this record ({type(exc).__name__}: {exc})") from None


def load_signal(header_path: Path, header: Header) -> tuple[np.ndarray, Path]:
    """A record's raw counts (leads, N) and the file they came from: ``NAME.mat`` beside the header, else the WFDB signal files."""
    mat_path = matching_file(header_path.parent, header_path.stem + MAT_SUFFIX)
    if mat_path is not None:
        return load_mat(mat_path), mat_path
    return load_wfdb(header_path, header)


def source_files(record: RecordFiles) -> list[Path]:
    """Every file ``record`` is read from (header, ``.mat`` or WFDB signal files), for a data set's fingerprint.

    Never raises: what cannot be found is left out, and reading the record says why.
    """
    paths = [path for path in (record.header, record.mat) if path is not None]
    if record.mat is None and record.header is not None:
        try:
            paths += [path for path in _named_files(record.header, read_header(record.header)).values() if path is not None]
        except RecordError:
            pass
    return paths


def qrs_amplitude(counts: np.ndarray, fs: float, gains: np.ndarray) -> float:
    """Robust QRS size in mV: the median over leads of each lead's median peak-to-peak per 2-s segment.

    ``counts`` are the (leads, N) samples less their baselines, NaN where a sample
    must not count (missing, or clipped at the ADC's rails); ``gains`` the counts per
    mV of each lead (ones for a signal already in mV). A segment holding a NaN is
    left out (its true peak-to-peak is unknown), and so is a lead with no segment
    left; NaN when no lead is left.

    Medians make one noisy lead, a flat lead or a few artefact segments harmless;
    2-s segments each hold a QRS complex at any heart rate above 30/min.
    """
    seg = max(1, int(round(AMPLITUDE_SEGMENT_S * fs)))
    count = max(1, counts.shape[1] // seg)
    usable = counts[:, : count * seg] if counts.shape[1] >= seg else counts
    blocks = usable.reshape(counts.shape[0], count, -1)
    spans = (blocks.max(axis=2) - blocks.min(axis=2)) / np.asarray(gains, dtype=np.float64).reshape(-1, 1)
    per_lead = [np.median(row[np.isfinite(row)]) for row in spans if np.isfinite(row).any()]
    return float(np.median(per_lead)) if per_lead else math.nan


def _lead_order(header: Header, where: str, warnings: list[str], all_leads: bool = True) -> tuple[list[int], tuple[str, ...]]:
    """(header row of each standard lead the record has, those leads), in ``LEADS`` order; every lead when ``all_leads``."""
    names = [s.lead.strip().lower() for s in header.signals]
    if not any(names) and header.num_leads == len(LEADS):
        warnings.append("header names no leads; assumed the standard order " + ",".join(LEADS))
        return list(range(len(LEADS))), LEADS
    rows: dict[str, int] = {}
    for row, name in enumerate(names):
        if name in rows and name in _LEAD_INDEX:
            raise RecordError(where, f"lead {header.signals[row].lead!r} appears twice in the header")
        rows.setdefault(name, row)
    missing = [lead for lead in LEADS if lead.lower() not in rows]
    if missing and (all_leads or len(missing) == len(LEADS)):
        raise RecordError(where, f"missing lead(s) {', '.join(missing)}; header leads are {', '.join(s.lead for s in header.signals)}")
    extra = [header.signals[r].lead for n, r in rows.items() if n not in _LEAD_INDEX]
    if extra:
        warnings.append(f"ignored extra lead(s) {', '.join(extra)}")
    present = tuple(lead for lead in LEADS if lead.lower() in rows)
    order = [rows[lead.lower()] for lead in present]
    if order != list(range(len(order))):
        warnings.append("leads reordered to the standard order")
    return order, present


def _check_integrity(header: Header, val: np.ndarray, warnings: list[str]) -> None:
    """Checksums and first values against the header: mismatches are warnings, the data stay usable.

    A lead holding NaN or inf is not checked (its sum means nothing); the check is
    vectorised over leads, as it runs for every record.
    """
    if val.dtype.kind == "f":
        finite = np.isfinite(val).all(axis=1)
        sums = np.where(finite[:, None], val, 0).sum(axis=1)
    else:
        finite = np.ones(val.shape[0], dtype=bool)
        if val.dtype == np.int16:  # the challenge's storage: a wrapping 16-bit sum is the sum mod 2**16 already
            sums = val.view(np.uint16).sum(axis=1, dtype=np.uint16).astype(np.int64)
        else:
            sums = val.sum(axis=1, dtype=np.int64)
    checksums = np.array([math.nan if s.checksum is None else s.checksum for s in header.signals])
    firsts = np.array([math.nan if s.init_value is None else s.init_value for s in header.signals])
    # Compared mod 2**16: WFDB's C library writes the checksum signed, wfdb-python unsigned (0-65535).
    bad_sum = finite & ~np.isnan(checksums) & ((sums - checksums) % 65536 != 0)
    bad_first = finite & ~np.isnan(firsts) & (val[:, 0] != firsts)
    for bad, what in ((bad_sum, "checksum"), (bad_first, "first sample")):
        if bad.any():
            leads = ", ".join(header.signals[row].lead or str(row) for row in np.flatnonzero(bad))
            warnings.append(f"{what} differs from the header in lead(s) {leads}")


def _choose_gains(specs: list[SignalSpec], header_gains: np.ndarray, measurable: Callable[[], np.ndarray], fs: float, policy: str,
                  warnings: list[str]) -> np.ndarray:
    """Counts per mV of each lead under ``policy``; ``measurable()`` gives the counts with NaN where the amplitude must not look."""
    if policy == "header":
        return header_gains
    reference = np.full_like(header_gains, REFERENCE_GAIN)
    if policy == "fixed1000" or np.array_equal(header_gains, reference):
        return reference
    low, high = PLAUSIBLE_QRS_MV
    counts = measurable()
    as_header = qrs_amplitude(counts, fs, header_gains)
    if low <= as_header <= high or math.isnan(as_header):  # nothing measurable: no ground to override the header
        return header_gains
    as_reference = qrs_amplitude(counts, fs, reference)
    shown = ", ".join(dict.fromkeys(spec.gain_field or f"{spec.gain:g}" for spec in specs))  # as written, in lead order
    # Neither plausible (e.g. a genuinely low-voltage Georgia record under its wrong 4880/mV):
    # the scale whose amplitude lies nearer the plausible range, on a log scale, wins.
    if low <= as_reference <= high or _log_distance(as_reference) < _log_distance(as_header):
        warnings.append(
            f"gain override: header gain {shown} gives an implausible QRS amplitude of {as_header:.3g} mV; "
            f"used {REFERENCE_GAIN:g}/mV ({as_reference:.3g} mV)"
        )
        return reference
    warnings.append(f"QRS amplitude {as_header:.3g} mV under header gain {shown} is implausible, "
                    f"but {REFERENCE_GAIN:g}/mV is no better; kept the header gain")
    return header_gains


def _log_distance(amplitude_mv: float) -> float:
    """How far an amplitude lies outside ``PLAUSIBLE_QRS_MV``, in log units (0 inside)."""
    low, high = PLAUSIBLE_QRS_MV
    if amplitude_mv <= 0 or not math.isfinite(amplitude_mv):
        return math.inf
    return max(math.log(low / amplitude_mv), math.log(amplitude_mv / high), 0.0)


def _per_lead(values: list[float]) -> float | np.ndarray:
    """One scalar when every lead shares the value (one comparison over the record), else a (leads, 1) column."""
    return values[0] if len(set(values)) == 1 else np.array(values, dtype=np.float64)[:, None]


def _missing(specs: list[SignalSpec], raw: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """Mask (leads, N) of missing samples (NaN, inf, the format's invalid value: WFDB signal(5)); None when none.

    ``low``/``high`` are each lead's extremes: every invalid value is its format's
    minimum, so a clean record is recognised from them without another pass.
    """
    invalid = [INVALID_SAMPLE.get(spec.format_code, math.nan) for spec in specs]
    nonfinite = raw.dtype.kind == "f" and not (np.isfinite(low).all() and np.isfinite(high).all())
    if not nonfinite and not (low <= np.array(invalid)).any():  # NaN compares False: no invalid value
        return None
    missing = raw == _per_lead(invalid)  # NaN compares unequal: formats without an invalid value mark nothing
    if raw.dtype.kind == "f":
        missing |= ~np.isfinite(raw)
    return missing


def _clipped(specs: list[SignalSpec], raw: np.ndarray) -> np.ndarray:
    """Mask (leads, N) of samples at the ADC's rails.

    The rails are ADC zero -/+ 2**(resolution - 1) (the top one less one) when the
    header gives a resolution, else the format's digital range; no rails, no clipping.
    The lowest code counts from one above the bottom rail: there WFDB keeps the
    invalid value, so a signal clipped at the bottom reads one code higher.
    """
    low, high = [], []
    for spec in specs:
        if spec.adc_resolution:
            half = 2 ** (spec.adc_resolution - 1)
            rails = (spec.adc_zero - half, spec.adc_zero + half - 1)
        else:
            rails = SAMPLE_RANGE.get(spec.format_code, (-math.inf, math.inf))
        low.append(rails[0])
        high.append(rails[1])
    return (raw <= _per_lead([value + 1 for value in low])) | (raw >= _per_lead(high))


def too_short(samples: int, fs: float) -> str | None:
    """Why ``samples`` at ``fs`` Hz are too few to classify (under ``MIN_DURATION_S`` after resampling to 257 Hz), or None."""
    if resampled_length(samples, fs) >= int(MIN_DURATION_S * TARGET_FS):
        return None
    return (f"is too short: {samples} samples at {fs:g} Hz ({samples / fs:.3g} s); "
            f"at least {MIN_DURATION_S:g} s (one beat at 30/min) is needed")


def _check_length(header: Header, val: np.ndarray, where: str, mat_where: str) -> None:
    """Shape against the header, and enough signal for one beat after resampling."""
    samples = val.shape[1] if header.num_samples is None else header.num_samples
    if val.shape != (header.num_leads, samples):
        raise RecordError(mat_where, f"signal shape {val.shape} differs from the header's {header.num_leads} leads x {samples} samples")
    if samples == 0:
        raise RecordError(where, "record has no samples")
    problem = too_short(samples, header.fs)
    if problem:
        raise RecordError(where, f"record {problem}")


def _check_flat(spans: np.ndarray, leads: tuple[str, ...], mat_where: str, warnings: list[str]) -> None:
    """From each lead's peak-to-peak span: a flat (constant) lead is a warning, every lead flat a ``RecordError``."""
    if not spans.any():
        raise RecordError(mat_where, "every lead is flat (constant): no signal")
    flat = [leads[i] for i in np.flatnonzero(spans == 0)]
    if flat:
        warnings.append(f"flat (constant) lead(s) {', '.join(flat)}")


def _repair_missing(signal: np.ndarray, missing: np.ndarray, specs: list[SignalSpec], names: tuple[str, ...],
                    warnings: list[str]) -> None:
    """Missing samples to 0 mV (the lead's baseline), in place, with one warning saying how many and where."""
    signal[missing] = 0.0
    leads = ", ".join(names[i] for i in np.flatnonzero(missing.any(axis=1)))
    invalid = sorted({f"{INVALID_SAMPLE[s.format_code]} in format {s.format_code}" for s in specs if s.format_code in INVALID_SAMPLE})
    warnings.append(f"{int(missing.sum())} NaN/infinite or invalid sample(s) (WFDB's invalid value: {', '.join(invalid) or 'none'}) "
                    f"in lead(s) {leads} set to 0 mV")


def _assemble(header: Header, val: np.ndarray, name: str, path: Path, mat_where: str, gain_policy: str, warnings: list[str],
              repair: bool = True, all_leads: bool = True) -> Record:
    """The checks and scaling shared by ``read_record`` and ``record_from_arrays``."""
    if gain_policy not in GAIN_POLICIES:
        raise ValueError(f"gain_policy must be one of {GAIN_POLICIES}, got {gain_policy!r}")
    where = str(path)
    _check_length(header, val, where, mat_where)
    order, leads = _lead_order(header, where, warnings, all_leads)
    _check_integrity(header, val, warnings)
    specs = [header.signals[r] for r in order]
    header_gains = np.array([counts_per_mv(spec, where) for spec in specs], dtype=np.float32)
    raw = val[order]
    low, high = raw.min(axis=1), raw.max(axis=1)
    missing = _missing(specs, raw, low, high)
    if missing is not None and repair and missing.mean() > MAX_NONFINITE_FRACTION:
        raise RecordError(mat_where, f"{missing.mean():.0%} of the samples are NaN or infinite or the format's "
                                     f"invalid value (more than {MAX_NONFINITE_FRACTION:.0%})")
    counts = raw.astype(np.float32)
    counts -= np.array([spec.baseline for spec in specs], dtype=np.float32)[:, None]
    if missing is None:
        _check_flat(high.astype(np.float64) - low, leads, mat_where, warnings)
    else:
        _check_flat(np.ptp(np.where(missing, np.float32(0), counts), axis=1), leads, mat_where, warnings)
        counts[missing] = np.nan

    def measurable() -> np.ndarray:  # only built when the gain check runs: clipped samples out as well
        clipped = _clipped(specs, raw) if missing is None else _clipped(specs, raw) & ~missing
        return np.where(clipped, np.float32(np.nan), counts) if clipped.any() else counts

    gains = _choose_gains(specs, header_gains, measurable, header.fs, gain_policy, warnings)
    counts /= gains[:, None]
    if repair and missing is not None:
        _repair_missing(counts, missing, specs, leads, warnings)
    if leads != LEADS:  # a reduced-lead record: the leads it lacks are rows of zeros
        signal = np.zeros((len(LEADS), counts.shape[1]), dtype=np.float32)
        signal[[_LEAD_INDEX[lead.lower()] for lead in leads]] = counts
        counts = signal
    return Record(
        name=name,
        path=path,
        fs=header.fs,
        signal=counts,
        age=header.age,
        sex=header.sex,
        labels=encode_codes(header.dx),
        unscored=tuple(code for code in header.dx if not is_scored(code)),
        source=source_of(name),
        warnings=tuple(warnings),
        leads=leads,
    )


def header_of(path: str | Path) -> Path:
    """The header of the record ``path`` names (``NAME``, ``NAME.hea``, ``NAME.mat``, ``NAME.dat``, any case), by the pairing rule.

    Raises ``RecordError`` naming ``path`` when there is none.
    """
    header_path = record_file(path, HEADER_SUFFIX)
    if header_path is None:
        raise RecordError(path, f"header file {Path(path).stem}{HEADER_SUFFIX} is missing")
    return header_path


def read_record(path: str | Path, gain_policy: str = "auto", repair: bool = True, all_leads: bool = True) -> Record:
    """Read a record, named by any of its files (``header_of``), into a checked, scaled ``Record``.

    The signal comes from ``NAME.mat`` beside the header, else from the WFDB signal
    files the header names (``load_signal``). ``repair=False`` leaves missing samples
    NaN and skips their limit: the reading before the missing-sample repair, which is
    what ``wfdb.rdrecord`` returns. ``all_leads=False`` reads a record that lacks some of
    the twelve leads (``Record.leads``).
    """
    header_path = header_of(path)
    header = read_header(header_path)
    warnings: list[str] = []
    if header.name != header_path.stem:
        warnings.append(f"header names the record {header.name!r}; used the file name {header_path.stem!r}")
    val, signal_path = load_signal(header_path, header)
    return _assemble(header, val, header_path.stem, header_path, str(signal_path), gain_policy, warnings, repair, all_leads)


def record_from_arrays(data: np.ndarray, header_lines: Iterable[str] | str | Header, where: str = "<input>",
                       gain_policy: str = "auto", all_leads: bool = True) -> Record:
    """A ``Record`` from what the challenge driver hands ``run_12ECG_classifier``: raw counts and header lines.

    ``data`` is ``loadmat(...)['val']`` (float64 counts: the format's invalid value,
    -32768 in format 16, is a missing sample here too); ``header_lines`` the header's
    lines with or without their newlines, or a ``Header`` already built (the clinical
    formats' readers make one from their files' fields). Same checks and scaling as
    ``read_record`` (``all_leads`` too); ``where`` names the input in errors.
    """
    if isinstance(header_lines, Header):
        header = header_lines
    else:
        text = header_lines if isinstance(header_lines, str) else "\n".join(line.rstrip("\r\n") for line in header_lines)
        header = parse_header(text, where)
    val = _validated(data, where)
    return _assemble(header, val, header.name, Path(where), where, gain_policy, [], all_leads=all_leads)
