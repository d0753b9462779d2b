"""Atomic file writes: a crash or a kill never leaves half a file where a whole one belongs.

The file gets the permissions a plain ``open(path, "w")`` would give it: an existing
file keeps its mode, a new one gets 0666 minus the umask (``tempfile.mkstemp`` alone
makes it 0600, unreadable to other users of a shared machine or a container run as
another user).
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


TEMP_SUFFIX = ".tmp"
NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes its share


def current_umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for every thread, for a moment)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):  # not Linux, or an old kernel without the field
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def normal_write_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: the existing file's, else 0666 minus the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return NEW_FILE_MODE & ~current_umask()


def temporary_files(directory: str | Path, name_pattern: str = "*") -> list[Path]:
    """Leftovers of interrupted atomic writes of files matching ``name_pattern`` (a kill between write and rename)."""
    return sorted(Path(directory).glob(f".{name_pattern}.*{TEMP_SUFFIX}"))


def atomic_write_bytes(path: str | Path, data: bytes, sync: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A killed process leaves the old file or the new one, never a part. ``sync`` also
    flushes the data to the disk before the rename (survives a power cut; slower, so
    the driver's many small output files skip it). The file ends with the mode a plain
    write would give it (``normal_write_mode``).
    """
    path = Path(path)
    mode = normal_write_mode(path)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as stream:
            os.fchmod(stream.fileno(), mode)
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
