"""Finding the records of a folder, pairing each record's files, and naming the database (source) each comes from.

One pairing rule serves the finder (``find_records``) and the reader (``records.reader``):
a record's files are looked for in its header's folder by name, ignoring case
(``matching_file``): ``U0001.HEA`` pairs with ``U0001.MAT`` or ``U0001.mat``, and a signal line
naming ``U0001.dat`` finds ``U0001.DAT`` (device software, Windows tools and FAT copies write
upper-case names).

The 2020 training data came as one folder per source, so records are looked for at
any depth. Record names must be unique, ignoring case, since outputs are written flat
(``OUTPUT_DIR/NAME.csv``, one file for ``A1`` and ``a1`` on Windows and macOS): a name
found more than once fails those records only (``Found.clashes``), every other record
is read.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ecgnet.errors import RecordError

HEADER_SUFFIX = ".hea"
MAT_SUFFIX = ".mat"  # the challenge's signal file; any other is a WFDB signal file read through wfdb
SOURCES: dict[str, str] = {
    "A": "CPSC",
    "Q": "CPSC-Extra",
    "I": "INCART",
    "S": "PTB",
    "HR": "PTB-XL",
    "E": "Georgia",
    "JS": "Chapman-Shaoxing-Ningbo",  # 2021: both databases' records are named JS (Chapman-Shaoxing JS00001-JS10646)
}
_PREFIX_RE = re.compile(r"^[A-Za-z]*")


def source_of(name: str) -> str:
    """The database a record comes from, by its name's letter prefix (``HR01014`` -> ``PTB-XL``).

    An unknown prefix is its own group, named by the prefix itself (``XY20005``
    -> ``XY``); a name without letters falls in the group ``""``.
    """
    prefix = _PREFIX_RE.match(name)[0]
    return SOURCES.get(prefix.upper(), prefix.upper())


def folded_listing(names: Sequence[str]) -> dict[str, list[str]]:
    """A folder's file names grouped by their case-folded form: what ``matching_file`` searches."""
    listing: dict[str, list[str]] = {}
    for name in names:
        listing.setdefault(name.casefold(), []).append(name)
    return listing


def _spellings(wanted: str) -> Iterator[str]:
    """``wanted`` as written, then with its extension, then whole, in upper and lower case: how copies rename files."""
    yield wanted
    stem, extension = os.path.splitext(wanted)
    yield from dict.fromkeys(spelling for spelling in (stem + extension.upper(), stem + extension.lower(), wanted.upper(),
                                                       wanted.lower()) if spelling != wanted)


def matching_file(folder: Path, wanted: str, listing: Mapping[str, list[str]] | None = None) -> Path | None:
    """The pairing rule: the file of ``folder`` named ``wanted`` ignoring case; None when there is none.

    Where several files match, the name as written wins, then the extension or the
    whole name in upper, then in lower case (``_spellings``); several other matches
    (``A.Mat`` and ``A.mAT``) are a ``RecordError`` naming them. ``listing`` is the
    folder's ``folded_listing`` where the caller has it (the finder); without it, the
    spellings are tried on disk and the folder is listed only when all are absent.
    """
    for spelling in _spellings(wanted):
        if spelling in listing.get(spelling.casefold(), ()) if listing is not None else (folder / spelling).is_file():
            return folder / spelling
    if listing is None:
        try:
            listing = folded_listing(os.listdir(folder))
        except OSError:
            return None
    matches = sorted(listing.get(wanted.casefold(), ()))
    if len(matches) > 1:
        raise RecordError(folder / wanted, f"several files match this name ignoring case ({', '.join(matches)}): "
                                           "which one belongs to the record is unclear")
    return folder / matches[0] if matches else None


def record_file(path: str | Path, suffix: str) -> Path | None:
    """The file with ``suffix`` of the record that ``path`` names (``NAME``, ``NAME.hea``, ``NAME.mat``, any case), by the pairing rule."""
    path = Path(path)
    if path.suffix.casefold() == suffix and path.is_file():
        return path
    return matching_file(path.parent, path.with_suffix(suffix).name if path.suffix else path.name + suffix)


@dataclass(frozen=True)
class RecordFiles:
    """One record of a folder: its header and its ``.mat`` signal file, each None where absent.

    A header without a ``.mat`` is a WFDB record whose signal files its signal lines
    name (or a record whose signal is missing: the reader says which); a ``.mat``
    without a header is a record whose header is missing.
    """

    name: str  # as the header's file name spells it (the .mat's without a header)
    header: Path | None
    mat: Path | None

    @property
    def path(self) -> Path:
        """The file that stands for the record in messages: its ``.mat``, else its header (the official driver's view)."""
        return self.mat or self.header


@dataclass(frozen=True)
class NameClash:
    """A record name found more than once (ignoring case): none of the records that share it is read."""

    name: str
    paths: tuple[Path, ...]  # each copy's header (its .mat where it has none), sorted

    @property
    def error(self) -> RecordError:
        """The failure of the name, on its first path, naming every other one."""
        others = ", ".join(str(p) for p in self.paths[1:])
        return RecordError(self.paths[0], f"record name {self.name!r} is also used by {others}: record names must be unique "
                                          f"(outputs are written as NAME.csv), so none of them is read")


@dataclass(frozen=True)
class Found:
    """What ``find_records`` found: the records with unique names, sorted by name, and the names found more than once."""

    records: list[RecordFiles]
    clashes: list[NameClash]


def _folder_records(folder: str, files: list[str]) -> list[RecordFiles]:
    """The records of one folder: each header with its ``.mat`` by the pairing rule, then each ``.mat`` no header claimed."""
    directory = Path(folder)
    named = [(name, *os.path.splitext(name)) for name in files if not name.startswith(".")]
    found = [(name, stem, suffix.casefold()) for name, stem, suffix in named
             if suffix.casefold() in (HEADER_SUFFIX, MAT_SUFFIX) and os.path.isfile(os.path.join(folder, name))]
    mats = folded_listing([name for name, _, suffix in found if suffix == MAT_SUFFIX])
    records: list[RecordFiles] = []
    claimed: set[str] = set()
    for name, stem, _ in (entry for entry in found if entry[2] == HEADER_SUFFIX):
        try:
            mat = matching_file(directory, stem + MAT_SUFFIX, mats)
        except RecordError:  # A.MAT and A.Mat: each stays a record of its own, and the name clashes
            mat = None
        if mat:
            claimed.add(mat.name)
        records.append(RecordFiles(stem, directory / name, mat))
    records += [RecordFiles(stem, None, directory / name) for name, stem, suffix in found if suffix == MAT_SUFFIX and name not in claimed]
    return records


def find_records(directory: str | Path) -> Found:
    """Every record (``NAME.hea`` and/or ``NAME.mat``, any case) in ``directory`` and all its sub-folders.

    The 2020 training data came as one folder per source, so records are looked for
    at any depth; hidden files and folders (``.`` first) are skipped, as the official
    driver skips hidden files. A name found more than once, ignoring case (in two
    folders, or as ``A.mat`` and ``A.MAT`` in one) is a ``NameClash``, not a record.
    A missing directory, or one holding no header and no ``.mat`` at any depth, is a
    ``RecordError`` saying so.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(directory, "not a directory of records")
    by_name: dict[str, list[RecordFiles]] = {}
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for record in _folder_records(folder, files):
            by_name.setdefault(record.name.casefold(), []).append(record)
    if not by_name:
        raise RecordError(directory, "no records here: no NAME.hea or NAME.mat file in this folder or its sub-folders")
    records = sorted((copies[0] for copies in by_name.values() if len(copies) == 1), key=lambda r: r.name)
    clashes = sorted((NameClash(copies[0].name, tuple(sorted(r.header or r.mat for r in copies)))
                      for copies in by_name.values() if len(copies) > 1), key=lambda c: c.name)
    return Found(records, clashes)


def record_headers(directory: str | Path) -> dict[str, Path]:
    """Record name -> its header, for every record ``find_records`` finds in ``directory`` and its sub-folders (the
    release's one folder per source); records without a header, and names found twice, are left out."""
    return {record.name: record.header for record in find_records(directory).records if record.header is not None}
