"""GE MUSE XML (``RestingECG``) into a checked ``Record``, read with the standard library's XML parser (defusedxml).

The facts honoured (GE's RestingECG export, restecg.dtd): a file holds ``Waveform``
elements, each with ``WaveformType`` (``Median``: the median beats; ``Rhythm``: the
recording), ``SampleBase`` x 10^``SampleExponent`` samples per second, and one
``LeadData`` per stored lead: ``LeadID``, ``WaveFormData`` (base64 of little-endian
signed integers, ``LeadSampleSize`` bytes each, 2 by default), ``LeadAmplitudeUnitsPerBit``
with ``LeadAmplitudeUnits`` (``MICROVOLTS``), ``LeadSampleCountTotal`` and
``LeadDataCRC32`` (checked where present: a mismatch is a warning, as a WFDB checksum).
The rhythm waveform is read (the longest when there are several); it often holds only
the 8 independent leads I, II, V1-V6, and the limb leads are derived from I and II
(``clinical.record_from_channels``). Age: ``PatientAge`` in ``AgeUnits`` (years by
default); sex: ``Gender`` (``MALE``, ``FEMALE``). Tags are matched in any case, with or
without a namespace.
"""
from __future__ import annotations

import base64
import binascii
import zlib
from pathlib import Path
from xml.etree.ElementTree import Element

import numpy as np

from ecgnet.errors import RecordError
from ecgnet.records.clinical import (Channel, child_text, number, read_xml, record_from_channels, sex_name, storage_format,
                                     unit_symbol)
from ecgnet.records.reader import Record

ROOT = "restingecg"
YEARS_PER_AGE_UNIT: dict[str, float] = {"years": 1.0, "months": 1 / 12, "weeks": 7 / 365.25, "days": 1 / 365.25,
                                        "hours": 1 / 8766}


def read_muse(path: str | Path) -> Record:
    """Read a GE MUSE XML file's rhythm waveform into a ``Record`` in mV (``muse_record`` of the parsed file)."""
    return muse_record(read_xml(path), path)


def muse_record(root: Element, path: str | Path) -> Record:
    """The ``Record`` of a parsed MUSE file (``clinical.read_xml``'s root).

    Raises ``RecordError`` naming the file for: another root element, no rhythm
    waveform, no sampling rate, a lead without data or amplitude scale, unknown units,
    bad base64, a sample count that disagrees with the data, a standard lead missing,
    and what the WFDB reader refuses.
    """
    path = Path(path)
    if root.tag != ROOT:
        raise RecordError(path, f"not a GE MUSE file: the root element is <{root.tag}>, not <RestingECG>")
    waveforms = root.findall("waveform")
    rhythms = [w for w in waveforms if child_text(w, "waveformtype").lower() == "rhythm"]
    if not rhythms:
        types = ", ".join(child_text(w, "waveformtype") or "?" for w in waveforms) or "none"
        raise RecordError(path, f"no rhythm waveform (waveform types here: {types})")
    rhythm = max(rhythms, key=lambda w: max((_sample_count(lead) for lead in w.findall("leaddata")), default=0))
    base = child_text(rhythm, "samplebase")
    if not base:
        raise RecordError(path, "the rhythm waveform gives no sampling rate (SampleBase)")
    fs = number(base, path, "SampleBase") * 10 ** number(child_text(rhythm, "sampleexponent") or "0", path, "SampleExponent")
    warnings: list[str] = []
    channels = [_channel(lead, path, warnings) for lead in rhythm.findall("leaddata")]
    demographics = root.find("patientdemographics")
    return record_from_channels(path, fs, channels, _age(demographics), sex_name(child_text(demographics, "gender")),
                                tuple(warnings))


def _sample_count(lead: Element) -> int:
    try:
        return int(child_text(lead, "leadsamplecounttotal"))
    except ValueError:
        return len(child_text(lead, "waveformdata")) * 3 // 8  # base64: 4 characters per 3 bytes, 2 bytes per sample


def _channel(lead: Element, path: Path, warnings: list[str]) -> Channel:
    """One ``LeadData``: decoded samples, amplitude per bit and units."""
    label = child_text(lead, "leadid") or "?"
    text = "".join(child_text(lead, "waveformdata").split())
    if not text:
        raise RecordError(path, f"lead {label}: no WaveFormData")
    try:
        payload = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(path, f"lead {label}: WaveFormData is not valid base64") from None
    width = int(number(child_text(lead, "leadsamplesize") or "2", path, f"lead {label}'s LeadSampleSize"))
    fmt = storage_format(width, path)
    if len(payload) % width:
        raise RecordError(path, f"lead {label}: {len(payload)} bytes are not whole {width}-byte samples")
    counts = np.frombuffer(payload, dtype=f"<i{width}").astype(np.float64)
    declared = child_text(lead, "leadsamplecounttotal")
    if declared and int(number(declared, path, f"lead {label}'s LeadSampleCountTotal")) != len(counts):
        raise RecordError(path, f"lead {label}: LeadSampleCountTotal says {declared} samples, the data hold {len(counts)}")
    crc = child_text(lead, "leaddatacrc32")
    if crc.isdigit() and zlib.crc32(payload) != int(crc):
        warnings.append(f"CRC32 of lead {label}'s data differs from LeadDataCRC32 (the data may be damaged)")
    per_bit = child_text(lead, "leadamplitudeunitsperbit")
    if not per_bit:
        raise RecordError(path, f"lead {label}: no LeadAmplitudeUnitsPerBit, so the amplitude scale is unknown")
    units = unit_symbol(child_text(lead, "leadamplitudeunits"), path, label)
    return Channel(label, counts, number(per_bit, path, f"lead {label}'s LeadAmplitudeUnitsPerBit"), units, format_code=fmt)


def _age(demographics: Element | None) -> float | None:
    """``PatientAge`` in years (``AgeUnits``: years, months, weeks, days or hours; years when absent); None when unknown."""
    text = child_text(demographics, "patientage")
    units = child_text(demographics, "ageunits").lower() or "years"
    if not text or units not in YEARS_PER_AGE_UNIT:
        return None
    try:
        return float(text) * YEARS_PER_AGE_UNIT[units]
    except ValueError:
        return None
