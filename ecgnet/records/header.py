"""A record's header (``NAME.hea``): text to plain values, nothing read from the signal file.

All the scorer needs (``read_dx_codes``), so this module stays light: it imports no numpy, scipy or torch.

``parse_header`` and ``read_header`` give a ``Header``; ``read_dx_codes`` the labels alone. Every header variant seen in the 2020 and
2021 releases is accepted: ``NAME.mat`` on the record line, ``16x1+24`` formats,
``1000.0(0)/mV`` and ``/mv`` gains, ``# Age:`` with a space, ``NaN``/``Unknown``
values, blank or ragged ``#Dx`` lists, CRLF or CR-only line ends (universal
newlines, as Python's text mode reads them), and UTF-8 or Latin-1 text (``decode_header``). The fields follow WFDB's header(5)
specification: a record line ``NAME NSIG [FS [NSAMP ...]]`` (FS defaults to 250 Hz,
NSAMP may be absent: the signal file gives the length) and signal lines ``FILE FORMAT
[GAIN[(BASELINE)][/UNITS] [ADCRES [ADCZERO [INIT [CHECKSUM [BLOCK [DESCRIPTION]]]]]]]``.
"""
from __future__ import annotations

import functools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ecgnet.errors import RecordError

DEFAULT_GAIN = 200.0  # WFDB's default when a header gives none (or 0 = uncalibrated)
DEFAULT_UNITS = "mV"  # WFDB's default when a gain field names no units
# Physical units a gain may be given in (matched case-insensitively), as millivolts per unit.
MV_PER_UNIT: dict[str, float] = {"uv": 1e-3, "mv": 1.0, "v": 1e3}
# The SI prefix micro: GREEK SMALL LETTER MU (U+03BC), to which Unicode's compatibility
# normalization (NFKC) maps the MICRO SIGN (U+00B5, Latin-1 byte 0xB5, what EDF converters
# write) and the square unit sign U+33B6; "u" is WFDB's ASCII spelling. Nothing else is
# micro (no "mc"; a capital mu reads as "M").
MICRO = "\u03bc"

_GAIN_RE = re.compile(r"^(?P<gain>[-+]?[0-9.eE+-]+)?(?:\((?P<baseline>[-+]?\d+)\))?(?:/(?P<units>\S+))?$")
_FORMAT_RE = re.compile(r"\d*")
_FS_RE = re.compile(r"^(?P<fs>[0-9.eE+-]+)(?:/[0-9.eE+-]+)?(?:\([-+0-9.eE]+\))?$")


@dataclass(frozen=True)
class SignalSpec:
    """One signal line of a header; ``gain`` is ADC units per ``units``, as written (0 read as 200)."""

    file_name: str
    fmt: str  # the format field as written, e.g. "16+24" or "16x1+24"
    gain: float
    baseline: int
    units: str
    adc_zero: int
    init_value: int | None
    checksum: int | None
    lead: str
    gain_field: str = ""  # the gain field exactly as written, for messages
    adc_resolution: int | None = None  # bits; None when absent or 0 (WFDB: the format's default)
    format_code: str = ""  # the storage format alone: "16" of "16x1+24" (the digits before any 'x' or '+')


@functools.lru_cache(maxsize=256)  # a record's 12 leads share one unit, and a data set a few
def mv_per_unit(units: str) -> float | None:
    """Millivolts per one of ``units``: ``uV``, ``mV`` or ``V`` in any case (SI and WFDB), micro also written ``µ`` or ``μ``.

    Units are compared after NFKC normalization (``MICRO``), so every Unicode form of
    these units is read; None for any other unit.
    """
    if not units.isascii():
        units = unicodedata.normalize("NFKC", units)
    if units.startswith(MICRO):
        units = "u" + units[1:]
    return MV_PER_UNIT.get(units.lower())


def counts_per_mv(spec: SignalSpec, where: str | Path) -> float:
    """The signal's gain in ADC units per millivolt, converted from the header's units (uV, mV, V, any case).

    Microvolts may be written ``uV``, ``µV`` (U+00B5) or ``μV`` (U+03BC) (``mv_per_unit``).
    Raises ``RecordError`` naming ``where`` and quoting the gain field for any other unit.
    """
    factor = mv_per_unit(spec.units)
    if factor is None:
        raise RecordError(where, f"gain {spec.gain_field!r} of lead {spec.lead or '?'} is in unknown units {spec.units!r} "
                                 f"(expected uV, mV or V)")
    return spec.gain / factor


@dataclass(frozen=True)
class Header:
    """What a challenge header says about its record."""

    name: str
    num_leads: int
    fs: float
    num_samples: int | None  # None when line 1 gives none: the signal file's length is used
    signals: tuple[SignalSpec, ...]
    age: float | None
    sex: str | None  # "Female", "Male" or None when unknown
    dx: tuple[str, ...]  # SNOMED CT codes, order kept, duplicates and empty items removed
    comments: dict[str, str] = field(default_factory=dict)

    @property
    def leads(self) -> tuple[str, ...]:
        """The lead names of the signal lines, in the header's order."""
        return tuple(s.lead for s in self.signals)


def signed_checksum(total):
    """A signal line's checksum for samples summing to ``total``: the sum mod 2**16, as signed 16-bit.

    ``total`` is an int, or a numpy array of integer-valued sums (one per lead, element-wise).
    """
    return (total + 32768) % 65536 - 32768


def _int_or_none(token: str | None) -> int | None:
    if token is None:
        return None
    try:
        return int(token)
    except ValueError:
        return None


def _parse_signal_line(line: str, where: str) -> SignalSpec:
    tokens = line.split()
    count = len(tokens)
    if count < 2:
        raise RecordError(where, f"signal line has too few fields: {line!r}")
    file_name, fmt = tokens[0], tokens[1]
    gain, baseline, units, gain_field = DEFAULT_GAIN, None, DEFAULT_UNITS, ""
    if count > 2:
        gain_field = tokens[2]
        match = _GAIN_RE.match(gain_field)
        if not match:
            raise RecordError(where, f"unreadable gain field {gain_field!r}")
        gain_text, baseline_text, units_text = match.group("gain", "baseline", "units")
        if gain_text:
            try:
                gain = float(gain_text)
            except ValueError:
                raise RecordError(where, f"unreadable gain field {gain_field!r}") from None
        if baseline_text is not None:
            baseline = int(baseline_text)
        units = units_text or units
    if not math.isfinite(gain):
        raise RecordError(where, f"gain is not a finite number: {gain_field!r}")
    if gain == 0:
        gain = DEFAULT_GAIN
    resolution = _int_or_none(tokens[3]) if count > 3 else None
    adc_zero = (_int_or_none(tokens[4]) if count > 4 else 0) or 0
    if baseline is None:
        baseline = adc_zero  # WFDB: the baseline defaults to the ADC zero
    init_value = _int_or_none(tokens[5]) if count > 5 else None
    checksum = _int_or_none(tokens[6]) if count > 6 else None
    lead = " ".join(tokens[8:]) if count > 8 else ""
    return SignalSpec(file_name, fmt, gain, baseline, units, adc_zero, init_value, checksum, lead, gain_field,
                      resolution or None, _FORMAT_RE.match(fmt)[0])


def _parse_age(value: str) -> float | None:
    try:
        age = float(value)
    except ValueError:
        return None
    if not math.isfinite(age) or age < 0 or age > 130:
        return None
    return age


SEX_NAMES = {"female": "Female", "f": "Female", "male": "Male", "m": "Male"}


def _parse_dx(value: str) -> tuple[str, ...]:
    codes: list[str] = []
    for item in value.split(","):
        item = item.strip()
        if item and item not in codes:
            codes.append(item)
    return tuple(codes)


def record_name(field: str) -> str:
    """The record's name from the record line's first field: ``NAME``, or ``NAME.mat`` (any case) as the 2020 Georgia headers write it."""
    return field[:-4] if field.lower().endswith(".mat") else field


def parse_header(text: str, where: str | Path = "<header>") -> Header:
    """Parse header text; ``where`` (usually the file path) names the file in errors."""
    where = str(where)
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    content = [ln for ln in lines if ln and not ln.startswith("#")]
    comment_lines = [ln for ln in lines if ln.startswith("#")]
    if not content:
        raise RecordError(where, "header has no record line")
    record = content[0].split()
    if len(record) < 2:
        raise RecordError(where, f"record line needs at least a name and a lead count: {content[0]!r}")
    name = record_name(record[0])
    if "/" in name:
        raise RecordError(where, f"{record[0]!r} on the record line is a multi-segment record (NAME/SEGMENTS): not read; "
                                 "join its segments into one record first")
    num_leads = _int_or_none(record[1])
    if num_leads is None or num_leads < 1:
        raise RecordError(where, f"bad lead count {record[1]!r} on the record line")
    fs = 250.0  # WFDB default
    if len(record) > 2:
        match = _FS_RE.match(record[2])
        if not match:
            raise RecordError(where, f"bad sampling frequency {record[2]!r}")
        try:
            fs = float(match["fs"])
        except ValueError:
            raise RecordError(where, f"bad sampling frequency {record[2]!r}") from None
    if not math.isfinite(fs) or fs <= 0:
        raise RecordError(where, f"sampling frequency must be positive, got {record[2]!r}")
    num_samples = _int_or_none(record[3]) if len(record) > 3 else None
    if len(record) > 3 and (num_samples is None or num_samples < 0):
        raise RecordError(where, f"record line gives no valid number of samples: {record[3]!r}")
    signal_lines = content[1:]
    if len(signal_lines) < num_leads:
        raise RecordError(where, f"header claims {num_leads} leads but has {len(signal_lines)} signal lines")
    signals = tuple(_parse_signal_line(ln, where) for ln in signal_lines[:num_leads])

    comments: dict[str, str] = {}
    for line in comment_lines:
        body = line.lstrip("#").strip()
        if ":" in body:
            key, value = body.split(":", 1)
            comments.setdefault(key.strip().lower(), value.strip())
    age = _parse_age(comments.get("age", ""))
    sex = SEX_NAMES.get(comments.get("sex", "").strip().lower())
    dx = _parse_dx(comments.get("dx", ""))
    return Header(name, num_leads, fs, num_samples, signals, age, sex, dx, comments)


def decode_header(raw: bytes) -> str:
    """A header's bytes as text: UTF-8, else Latin-1 (where ``\\xb5`` is the micro sign, as EDF converters write it).

    WFDB headers are ASCII, which both read alike; Latin-1 gives every byte a
    character, so no byte of a header is ever lost or replaced.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_header_text(path: str | Path) -> str:
    """A ``.hea`` file's text (``decode_header``); binary files are refused."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordError(path, f"cannot read header ({exc.strerror or exc})") from None
    if b"\x00" in raw:
        raise RecordError(path, "header contains NUL bytes: not a text header")
    return decode_header(raw)


def read_header(path: str | Path) -> Header:
    """Read and parse a ``.hea`` file."""
    return parse_header(read_header_text(path), path)


# A line starts after LF, CR or CRLF (universal newlines, as the official scorer's text-mode reading).
_DX_LINE = re.compile(r"(?:^|(?<=[\r\n]))[ \t]*#[ \t]*dx[ \t]*:([^\r\n]*)", re.IGNORECASE)


def read_dx_codes(path: str | Path) -> tuple[str, ...]:
    """Only the ``#Dx`` codes of a header: what a scorer needs, whatever the signal lines say.

    One regular-expression search over the raw text (no line splitting), because the
    scorer calls this for every one of tens of thousands of label files.
    """
    try:
        with open(path, "rb") as handle:
            text = decode_header(handle.read())
    except OSError as exc:
        raise RecordError(path, f"cannot read header ({exc.strerror or exc})") from None
    match = _DX_LINE.search(text)
    return _parse_dx(match.group(1)) if match else ()
