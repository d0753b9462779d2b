"""Any supported ECG file into a ``Record`` (``read_any``), and the files a list of paths, folders and globs names (``find_inputs``).

Which reader, by the file's suffix (any case), else by its content:

* ``.hea``, ``.mat``, ``.dat``: a WFDB record (``records.reader.read_record``, under ``gain_policy``);
* ``.dcm``, or ``DICM`` at byte 128: DICOM ECG waveform (``records.dicom``);
* ``.xml``, or text starting with ``<``: by the root element, ``RestingECG`` (GE MUSE,
  ``records.muse``) or ``AnnotatedECG`` (HL7 aECG, ``records.aecg``).

The clinical formats state their amplitude units, so ``gain_policy`` applies to WFDB records only.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from ecgnet.errors import RecordError
from ecgnet.records import aecg, muse
from ecgnet.records.clinical import read_xml
from ecgnet.records.dicom import read_dicom
from ecgnet.records.reader import Record, read_record

WFDB_SUFFIXES = (".hea", ".mat", ".dat")  # a WFDB record, named by any of its files
DICOM_SUFFIXES = (".dcm", ".dicom")
XML_SUFFIXES = (".xml",)
# What a folder or a glob contributes: a WFDB record by its header, each DICOM and XML file
# (a .mat whose header is not among them is taken too, so that it is reported, not skipped).
COLLECTED_SUFFIXES = (".hea", *DICOM_SUFFIXES, *XML_SUFFIXES)
XML_READERS = {muse.ROOT: muse.muse_record, aecg.ROOT: aecg.aecg_record}


def read_any(path: str | Path, gain_policy: str = "auto", all_leads: bool = True) -> Record:
    """The checked ``Record`` (mV, leads in ``LEADS`` order) of a WFDB, DICOM, GE MUSE XML or HL7 aECG file.

    ``all_leads=False`` lets a WFDB record lack some of the twelve leads (``records.reader.read_record``).
    Raises ``RecordError`` naming the file: missing, of no supported kind, or refused by its reader.
    """
    path = Path(path)
    if not path.is_file():
        missing = "no file matches this pattern" if any(c in path.name for c in "*?[") else "no such file"
        raise RecordError(path, missing if not path.exists() else "not a file")
    suffix = path.suffix.lower()
    if suffix in WFDB_SUFFIXES:  # the record by its header (NAME.hea: the reader pairs the signal files, any case)
        return read_record(path.with_suffix(".hea"), gain_policy=gain_policy, all_leads=all_leads)
    kind = _kind(path, suffix)
    if kind == "dicom":
        return read_dicom(path)
    if kind == "xml":
        root = read_xml(path)
        reader = XML_READERS.get(root.tag)
        if reader is None:
            raise RecordError(path, f"XML root element <{root.tag}> is neither GE MUSE's <RestingECG> nor HL7 aECG's <AnnotatedECG>")
        return reader(root, path)
    raise RecordError(path, "not a supported ECG file: give a WFDB record (.hea, .mat, .dat), DICOM (.dcm), "
                            "GE MUSE XML or HL7 aECG (.xml)")


def _kind(path: Path, suffix: str) -> str | None:
    """``"dicom"`` or ``"xml"`` by the suffix, else by the first bytes (DICOM's preamble, XML's ``<``); None for neither."""
    if suffix in DICOM_SUFFIXES:
        return "dicom"
    if suffix in XML_SUFFIXES:
        return "xml"
    try:
        with open(path, "rb") as handle:
            start = handle.read(132)
    except OSError as exc:
        raise RecordError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if start[128:132] == b"DICM":
        return "dicom"
    return "xml" if start.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else None


def _collected(files: Iterable[Path]) -> list[Path]:
    """The files of a folder or a glob that name records (``COLLECTED_SUFFIXES``; a ``.mat`` without its header beside it)."""
    files = sorted(files)
    headers = {(f.parent, f.stem.casefold()) for f in files if f.suffix.lower() == ".hea"}
    return [f for f in files if f.suffix.lower() in COLLECTED_SUFFIXES
            or (f.suffix.lower() == ".mat" and (f.parent, f.stem.casefold()) not in headers)]


def _walk(directory: Path) -> list[Path]:
    """Every file under ``directory``, hidden files and folders (``.`` first) left out."""
    found = []
    for folder, subfolders, names in os.walk(directory):
        subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
        found += [Path(folder, name) for name in names if not name.startswith(".")]
    return found


def find_inputs(items: Iterable[str | Path]) -> list[Path]:
    """The files that ``items`` name, in order, each once: a file as given (whatever its suffix), a folder's records
    at any depth, a glob's (``**`` included) records (``_collected``: headers, DICOM and XML files, ``.mat`` files
    without their header). An item that names no record is kept as it is, so that reading it says so.
    """
    found: dict[Path, None] = {}
    for item in items:
        path = Path(item)
        if path.is_dir():
            found.update(dict.fromkeys(_collected(_walk(path))))
        elif path.exists():
            found[path] = None
        else:
            matches = [Path(match) for match in glob.glob(str(item), recursive=True)]
            files = [file for match in matches for file in (_walk(match) if match.is_dir() else [match])]
            found.update(dict.fromkeys(_collected(files) or [path]))
    return list(found)
