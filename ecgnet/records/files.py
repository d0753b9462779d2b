"""Finding the records of a folder, and naming the database (source) each comes from.

The 2020 training data came as one folder per source, so records are looked for at
any depth. Record names must be unique, since outputs are written flat
(``OUTPUT_DIR/NAME.csv``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from ecgnet.errors import RecordError

SOURCES: dict[str, str] = {
    "A": "CPSC",
    "Q": "CPSC-Extra",
    "I": "INCART",
    "S": "PTB",
    "HR": "PTB-XL",
    "E": "Georgia",
}
_PREFIX_RE = re.compile(r"^[A-Za-z]*")


def source_of(name: str) -> str:
    """The database a record comes from, by its name's letter prefix (``HR01014`` -> ``PTB-XL``).

    An unknown prefix is its own group, named by the prefix itself (``JS20005``
    -> ``JS``); a name without letters falls in the group ``""``.
    """
    prefix = _PREFIX_RE.match(name)[0]
    return SOURCES.get(prefix.upper(), prefix.upper())


def record_files(directory: str | Path, suffix: str = ".hea") -> list[Path]:
    """The record files (``NAME`` + ``suffix``, any case) in ``directory`` and all its sub-folders, sorted by name.

    The 2020 training data came as one folder per source, so records are looked for
    at any depth; hidden files and folders (``.`` first) are skipped, as the official
    driver skips hidden files. Record names must be unique (outputs are written flat,
    ``OUTPUT_DIR/NAME.csv``): a name found twice is a ``RecordError`` naming both
    paths. A missing directory is a ``RecordError``; an empty list is not.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RecordError(directory, "not a directory of records")
    found: dict[str, Path] = {}
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = [name for name in subfolders if not name.startswith(".")]
        for file_name in files:
            path = Path(folder, file_name)
            if file_name.startswith(".") or path.suffix.lower() != suffix or not path.is_file():
                continue
            if path.stem in found:
                first, second = sorted((found[path.stem], path))
                raise RecordError(second, f"record name {path.stem!r} is also used by {first}: record names must be unique")
            found[path.stem] = path
    return [found[name] for name in sorted(found)]


def find_records(directory: str | Path) -> list[Path]:
    """The headers (``NAME.hea``) of every record in ``directory`` and its sub-folders (``record_files``).

    A directory holding no header at any depth is a ``RecordError`` saying so.
    """
    headers = record_files(directory, ".hea")
    if not headers:
        raise RecordError(directory, "no records here: no NAME.hea file in this folder or its sub-folders")
    return headers


def input_files(input_dir: Path) -> list[Path]:
    """The ``.mat`` files of a directory and its sub-folders, sorted by record name (``record_files``): what driver.py classifies.

    Raises ``RecordError`` for a name found twice, and for a directory holding no
    record at all (neither ``.mat`` nor ``.hea`` files).
    """
    files = record_files(input_dir, ".mat")
    if not files and not record_files(input_dir, ".hea"):
        raise RecordError(input_dir, "no records here: no NAME.mat or NAME.hea file in this folder or its sub-folders")
    return files
