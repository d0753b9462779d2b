"""Clinical ECG files for tests, written from counts: DICOM (by pydicom), GE MUSE XML and HL7 aECG (as text).

Every writer takes the same int16 (12, N) counts at 1 uV per count (1000 counts/mV, the
WFDB records' scale) in ``LEADS`` order and writes the leads that ``leads`` names, so a
file and the WFDB record made from the same counts hold the same signal. Keyword
arguments bend a file the way real exports differ or break (lead spellings, units,
waveform kinds, a namespace).
"""
from __future__ import annotations

import base64
import zlib
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from ecgnet.leads import LEADS
from ecgnet.synth import generate_record

TWELVE_LEAD_ECG = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG Waveform Storage (DICOM PS3.4)
INDEPENDENT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # what a MUSE cart often stores
SCP_CODES = {"I": 1, "II": 2, "III": 61, "aVR": 62, "aVL": 63, "aVF": 64, **{f"V{k}": 2 + k for k in range(1, 7)}}


def einthoven_counts(seed: int = 3, fs: float = 500, duration: float = 10) -> np.ndarray:
    """int16 (12, N) counts (1000/mV) of a synthetic record whose limb leads obey Einthoven's and Goldberger's
    relations exactly: I and II in even counts, III, aVR, aVL and aVF computed from them."""
    signal = generate_record(seed, seed=0, fs=fs, duration=duration)[0]
    counts = np.rint(signal * 500).astype(np.int64) * 2
    i, ii = counts[0], counts[1]
    counts[2:6] = ii - i, -(i + ii) // 2, i - ii // 2, ii - i // 2
    return counts.astype(np.int16)


def _rows(counts: np.ndarray, leads) -> np.ndarray:
    return np.stack([counts[LEADS.index(lead)] for lead in leads])


def write_dicom(path: Path, counts: np.ndarray, fs: float, *, age: str | None = "064Y", sex: str = "M",
                leads=LEADS, labels: dict[str, str] | None = None, units: str = "uV", sensitivity: float = 1.0,
                groups=("RHYTHM", "MEDIAN BEAT"), median_samples: int = 600, birth_date: str | None = None) -> Path:
    """A 12-lead ECG Waveform Storage file: one multiplex group per label of ``groups``; the median-beat group holds
    the first ``median_samples`` samples. ``labels`` replaces a lead's code meaning (e.g. ``{"I": "Lead I (Einthoven)"}``)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TWELVE_LEAD_ECG
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = TWELVE_LEAD_ECG, meta.MediaStorageSOPInstanceUID, "ECG"
    ds.PatientSex = sex
    if age is not None:
        ds.PatientAge = age
    if birth_date is not None:
        ds.PatientBirthDate, ds.AcquisitionDateTime = birth_date, "20200101120000"
    ds.WaveformSequence = [_dicom_group(label, counts if "MEDIAN" not in label else counts[:, :median_samples], fs, leads,
                                        labels or {}, units, sensitivity) for label in groups]
    ds.save_as(path, enforce_file_format=True)
    return path


def _dicom_group(label: str, counts: np.ndarray, fs: float, leads, labels: dict[str, str], units: str, sensitivity: float) -> Dataset:
    group = Dataset()
    group.MultiplexGroupLabel = label
    group.WaveformOriginality = "DERIVED" if "MEDIAN" in label else "ORIGINAL"
    group.SamplingFrequency = fs
    group.NumberOfWaveformChannels = len(leads)
    group.NumberOfWaveformSamples = counts.shape[1]
    group.WaveformBitsAllocated, group.WaveformSampleInterpretation = 16, "SS"
    channels = []
    for lead in leads:
        channel, source, unit = Dataset(), Dataset(), Dataset()
        source.CodeValue, source.CodingSchemeDesignator = f"5.6.3-9-{SCP_CODES[lead]}", "SCPECG"
        source.CodeMeaning = labels.get(lead, f"Lead {lead}")
        unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = units, "UCUM", units
        channel.ChannelSourceSequence = [source]
        channel.ChannelSensitivity, channel.ChannelSensitivityCorrectionFactor, channel.ChannelBaseline = sensitivity, 1, 0
        channel.ChannelSensitivityUnitsSequence = [unit]
        channel.WaveformBitsStored = 16
        channels.append(channel)
    group.ChannelDefinitionSequence = channels
    group.WaveformData = _rows(counts, leads).T.astype("<i2").tobytes()  # interleaved: C1S1, C2S1, ..., CnS1, C1S2, ...
    return group


def muse_xml(counts: np.ndarray, fs: float, *, age: str | None = "64", age_units: str | None = "YEARS", gender: str = "MALE",
             leads=INDEPENDENT, lead_ids: dict[str, str] | None = None, units: str = "MICROVOLTS", per_bit: str = "1.0",
             waveform_types=("Median", "Rhythm"), median_samples: int = 600, data: dict[str, str] | None = None,
             crc: bool = True, doctype: bool = True) -> str:
    """A GE MUSE ``RestingECG`` export; ``lead_ids`` respells a lead's ``LeadID``, ``data`` replaces its base64 text."""
    demographics = ""
    if age is not None:
        demographics += f"<PatientAge>{age}</PatientAge>"
    if age_units is not None:
        demographics += f"<AgeUnits>{age_units}</AgeUnits>"
    waveforms = []
    for kind in waveform_types:
        part = counts[:, :median_samples] if kind == "Median" else counts
        lead_data = []
        for lead in leads:
            payload = part[LEADS.index(lead)].astype("<i2").tobytes()
            text = (data or {}).get(lead, base64.b64encode(payload).decode())
            lead_data.append(
                f"<LeadData><LeadByteCountTotal>{len(payload)}</LeadByteCountTotal><LeadSampleCountTotal>{part.shape[1]}"
                f"</LeadSampleCountTotal><LeadAmplitudeUnitsPerBit>{per_bit}</LeadAmplitudeUnitsPerBit>"
                f"<LeadAmplitudeUnits>{units}</LeadAmplitudeUnits><LeadID>{(lead_ids or {}).get(lead, lead)}</LeadID>"
                f"<LeadSampleSize>2</LeadSampleSize>"
                + (f"<LeadDataCRC32>{zlib.crc32(payload)}</LeadDataCRC32>" if crc else "")
                + f"<WaveFormData>\n{text}\n</WaveFormData></LeadData>")
        waveforms.append(f"<Waveform><WaveformType>{kind}</WaveformType><NumberofLeads>{len(leads)}</NumberofLeads>"
                         f"<SampleBase>{fs:g}</SampleBase><SampleExponent>0</SampleExponent>{''.join(lead_data)}</Waveform>")
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n' + ('<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n' if doctype else "")
            + f"<RestingECG><MuseInfo><MuseVersion>8.0.2</MuseVersion></MuseInfo><PatientDemographics>{demographics}"
            f"<Gender>{gender}</Gender></PatientDemographics>{''.join(waveforms)}</RestingECG>\n")


def aecg_xml(counts: np.ndarray, fs: float, *, gender: str = "M", birth: str | None = "19560101",
             when: str = "20200101120000", leads=LEADS, codes: dict[str, str] | None = None, scale: str = "1",
             units: str = "uV", increment: str | None = None, increment_unit: str = "s", median_samples: int = 600) -> str:
    """An HL7 aECG ``AnnotatedECG`` (namespace ``urn:hl7-org:v3``) with a rhythm series and its representative beat;
    ``codes`` respells a lead's code (``MDC_ECG_LEAD_I`` by default)."""

    def sequence_set(part: np.ndarray) -> str:
        step = increment if increment is not None else f"{1 / fs:g}"
        sequences = [f'<component><sequence><code code="TIME_ABSOLUTE" codeSystem="2.16.840.1.113883.5.4"/>'
                     f'<value xsi:type="GLIST_TS"><head value="{when}"/><increment value="{step}" unit="{increment_unit}"/>'
                     f'</value></sequence></component>'] if step else []
        for lead in leads:
            code = (codes or {}).get(lead, f"MDC_ECG_LEAD_{lead.upper() if lead.startswith('a') else lead}")
            digits = " ".join(str(int(v)) for v in part[LEADS.index(lead)])
            sequences.append(f'<component><sequence><code code="{code}" codeSystem="2.16.840.1.113883.6.24"/>'
                             f'<value xsi:type="SLIST_PQ"><origin value="0" unit="{units}"/><scale value="{scale}" unit="{units}"/>'
                             f'<digits>{digits}</digits></value></sequence></component>')
        return f"<component><sequenceSet>{''.join(sequences)}</sequenceSet></component>"

    person = f'<administrativeGenderCode code="{gender}" codeSystem="2.16.840.1.113883.5.1"/>'
    if birth is not None:
        person += f'<birthTime value="{birth}"/>'
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<effectiveTime><low value="{when}"/></effectiveTime>'
            '<componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject><subjectDemographicPerson>'
            f'{person}</subjectDemographicPerson></trialSubject></subject></subjectAssignment></componentOf></timepointEvent>'
            '</componentOf><component><series><code code="RHYTHM" codeSystem="2.16.840.1.113883.5.4"/>'
            f'{sequence_set(counts)}<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT"/>'
            f'{sequence_set(counts[:, :median_samples])}</derivedSeries></derivation></series></component></AnnotatedECG>\n')
