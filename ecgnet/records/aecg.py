"""HL7 aECG (HL7 v3 Annotated ECG, ``AnnotatedECG``) into a checked ``Record``, read with the standard library's XML
parser (defusedxml).

The facts honoured (HL7 Version 3 Standard: Annotated ECG, ANSI/HL7 V3 ECG, R1-2004):
an ``AnnotatedECG`` holds ``series`` (``code`` ``RHYTHM``; median beats come as
``derivedSeries`` of code ``REPRESENTATIVE_BEAT``, which are not read), each with
``sequenceSet`` elements of ``sequence``: one time sequence (``TIME_ABSOLUTE`` or
``TIME_RELATIVE``, its ``increment`` the sampling interval in ``s`` or ``ms``) and one per
lead (``code`` ``MDC_ECG_LEAD_I`` ..., value = ``origin`` + ``scale`` x each of the
``digits``, units on ``origin`` and ``scale``). The longest rhythm sequence set is read;
limb leads left out are derived from I and II (``clinical.record_from_channels``).
Sex: ``administrativeGenderCode`` (M, F); age: from ``birthTime`` to the ECG's
``effectiveTime`` (the file states no age). Tags are matched in any case, with or
without the ``urn:hl7-org:v3`` namespace.
"""
from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from ecgnet.errors import RecordError
from ecgnet.records.clinical import Channel, age_from_dates, number, read_xml, record_from_channels, sex_name, unit_symbol
from ecgnet.records.header import MV_PER_UNIT
from ecgnet.records.reader import Record

ROOT = "annotatedecg"
SECONDS_PER_UNIT: dict[str, float] = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


def read_aecg(path: str | Path) -> Record:
    """Read an HL7 aECG file's rhythm waveform into a ``Record`` in mV (``aecg_record`` of the parsed file)."""
    return aecg_record(read_xml(path), path)


def aecg_record(root: Element, path: str | Path) -> Record:
    """The ``Record`` of a parsed aECG file (``clinical.read_xml``'s root).

    Raises ``RecordError`` naming the file for: another root element, no rhythm series
    with lead sequences, no sampling interval, a lead without scale or with digits that
    are not numbers, unknown units, a standard lead missing, and what the WFDB reader refuses.
    """
    path = Path(path)
    if root.tag != ROOT:
        raise RecordError(path, f"not an HL7 aECG file: the root element is <{root.tag}>, not <AnnotatedECG>")
    sets = [sequence_set for series in root.iter("series") if "REPRESENTATIVE" not in _code(series).upper()
            for sequence_set in series.findall("component/sequenceset")]
    sets = [s for s in sets if _lead_sequences(s)]
    if not sets:
        raise RecordError(path, "no rhythm waveform: no series with lead sequences")
    chosen = max(sets, key=lambda s: max(len(_digits_text(q).split()) for q in _lead_sequences(s)))
    fs = 1.0 / _interval(chosen, path)
    channels = [_channel(sequence, path) for sequence in _lead_sequences(chosen)]
    person = next(root.iter("subjectdemographicperson"), None)
    gender = person.find("administrativegendercode") if person is not None else None
    return record_from_channels(path, fs, channels, _age(root, person), sex_name(gender.get("code") if gender is not None else None))


def _code(element: Element) -> str:
    code = element.find("code")
    return (code.get("code") or "").strip() if code is not None else ""


def _lead_sequences(sequence_set: Element) -> list[Element]:
    return [s for s in sequence_set.findall("component/sequence") if s.find("value/digits") is not None]


def _digits_text(sequence: Element) -> str:
    return sequence.findtext("value/digits") or ""


def _interval(sequence_set: Element, path: Path) -> float:
    """The sampling interval in seconds: the time sequence's ``increment``."""
    for sequence in sequence_set.findall("component/sequence"):
        increment = sequence.find("value/increment")
        if _code(sequence).upper().startswith("TIME_") and increment is not None:
            unit = (increment.get("unit") or "s").strip()
            if unit not in SECONDS_PER_UNIT:
                raise RecordError(path, f"unknown unit {unit!r} of the sampling interval (expected s or ms)")
            seconds = number(increment.get("value") or "", path, "the sampling interval") * SECONDS_PER_UNIT[unit]
            if seconds <= 0:
                raise RecordError(path, f"the sampling interval must be positive, got {increment.get('value')!r} {unit}")
            return seconds
    raise RecordError(path, "no sampling interval: the rhythm's sequence set has no time sequence with an increment")


def _channel(sequence: Element, path: Path) -> Channel:
    """One lead sequence: its digits, with ``scale`` per digit and ``origin`` (in the scale's units) as the baseline."""
    label = _code(sequence) or "?"
    scale = sequence.find("value/scale")
    if scale is None:
        raise RecordError(path, f"lead {label}: no scale, so the amplitude is unknown")
    units = unit_symbol(scale.get("unit") or "", path, label)
    per_digit = number(scale.get("value") or "", path, f"lead {label}'s scale")
    origin = sequence.find("value/origin")
    offset = 0.0
    if origin is not None:
        origin_units = unit_symbol(origin.get("unit") or units, path, label)
        offset = number(origin.get("value") or "0", path, f"lead {label}'s origin") * MV_PER_UNIT[origin_units.lower()] / \
            MV_PER_UNIT[units.lower()]
    try:
        digits = np.array(_digits_text(sequence).split(), dtype=np.float64)
    except ValueError:
        raise RecordError(path, f"lead {label}: its digits are not all numbers") from None
    return Channel(label, digits, per_digit, units, baseline=-offset / per_digit if per_digit else 0.0)


def _age(root: Element, person: Element | None) -> float | None:
    """Years from ``birthTime`` to the ECG's first ``effectiveTime`` (low, center or value); None when either is absent."""
    birth_time = person.find("birthtime") if person is not None else None
    times = (element.get("value") for tag in ("effectivetime/low", "effectivetime/center", "effectivetime")
             for element in root.findall(tag))
    return age_from_dates(birth_time.get("value") if birth_time is not None else None, times)
