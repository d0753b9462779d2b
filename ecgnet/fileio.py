"""Atomic file writes: a crash or a kill never leaves half a file where a whole one belongs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


TEMP_SUFFIX = ".tmp"


def temporary_files(directory: str | Path, name_pattern: str = "*") -> list[Path]:
    """Leftovers of interrupted atomic writes of files matching ``name_pattern`` (a kill between write and rename)."""
    return sorted(Path(directory).glob(f".{name_pattern}.*{TEMP_SUFFIX}"))


def atomic_write_bytes(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A killed process leaves the old file or the new one, never a part. ``sync`` also
    flushes the data to the disk before the rename (survives a power cut; slower, so
    the driver's many small output files skip it).
    """
    path = Path(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            if sync:
                stream.flush()
                os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str, sync: bool = True) -> None:
    """Text version of :func:`atomic_write_bytes` (UTF-8, newlines kept as given)."""
    atomic_write_bytes(path, text.encode("utf-8"), sync)
