"""What the clinical files' readers share (``dicom``, ``muse``, ``aecg``): their leads into a checked ``Record``.

Each reader hands over the channels of the waveform it chose, as stored (``Channel``:
counts, amplitude per count and its units, baseline), with the sampling rate, age and
sex. ``record_from_channels`` names the leads in the field's terms, derives the limb
leads a file leaves out from I and II, and builds the ``Header`` the WFDB reader
would have read, so the same checks and repairs run (``reader.record_from_arrays``:
lead order, missing and extra leads, missing samples, flat leads, too-short records).

The gain policy is always ``"header"`` here: a clinical file states its amplitude
units per lead, and the ``auto`` repair targets the 2020 release's wrong WFDB headers
(it would misread, e.g., a large-QRS MUSE file at 4.88 uV per count as one at 1000/mV).

XML is parsed with ``defusedxml`` (entity declarations and external references
refused: the files come from outside), then namespaces are dropped and tags
lower-cased, so the readers accept ``<RestingECG>``, ``<restingecg>`` and
``<hl7:sequence>`` alike.
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
import numpy as np
from defusedxml import DefusedXmlException

from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.header import MV_PER_UNIT, SEX_NAMES, Header, SignalSpec, mv_per_unit
from ecgnet.records.reader import INVALID_SAMPLE, Record, record_from_arrays

MAX_AGE_YEARS = 130.0  # as the WFDB header reader: a larger (or negative) age is unknown
# Amplitude units as clinical files spell them out (DICOM code meanings, MUSE's MICROVOLTS); symbols (UCUM codes
# such as uV, the micro sign and the Greek mu) are the header reader's (header.mv_per_unit).
UNIT_WORDS: dict[str, str] = {"microvolt": "uV", "microvolts": "uV", "millivolt": "mV", "millivolts": "mV", "volt": "V", "volts": "V"}
_SYMBOL_OF_FACTOR = {1e-3: "uV", 1.0: "mV", 1e3: "V"}
# Each stored sample width (bytes) as the WFDB format of the same width, whose invalid value marks a missing sample.
STORAGE_FORMATS: dict[int, str] = {1: "80", 2: "16", 4: "32"}
_STANDARD = {lead.lower(): lead for lead in LEADS}
# "Lead I (Einthoven)" (DICOM), "MDC_ECG_LEAD_AVR" (HL7 aECG), "LEAD_V1": the lead's name is what remains.
_LABEL_NOISE = re.compile(r"^\s*(mdc_ecg_lead_|lead[\s_]*)|\(.*?\)", re.IGNORECASE)
DERIVED = ("III", "aVR", "aVL", "aVF")


@dataclass
class Channel:
    """One stored lead: ``value = (counts - baseline) * per_count`` in ``units``.

    ``counts`` (N,) float64 as stored, NaN where the file marks a sample missing;
    ``format_code`` the WFDB format of the same sample width ("" for text samples),
    whose invalid value (-32768 in format 16) is a missing sample as in WFDB records.
    """

    label: str
    counts: np.ndarray
    per_count: float
    units: str
    baseline: float = 0.0
    format_code: str = ""


def standard_lead(label: str) -> str | None:
    """The standard lead (``LEADS`` spelling) a file's label names, any case and prefix; None for other leads."""
    return _STANDARD.get(_LABEL_NOISE.sub("", label).strip().lower())


def unit_symbol(units: str, where: str | Path, lead: str) -> str:
    """``uV``, ``mV`` or ``V`` for a file's amplitude units, a symbol or a word; a ``RecordError`` naming the lead for any other."""
    symbol = UNIT_WORDS.get(units.strip().lower()) or _SYMBOL_OF_FACTOR.get(mv_per_unit(units.strip()))
    if symbol is None:
        raise RecordError(where, f"lead {lead}: unknown amplitude units {units!r} (expected microvolts, millivolts or volts)")
    return symbol


def storage_format(width: int, where: str | Path) -> str:
    """The WFDB format of a stored sample ``width`` bytes wide (``STORAGE_FORMATS``)."""
    if width not in STORAGE_FORMATS:
        raise RecordError(where, f"samples of {width} bytes are not supported (1, 2 or 4 bytes)")
    return STORAGE_FORMATS[width]


def plausible_age(years: float | None) -> float | None:
    """``years`` when it is a possible age (0 to ``MAX_AGE_YEARS``), else None: unknown."""
    return years if years is not None and math.isfinite(years) and 0 <= years <= MAX_AGE_YEARS else None


def file_date(value: object) -> date | None:
    """The date a DICOM DA or DT, or an HL7 TS value starts with (``YYYYMMDD``); None when it starts with none."""
    try:
        return datetime.strptime(str(value or "").strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def age_from_dates(birth: object, dates: Iterable[object]) -> float | None:
    """Years (365.25 days each) from the ``birth`` date to the first of ``dates`` that is one (``file_date``); None without both."""
    born = file_date(birth)
    then = next((d for d in map(file_date, dates) if d), None)
    return (then - born).days / 365.25 if born and then else None


def sex_name(value: str | None) -> str | None:
    """``"Male"``, ``"Female"`` or None (unknown) for a file's sex or gender field (M, F, MALE, female, ...)."""
    return SEX_NAMES.get((value or "").strip().lower())


def read_xml(path: str | Path) -> Element:
    """The root element of an XML file, namespaces dropped and tags lower-cased (attributes kept as written).

    Raises ``RecordError`` for a missing, empty or ill-formed file, and for entity
    declarations or external references (``defusedxml``: they can make a parser read
    other files or exhaust memory).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not data.strip():
        raise RecordError(path, "file is empty")
    try:
        root = defusedxml.ElementTree.fromstring(data)
    except ParseError as exc:
        raise RecordError(path, f"not well-formed XML ({exc})") from None
    except DefusedXmlException as exc:
        raise RecordError(path, f"XML refused: it declares entities or external references ({exc})") from None
    for element in root.iter():
        if isinstance(element.tag, str):
            element.tag = element.tag.rpartition("}")[2].lower()
    return root


def child_text(element: Element | None, path: str) -> str:
    """The stripped text at ``path`` (lower-case tags) below ``element``; "" when absent."""
    return "" if element is None else (element.findtext(path) or "").strip()


def number(text: str, where: str | Path, what: str) -> float:
    """A finite number from a file's field, or a ``RecordError`` saying which field is not one."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise RecordError(where, f"{what} is not a number: {text!r}")
    return value


def _derive_limb_leads(channels: list[Channel], named: dict[str, Channel]) -> list[Channel]:
    """Channels for III, aVR, aVL and aVF where the file leaves them out, from I and II in mV.

    Einthoven: III = II - I; Goldberger: aVR = -(I + II) / 2, aVL = I - II / 2,
    aVF = II - I / 2. Many carts store only the 8 independent leads (I, II, V1-V6).
    A missing sample of I or II is one of the derived leads too.
    """
    absent = [lead for lead in DERIVED if lead not in named]
    if not absent or "I" not in named or "II" not in named:
        return channels
    lead_i, lead_ii = (_millivolts(named[lead]) for lead in ("I", "II"))
    formulas = {"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2, "aVL": lead_i - lead_ii / 2, "aVF": lead_ii - lead_i / 2}
    return channels + [Channel(lead, formulas[lead], 1.0, "mV") for lead in absent]


def _millivolts(channel: Channel) -> np.ndarray:
    """A channel's samples in mV (float64), NaN where missing (its format's invalid value included)."""
    counts = channel.counts.copy()
    invalid = INVALID_SAMPLE.get(channel.format_code)
    if invalid is not None:
        counts[counts == invalid] = np.nan
    return (counts - channel.baseline) * channel.per_count * MV_PER_UNIT[channel.units.lower()]


def record_from_channels(path: str | Path, fs: float, channels: list[Channel], age: float | None, sex: str | None,
                         warnings: tuple[str, ...] = ()) -> Record:
    """A checked ``Record`` in mV from a clinical file's stored leads (``units`` already ``unit_symbol``'s).

    Leads of unequal length are cut to the shortest, with a warning. ``warnings`` (the
    reader's) come first in the record's warnings. Raises ``RecordError`` naming
    ``path`` for what the WFDB reader refuses (a standard lead missing, ...).
    """
    path = Path(path)
    notes = list(warnings)
    if not channels:
        raise RecordError(path, "the waveform holds no leads")
    if not math.isfinite(fs) or fs <= 0:
        raise RecordError(path, f"sampling rate must be positive, got {fs!r}")
    lengths = {channel.label: len(channel.counts) for channel in channels}
    samples = min(lengths.values())
    if samples != max(lengths.values()):
        notes.append(f"leads differ in length ({', '.join(f'{lead} {n}' for lead, n in lengths.items())} samples); "
                     f"all cut to the shortest, {samples}")
    for channel in channels:
        if not math.isfinite(channel.per_count) or channel.per_count == 0:
            raise RecordError(path, f"lead {channel.label}: amplitude per count must be a non-zero number, got {channel.per_count!r}")
        channel.label = standard_lead(channel.label) or channel.label
    named = {channel.label: channel for channel in channels}
    # Standard leads in LEADS order, others after them: a clinical file names each lead, so its order is no news.
    channels = sorted(_derive_limb_leads(channels, named), key=lambda c: LEADS.index(c.label) if c.label in LEADS else len(LEADS))
    specs = tuple(SignalSpec(file_name=path.name, fmt=c.format_code, gain=1.0 / c.per_count, baseline=c.baseline, units=c.units,
                             adc_zero=0, init_value=None, checksum=None, lead=c.label, gain_field=f"{c.per_count:g} {c.units} per count",
                             format_code=c.format_code) for c in channels)
    header = Header(name=path.stem, num_leads=len(specs), fs=float(fs), num_samples=samples, signals=specs, age=plausible_age(age),
                    sex=sex, dx=())
    data = np.stack([np.asarray(c.counts[:samples], dtype=np.float64) for c in channels])
    record = record_from_arrays(data, header, where=str(path), gain_policy="header")
    return dataclasses.replace(record, warnings=tuple(notes) + record.warnings)
