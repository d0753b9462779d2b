"""Preprocess a directory of records once into a memory-mapped array, and reuse it.

Layout of ``cache_root/<fingerprint>/``:

* ``signals.f32``: every good record's 257-Hz float32 signal, one after the
  other, each stored lead-major as its (12, L) block (so one record is one
  contiguous read);
* ``inputs-<key>.f32``: the same records as ``signal.prepare_input`` makes them under one
  input recipe (``prepare_inputs``; key: a hash of ``signal.input_recipe``), same layout, one
  file per recipe in use, written the first time training asks for it;
* ``index.npz``: names, offsets (in floats), lengths (L), labels (N, 24),
  demographics (N, 5), sources and original sampling rates;
* ``meta.json``: the fingerprint's inputs, counts and the data directory;
* ``bad_records.csv``: ``file,reason`` of each record that could not be read
  (skipped, never fatal); ``warnings.csv``: ``name,warning`` of each repair
  (``build_cache(..., lists_dir=...)`` keeps copies of both where the user looks).

Records are found in the data directory and its sub-folders (``records.files.find_records``); a
record name found twice is a bad record (each copy's path listed), the others are cached.

The fingerprint hashes every file's name, size and modification time with the
settings (gain policy, target rate, ``CACHE_VERSION``), so any change to the
data or the preprocessing gives a new cache; the build happens in a temporary
folder renamed into place only when complete, so a crash never leaves a cache
that looks valid. Signals stream to disk chunk by chunk, so memory stays flat
however many records there are.
"""
from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

from ecgnet.challenge.classes import NUM_CLASSES
from ecgnet.console import progress
from ecgnet.errors import RecordError
from ecgnet.fileio import atomic_write_bytes
from ecgnet.leads import LEADS
from ecgnet.records.files import find_records
from ecgnet.records.reader import GAIN_POLICIES, read_record, source_files
from ecgnet.signal import TARGET_FS, encode_demographics, input_recipe, prepare_input, resample

logger = logging.getLogger(__name__)

# Bump whenever reading or preprocessing changes what lands in the cache (4: JS records' source is Chapman-Shaoxing-Ningbo).
CACHE_VERSION = 4
META_FILE = "meta.json"  # written last: its presence marks a finished build
BAD_RECORDS_FILE = "bad_records.csv"  # file,reason of each skipped record
WARNINGS_FILE = "warnings.csv"  # name,warning of each repair (gain override, missing samples, ...)
CHUNK = 32  # records per worker task: big enough to hide dispatch cost, small enough to keep memory flat
SIGNALS_FILE = "signals.f32"  # the raw records
INPUTS_FILE = "inputs-{}.f32"  # the prepared records of one input recipe (prepare_inputs)


@dataclass
class Cache:
    """A built cache: the index in memory, the signals memory-mapped read-only."""

    path: Path
    fingerprint: str
    names: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray
    demographics: np.ndarray
    sources: np.ndarray
    fs: np.ndarray
    bad_records: list[tuple[str, str]]
    _signals: np.ndarray
    inputs: str = ""  # the input recipe's key when the signals are prepared (prepare_inputs); "" for the raw records

    def __len__(self) -> int:
        return len(self.names)

    def signal(self, i: int) -> np.ndarray:
        """Record ``i`` at 257 Hz, float32 (12, L): a read-only view into the memory map."""
        start, length = int(self.offsets[i]), int(self.lengths[i])
        return self._signals[start:start + len(LEADS) * length].reshape(len(LEADS), length)

    @classmethod
    def open(cls, path: str | Path, inputs: str = "") -> Cache:
        """Open a cache folder written by ``build_cache``: its raw records, or those prepared under the recipe ``inputs``."""
        path = Path(path)
        try:
            meta = json.loads((path / META_FILE).read_text())
            with np.load(path / "index.npz", allow_pickle=False) as index:
                arrays = {key: index[key] for key in index.files}
            with open(path / BAD_RECORDS_FILE, newline="") as handle:
                bad = [(row["file"], row["reason"]) for row in csv.DictReader(handle)]
        except (OSError, ValueError, KeyError) as exc:
            raise RecordError(path, f"not a complete record cache ({exc})") from None
        if meta.get("version") != CACHE_VERSION:
            raise RecordError(path, f"cache version {meta.get('version')} is not this code's {CACHE_VERSION}")
        total = int(meta["total_floats"])
        signals = _memmap(path / (INPUTS_FILE.format(inputs) if inputs else SIGNALS_FILE), total)
        return cls(path, meta["fingerprint"], arrays["names"], arrays["offsets"], arrays["lengths"], arrays["labels"],
                   arrays["demographics"], arrays["sources"], arrays["fs"], bad, signals, inputs)


def _memmap(path: Path, total: int, mode: str = "r") -> np.ndarray:
    """The float32 file ``path`` of ``total`` floats, memory-mapped (an empty array when there are none)."""
    return np.memmap(path, dtype=np.float32, mode=mode, shape=(total,)) if total else np.zeros(0, np.float32)


def fingerprint(data_dir: str | Path, gain_policy: str = "auto") -> str:
    """Hash of every record file's name, size and mtime plus the preprocessing settings."""
    digest = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "gain_policy": gain_policy, "target_fs": TARGET_FS}).encode())
    found = find_records(data_dir)
    paths = [path for clash in found.clashes for path in clash.paths]
    for path in paths + [path for record in found.records for path in source_files(record)]:
        try:
            stat = path.stat()
            digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        except FileNotFoundError:
            digest.update(f"{path.name}\0missing\n".encode())
    return digest.hexdigest()[:20]


def _process(paths: list[str], gain_policy: str, part: str) -> list[tuple]:
    """Worker task: read and resample a few records, appending their signals to the file ``part``.

    Only the small metadata travels back to the parent: shipping the signals
    through the worker pipes cost more than preprocessing them. Failures
    become ``("bad", file, reason)``.
    """
    out: list[tuple] = []
    with open(part, "wb") as handle:
        for path in paths:
            try:
                record = read_record(path, gain_policy)
                signal = resample(record.signal, record.fs)
            except RecordError as exc:
                out.append(("bad", exc.path, exc.reason))
                continue
            except Exception as exc:  # noqa: BLE001 - one odd file must never abort a 40,000-record build
                out.append(("bad", path, f"unexpected {type(exc).__name__}: {exc}"))
                continue
            handle.write(signal.tobytes())
            out.append(("ok", record.name, record.fs, signal.shape[1], record.labels,
                        encode_demographics(record.age, record.sex), record.source, record.warnings))
    return out


def _write(target: Path, data_dir: Path, key: str, gain_policy: str, workers: int) -> tuple[list[tuple[str, str]], Counter[str]]:
    """Build the cache files in ``target``; returns the bad records and the count of each kind of repair warning.

    Workers write each chunk's signals to a part file; the parent appends the
    parts to ``signals.f32`` in order and deletes them, so neither side ever
    holds more than a chunk.
    """
    found = find_records(data_dir)
    paths = [str(record.path) for record in found.records]
    chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
    parts = [target / f"part{i:06d}.f32" for i in range(len(chunks))]
    parallel = Parallel(n_jobs=workers, return_as="generator", pre_dispatch="2*n_jobs")
    results = parallel(delayed(_process)(chunk, gain_policy, str(part)) for chunk, part in zip(chunks, parts))
    results = progress(results, desc=f"caching {data_dir.name} ({CHUNK} records/chunk)", total=len(chunks), unit="chunk")
    total = len(paths)  # index arrays are filled in place: per-record Python objects would grow with the data
    offsets, lengths = np.zeros(total, np.int64), np.zeros(total, np.int64)
    labels, demos, rates = np.zeros((total, NUM_CLASSES), bool), np.zeros((total, 5), np.float32), np.zeros(total)
    names: list[str] = []
    sources: list[str] = []
    bad: list[tuple[str, str]] = []
    kinds: Counter[str] = Counter()
    offset = 0
    with open(target / SIGNALS_FILE, "wb") as signals, open(target / BAD_RECORDS_FILE, "w", newline="") as bad_file, \
            open(target / WARNINGS_FILE, "w", newline="") as notes_file:
        bad_csv, notes_csv = csv.writer(bad_file), csv.writer(notes_file)
        bad_csv.writerow(("file", "reason"))
        notes_csv.writerow(("name", "warning"))
        for error in (clash.error for clash in found.clashes):  # a name found twice: none of its copies is read
            bad.append((error.path, error.reason))
            bad_csv.writerow(bad[-1])
        for part, items in zip(parts, results):
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, signals, 1 << 20)
            part.unlink()
            for item in items:
                if item[0] == "bad":
                    bad.append((item[1], item[2]))
                    bad_csv.writerow(item[1:])
                    continue
                _, name, fs, length, label, demo, source, warnings = item
                i = len(names)
                names.append(name)
                sources.append(source)
                offsets[i], lengths[i], labels[i], demos[i], rates[i] = offset, length, label, demo, fs
                for warning in warnings:
                    notes_csv.writerow((name, warning))
                    kinds[warning.split(":")[0]] += 1
                offset += len(LEADS) * length
    count = len(names)
    arrays = {"offsets": offsets, "lengths": lengths, "labels": labels, "demographics": demos, "fs": rates}
    _save_index(target, names, sources, {name: array[:count] for name, array in arrays.items()},
                {"version": CACHE_VERSION, "fingerprint": key, "data_dir": str(data_dir), "gain_policy": gain_policy,
                 "target_fs": TARGET_FS, "records": count, "bad_records": len(bad), "total_floats": offset})
    return bad, kinds


def _save_index(target: Path, names: list[str], sources: list[str], arrays: dict[str, np.ndarray], meta: dict) -> None:
    """``index.npz`` (names, sources and the per-record arrays) and ``META_FILE``, written last: a cache is whole once it has both."""
    np.savez(target / "index.npz", names=np.array(names, dtype=str), sources=np.array(sources, dtype=str), **arrays)
    (target / META_FILE).write_text(json.dumps(meta, indent=1))


def _remove_superseded(cache_root: Path, data_dir: Path, gain_policy: str, keep: str) -> None:
    """Delete older caches of the same directory and settings: at full size each is several GB."""
    for meta_file in cache_root.glob(f"*/{META_FILE}"):
        if meta_file.parent.name == keep:
            continue
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        if meta.get("data_dir") == str(data_dir) and meta.get("gain_policy") == gain_policy:
            logger.info("removing superseded cache %s", meta_file.parent)
            shutil.rmtree(meta_file.parent, ignore_errors=True)


def _keep_lists(cache: Cache, lists_dir: Path) -> None:
    """Copies of the cache's ``bad_records.csv`` and ``warnings.csv`` in ``lists_dir`` (a stale copy goes when the list is empty)."""
    for name in (BAD_RECORDS_FILE, WARNINGS_FILE):
        data = (cache.path / name).read_bytes()
        if data.count(b"\n") > 1:  # more than the column names
            atomic_write_bytes(lists_dir / name, data)
        else:
            (lists_dir / name).unlink(missing_ok=True)


def _log_lists(data_dir: Path, bad: list[tuple[str, str]], kinds: Counter[str], lists_dir: Path | None, final: Path) -> None:
    """One line for the skipped records, one for the repairs, each naming the list a user can open."""
    if bad:
        shown = "; ".join(f"{Path(f).name}: {r}" for f, r in bad[:3]) + ("; ..." if len(bad) > 3 else "")
        if lists_dir is None:
            logger.warning("%s: skipped %d bad record(s) (%s); all listed in %s", data_dir, len(bad), shown, final / BAD_RECORDS_FILE)
        else:
            logger.warning("%s: %d unreadable record(s) skipped; listed with their reasons in %s (%s)", data_dir, len(bad),
                           lists_dir / BAD_RECORDS_FILE, shown)
    if kinds:
        logger.info("%s: %d repair warning(s) (%s); listed in %s", data_dir, sum(kinds.values()),
                    ", ".join(f"{k}: {n}" for k, n in kinds.most_common()), (lists_dir or final) / WARNINGS_FILE)


def build_cache(data_dir: str | Path, cache_root: str | Path, gain_policy: str = "auto", workers: int | None = None,
                lists_dir: str | Path | None = None) -> Cache:
    """The cache of ``data_dir`` under ``cache_root``: reused when the fingerprint matches, built otherwise.

    ``workers`` joblib processes read and resample in parallel (default: every
    CPU); bad records are skipped and listed in ``bad_records.csv``, repairs in
    ``warnings.csv``. ``lists_dir`` (e.g. a model directory that outlives its
    working cache) gets copies of both lists, and the log names those copies.
    Raises ``RecordError`` when ``data_dir`` holds no records.
    """
    if gain_policy not in GAIN_POLICIES:
        raise ValueError(f"gain_policy must be one of {GAIN_POLICIES}, got {gain_policy!r}")
    data_dir = Path(data_dir).resolve()
    cache_root = Path(cache_root)
    key = fingerprint(data_dir, gain_policy)
    final = cache_root / key
    if (final / META_FILE).exists():
        logger.info("reusing record cache %s", final)
        cache = Cache.open(final)
        if lists_dir is not None:
            _keep_lists(cache, Path(lists_dir))
        return cache
    cache_root.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    temporary = Path(tempfile.mkdtemp(prefix=f".build-{key}-", dir=cache_root))
    try:
        bad, kinds = _write(temporary, data_dir, key, gain_policy, workers)
        os.chmod(temporary, 0o755)  # mkdtemp makes it private; the cache is shared like any other output
        try:
            os.rename(temporary, final)
        except OSError:
            if not (final / META_FILE).exists():  # not a concurrent build that finished first
                raise
            shutil.rmtree(temporary, ignore_errors=True)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _remove_superseded(cache_root, data_dir, gain_policy, key)
    cache = Cache.open(final)
    if lists_dir is not None:
        _keep_lists(cache, Path(lists_dir))
    _log_lists(data_dir, bad, kinds, None if lists_dir is None else Path(lists_dir), final)
    return cache


def _prepare_chunk(source: str, target: str, total: int, spans: list[tuple[int, int]], config) -> None:
    """Worker task: ``prepare_input`` on the records at ``spans`` ((offset, length) each) of ``source``, into ``target``."""
    raw, out = _memmap(Path(source), total), _memmap(Path(target), total, "r+")
    for offset, length in spans:
        end = offset + len(LEADS) * length
        out[offset:end] = prepare_input(raw[offset:end].reshape(len(LEADS), length), config).ravel()
    out.flush()


def _write_inputs(cache: Cache, config, final: Path, workers: int) -> None:
    """Write ``final``: every record of ``cache`` prepared, by ``workers`` processes into a temporary file renamed when complete."""
    total = len(cache._signals)
    handle, temporary = tempfile.mkstemp(prefix=f".{final.name}-", dir=final.parent)
    try:
        try:
            os.posix_fallocate(handle, 0, 4 * total)  # the space up front: a full disk is an OSError here, not a crash mid-write
        finally:
            os.close(handle)
        spans = list(zip(cache.offsets.tolist(), cache.lengths.tolist()))
        source = str(cache.path / SIGNALS_FILE)
        starts = range(0, len(spans), CHUNK)
        tasks = (delayed(_prepare_chunk)(source, temporary, total, spans[i:i + CHUNK], config) for i in starts)
        done = Parallel(n_jobs=min(workers, len(starts)), return_as="generator", pre_dispatch="2*n_jobs")(tasks)  # one chunk: no pool
        for _ in progress(done, desc=f"preparing inputs ({CHUNK} records/chunk)", total=len(starts), unit="chunk"):
            pass
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the cache is shared like any other output
        os.replace(temporary, final)  # a concurrent writer's identical file may be replaced: readers keep theirs
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def prepare_inputs(cache: Cache, config, workers: int | None = None) -> Cache | None:
    """``cache`` with every record as ``signal.prepare_input`` makes it under ``config``'s input levers: filtered once, not per window.

    The prepared records are the same numbers as ``prepare_input`` on each raw record. They are
    stored beside the raw ones as ``inputs-<key>.f32`` (same layout; key: a hash of
    ``signal.input_recipe(config)``), written by ``workers`` processes (default: every CPU) the
    first time a recipe is asked for, and reused by later runs and other processes (torchrun
    ranks, a second job on the same cache). They take as much disk as the raw records. A
    recipe that changes nothing, or a cache without records, gives ``cache`` itself. None,
    with a warning, when the cache folder cannot take the file (read-only, or the disk is
    full): the caller then prepares each record as it reads it.
    """
    recipe = input_recipe(config)
    if not recipe or not len(cache._signals):
        return cache
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]
    final = cache.path / INPUTS_FILE.format(key)
    if not final.exists():
        try:
            _write_inputs(cache, config, final, workers or os.cpu_count() or 1)
        except OSError as exc:
            logger.warning("%s: cannot store the prepared inputs (%s); each record is prepared again whenever it is read", cache.path, exc)
            return None
    return replace(cache, _signals=_memmap(final, len(cache._signals)), inputs=key)
