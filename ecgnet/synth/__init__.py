"""Synthetic 12-lead ECGs in challenge format: demo data and test data made by the project.

The heart is a 3-D dipole (``dipole``, ``morphology``) driven by an RR process
(``rhythm``), seen through recording noise (``noise``), labelled with consistent
sets that follow the real 2020 prevalence (``labels``, ``tables``), and written as
``.hea`` + ``.mat`` records (``writer``); ``profiles`` make synthetic sources that differ
like real databases. ``python -m ecgnet synth OUT_DIR --n N [--profile NAME ...] [--challenge 2021]``
(2021: the 2021 classes too, ``record``).
"""
from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from joblib import Parallel, delayed

from ecgnet.challenge.classes import CLASS_SETS, DEFAULT_CLASS_SET
from ecgnet.console import progress
from ecgnet.synth.profiles import PROFILES, Profile, get_profile
from ecgnet.synth.record import generate_record
from ecgnet.synth.writer import write_record

__all__ = ["generate_record", "write_record", "generate_dataset", "record_name", "add_arguments", "run", "PROFILES", "get_profile"]

log = logging.getLogger(__name__)
PREFIX = "SYN"  # no real source uses it, so fold code treats all synthetic records as one source


def record_name(index: int, n: int, profile: Profile | None = None) -> str:
    """``SYN00001``-style name of record ``index`` (0-based) in a dataset of ``n`` (``SYNCPSC00001`` for a profile)."""
    return f"{profile.prefix if profile else PREFIX}{index + 1:0{max(5, len(str(n)))}d}"


def _write_chunk(out_dir: Path, indices: Sequence[int], n: int, seed: int, fs_choices: Sequence[float] | None,
                 duration_range: tuple[float, float] | None, profiles: Sequence[Profile], challenge: str) -> list[Path]:
    paths = []
    for index in indices:
        profile = profiles[index % len(profiles)]
        signal, fs, age, sex, codes = generate_record(index, seed, fs_choices=fs_choices, duration_range=duration_range,
                                                      profile=profile, challenge=challenge)
        paths.append(write_record(out_dir, record_name(index, n, profile), signal, fs, age, sex, codes))
    return paths


def generate_dataset(out_dir: str | Path, n: int, seed: int = 0, workers: int | None = None,
                     fs_choices: Sequence[float] | None = None,
                     duration_range: tuple[float, float] | None = None, first: int = 0,
                     profiles: Sequence[str] = ("mix",), challenge: str = DEFAULT_CLASS_SET) -> list[Path]:
    """Write records ``first`` .. ``first + n - 1`` to ``out_dir`` and return their header paths, in order.

    Record ``i`` depends only on (seed, i): the output is identical for any ``workers``
    (default: all CPU cores), and two calls with adjacent ranges (e.g. a training and a
    test set) share no record. ``fs_choices`` / ``duration_range`` replace the real-source
    mix of sampling rates and durations (e.g. ``[500]`` and ``(10, 10)`` for the demo),
    and the profiles' own. Record ``i`` comes from ``profiles[i % len(profiles)]``
    (names in ``profiles.PROFILES``; ``ValueError`` for an unknown one). ``challenge="2021"``
    labels the records with the 2021 classes, the two new ones included (``record``).
    """
    if n < 0 or first < 0:
        raise ValueError(f"n and first must be >= 0, got n={n}, first={first}")
    if challenge not in CLASS_SETS:
        raise ValueError(f"unknown challenge {challenge!r}: known are {', '.join(CLASS_SETS)}")
    chosen = [get_profile(name) for name in profiles]
    if not chosen:
        raise ValueError("profiles must name at least one profile")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or os.cpu_count() or 1)
    size = max(1, min(50, -(-n // (workers * 4)))) if n else 1
    total = first + n  # names are numbered (and zero-padded) over the whole range
    chunks = [list(range(i, min(i + size, total))) for i in range(first, total, size)]
    if workers == 1:
        results = [_write_chunk(out, c, total, seed, fs_choices, duration_range, chosen, challenge)
                   for c in progress(chunks, "synth", unit="chunk")]
    else:
        jobs = (delayed(_write_chunk)(out, c, total, seed, fs_choices, duration_range, chosen, challenge) for c in chunks)
        results = list(progress(Parallel(n_jobs=workers, return_as="generator")(jobs), "synth", total=len(chunks), unit="chunk"))
    paths = [p for chunk in results for p in chunk]
    log.info("wrote %d synthetic records to %s", len(paths), out)
    return paths


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``synth`` command's arguments."""
    parser.add_argument("out_dir", type=Path, help="output directory for NAME.hea + NAME.mat")
    parser.add_argument("--n", type=int, default=100, help="number of records (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--fs", type=float, nargs="+", default=None, help="sampling rates to draw from (default: the real-source mix)")
    parser.add_argument("--duration", type=float, nargs=2, default=None, metavar=("MIN_S", "MAX_S"),
                        help="duration range in seconds (default: the real-source mix)")
    parser.add_argument("--profile", nargs="+", default=["mix"], choices=list(PROFILES), metavar="NAME",
                        help=f"synthetic source(s), records taken from them in turn: {', '.join(PROFILES)} (default mix)")
    parser.add_argument("--challenge", choices=CLASS_SETS, default=DEFAULT_CLASS_SET,
                        help="2021: draw the classes new in 2021 (BBB, PRWP) too (default 2020)")


def run(args: argparse.Namespace) -> int:
    """The ``synth`` command: write the dataset; exit status 0."""
    paths = generate_dataset(args.out_dir, args.n, seed=args.seed, workers=args.workers, fs_choices=args.fs,
                             duration_range=tuple(args.duration) if args.duration else None, profiles=args.profile,
                             challenge=args.challenge)
    if not args.quiet:
        print(f"{len(paths)} records written to {args.out_dir}")
    return 0
