"""DICOM ECG waveforms (12-lead ECG and General ECG Waveform Storage) into a checked ``Record``, read by pydicom.

Which waveform: a DICOM ECG may hold several multiplex groups, typically the 10-s
rhythm and the median beats (DICOM PS3.3 C.10.9, Waveform Module). Groups whose
Multiplex Group Label names median, average or representative beats are left out;
of the rest the longest (samples / sampling frequency) is read, the first of equals.

Per channel (Waveform Module): the stored samples (``multiplex_array(..., as_raw=True)``),
value = sample x Channel Sensitivity x Channel Sensitivity Correction Factor + Channel
Baseline, in the Channel Sensitivity Units (UCUM ``uV``, ``mV``; their code meaning
when the code is unusual), as pydicom's ``waveform_array`` computes it; samples equal
to the Waveform Padding Value are missing. The lead is the Channel Source code meaning
(``Lead I (Einthoven)``, ``Lead aVR``), else its SCP-ECG or MDC code (``5.6.3-9-61``,
``2:61``: lead III). Age: Patient's Age (``042Y``, ``006M``, ``010W``, ``003D``), else
birth date to acquisition date; sex: Patient's Sex (M, F; O is unknown).
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.waveforms.numpy_handler import WAVEFORM_DTYPES, multiplex_array

from ecgnet.errors import RecordError
from ecgnet.leads import LEADS
from ecgnet.records.clinical import Channel, age_from_dates, record_from_channels, sex_name, storage_format, unit_symbol
from ecgnet.records.header import mv_per_unit
from ecgnet.records.reader import Record

MEDIAN_LABELS = re.compile(r"median|average|representative", re.IGNORECASE)
# SCP-ECG lead numbers (EN 1064, as DICOM's SCPECG and MDC lead codes carry them) of the standard leads.
SCP_LEAD_NUMBERS: dict[int, str] = {1: "I", 2: "II", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
                                    **{3 + i: lead for i, lead in enumerate(LEADS[6:])}}
_LEAD_CODE = re.compile(r"^(?:5\.6\.3-9-|2:|MDC_ECG_LEAD_)?(\d+)$")
_AGE = re.compile(r"^(\d{1,3})([DWMY])$")
_YEARS_PER_AGE_UNIT = {"D": 1 / 365.25, "W": 7 / 365.25, "M": 1 / 12, "Y": 1.0}


def read_dicom(path: str | Path) -> Record:
    """Read the rhythm waveform of a DICOM ECG file into a ``Record`` in mV.

    Raises ``RecordError`` naming the file for a file pydicom cannot read, no waveform,
    only median beats, unknown units, a standard lead missing (after deriving the
    limb leads from I and II where needed), and what the WFDB reader refuses.
    """
    path = Path(path)
    try:
        dataset = pydicom.dcmread(path, force=path.suffix.lower() == ".dcm")
    except InvalidDicomError:
        raise RecordError(path, "not a DICOM file (no 'DICM' preamble)") from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises OSError, EOFError, ValueError, ... on broken files
        raise RecordError(path, f"not a readable DICOM file, truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if not dataset:  # forced reading (a .dcm without the preamble) finds no element in a file of another kind
        raise RecordError(path, "not a DICOM file (no 'DICM' preamble and no DICOM element)")
    groups = list(dataset.get("WaveformSequence") or [])
    if not groups:
        kind = getattr(dataset.get("SOPClassUID"), "name", None) or "no SOP class"
        raise RecordError(path, f"no waveform in this DICOM file ({kind}): not an ECG waveform object")
    index = _rhythm_group(groups, path)
    group = groups[index]
    try:
        stored = multiplex_array(dataset, index, as_raw=True).T.astype(np.float64)
    except Exception as exc:  # noqa: BLE001 - pydicom's AttributeError/ValueError for missing or short waveform data
        raise RecordError(path, f"waveform {index + 1} cannot be decoded ({type(exc).__name__}: {exc})") from None
    padding = group.get("WaveformPaddingValue")
    if padding is not None:
        dtype = WAVEFORM_DTYPES[(int(group.WaveformBitsAllocated), str(group.WaveformSampleInterpretation))]
        stored[stored == np.frombuffer(padding, dtype=dtype)[0]] = np.nan
    fmt = storage_format(int(group.WaveformBitsAllocated) // 8, path)
    channels = [_channel(definition, row, fmt, path) for definition, row in zip(group.ChannelDefinitionSequence, stored)]
    fs = float(group.get("SamplingFrequency") or math.nan)
    return record_from_channels(path, fs, channels, _age(dataset), sex_name(dataset.get("PatientSex")))


def _duration(group: Dataset) -> float:
    fs = float(group.get("SamplingFrequency") or 0)
    return int(group.get("NumberOfWaveformSamples") or 0) / fs if fs > 0 else 0.0


def _rhythm_group(groups: list[Dataset], path: Path) -> int:
    """The index of the waveform to read: the longest that is not labelled as median beats."""
    labels = [str(group.get("MultiplexGroupLabel") or "") for group in groups]
    candidates = [i for i, label in enumerate(labels) if not MEDIAN_LABELS.search(label)]
    if not candidates:
        raise RecordError(path, f"no rhythm waveform: only median beats ({', '.join(labels)})")
    return max(candidates, key=lambda i: (_duration(groups[i]), -i))


def _lead_label(definition: Dataset) -> str:
    """The lead a channel records: its source's code meaning, else the standard lead its code numbers, else the code."""
    source = (definition.get("ChannelSourceSequence") or [Dataset()])[0]
    meaning, code = str(source.get("CodeMeaning") or "").strip(), str(source.get("CodeValue") or "").strip()
    match = _LEAD_CODE.match(code)
    number_lead = SCP_LEAD_NUMBERS.get(int(match[1])) if match else None
    return meaning or number_lead or code or "?"


def _channel(definition: Dataset, stored: np.ndarray, fmt: str, path: Path) -> Channel:
    label = _lead_label(definition)
    sensitivity = definition.get("ChannelSensitivity")
    if sensitivity is None:
        raise RecordError(path, f"lead {label}: no Channel Sensitivity, so the amplitude units are unknown")
    per_count = float(sensitivity) * float(definition.get("ChannelSensitivityCorrectionFactor") or 1.0)
    unit = (definition.get("ChannelSensitivityUnitsSequence") or [Dataset()])[0]
    code, meaning = str(unit.get("CodeValue") or ""), str(unit.get("CodeMeaning") or "")
    units = unit_symbol(code if mv_per_unit(code.strip()) is not None else meaning or code, path, label)
    baseline = float(definition.get("ChannelBaseline") or 0.0)
    return Channel(label, stored, per_count, units, baseline=-baseline / per_count if per_count else 0.0, format_code=fmt)


def _age(dataset: Dataset) -> float | None:
    """Years: Patient's Age, else from the birth date to the acquisition (or content, or study) date; None when unknown."""
    match = _AGE.match(str(dataset.get("PatientAge") or "").strip().upper())
    if match:
        return int(match[1]) * _YEARS_PER_AGE_UNIT[match[2]]
    return age_from_dates(dataset.get("PatientBirthDate"),
                          (dataset.get(name) for name in ("AcquisitionDateTime", "ContentDate", "StudyDate")))
