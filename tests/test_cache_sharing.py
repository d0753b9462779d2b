"""The record cache on shared data: built from a read-only data folder laid out as the release came (one
sub-folder per source) without writing there, and reused, not rebuilt, by a second process (a second run, or a
second torchrun job on the same cache), trying no write in it.

The tests may run as root, whom a read-only mode does not stop, so an audit hook (``sys.addaudithook``) lists
every attempt to open for writing, make, move or remove a file in the folder watched.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from challenge_files import sine_counts, write_pair

from ecgnet.data.cache import build_cache

REPO = Path(__file__).resolve().parents[1]
RECORDS = {"cpsc_2018": ("A0001", "A0002"), "georgia": ("E00001",), "ptb": ("S0001",)}
_WATCHED: list[tuple[str, list[str]]] = []  # (folder, what was attempted in it) while a test watches one


def _write_attempt(event: str, args: tuple) -> str | None:
    """The path an audited call would change (a file opened for writing, made, moved, removed), else None."""
    if event == "open":
        path, mode, flags = args
        writes = any(c in mode for c in "wax+") if isinstance(mode, str) else bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
        return os.fsdecode(path) if writes and isinstance(path, (str, bytes, os.PathLike)) else None
    if event in ("os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.replace", "os.symlink", "os.truncate", "os.chmod", "os.utime"):
        return " ".join(os.fsdecode(a) for a in args if isinstance(a, (str, bytes, os.PathLike)))
    return None


def _audit(event: str, args: tuple) -> None:
    for folder, attempts in _WATCHED:
        path = _write_attempt(event, args)
        if path and folder in os.path.abspath(path):
            attempts.append(f"{event} {path}")


sys.addaudithook(_audit)  # a hook cannot be removed: it does nothing while _WATCHED is empty


def _release_like(root: Path) -> Path:
    for folder, names in RECORDS.items():
        (root / folder).mkdir(parents=True)
        for name in names:
            write_pair(root / folder, name, sine_counts(2000), fs=500, dx="426783006")
    return root


def _listing(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file and folder under ``root``: (inode, size, modification time in ns)."""
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _set_mode(root: Path, files: int, folders: int) -> None:
    for path in [root, *root.rglob("*")]:
        path.chmod(folders if path.is_dir() else files)


def test_the_cache_builds_from_a_read_only_data_folder_and_tries_no_write_there(tmp_path):
    data = _release_like(tmp_path / "data")
    before = _listing(data)
    attempts: list[str] = []
    _set_mode(data, 0o444, 0o555)  # enough where the tests do not run as root; the audit hook catches the rest
    _WATCHED.append((str(data), attempts))
    try:
        cache = build_cache(data, tmp_path / "cache", workers=1)  # one worker: every file access is this process's
    finally:
        _WATCHED.clear()
        _set_mode(data, 0o644, 0o755)
    assert sorted(cache.names.tolist()) == sorted(n for names in RECORDS.values() for n in names) and not cache.bad_records
    assert attempts == [] and _listing(data) == before


def test_a_second_process_reuses_the_cache_instead_of_rebuilding_it(tmp_path):
    data, root = _release_like(tmp_path / "data"), tmp_path / "cache"
    first = build_cache(data, root, workers=1)
    built = _listing(root)
    reopen = "import sys; from ecgnet.data.cache import build_cache; print(build_cache(sys.argv[1], sys.argv[2], workers=1).path)"
    done = subprocess.run([sys.executable, "-c", reopen, str(data), str(root)], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "ECGNET_QUIET": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert Path(done.stdout.strip()) == first.path
    assert _listing(root) == built, "the second process wrote into the cache instead of reusing it"


def test_reusing_a_cache_tries_no_write_in_it_so_a_read_only_one_serves(tmp_path):
    data, root = _release_like(tmp_path / "data"), tmp_path / "cache"
    first = build_cache(data, root, workers=1)
    attempts: list[str] = []
    _WATCHED.append((str(root), attempts))
    try:
        again = build_cache(data, root, workers=1)
    finally:
        _WATCHED.clear()
    assert again.path == first.path and attempts == []
