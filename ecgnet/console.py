"""What ecgnet shows on the console while it works: progress for every long loop, and quiet mode.

A leaf module (it imports nothing of ecgnet), so any module may draw progress without
importing the entry points. On a terminal a loop shows a tqdm bar; when stderr is a file
or a pipe (a log, ``nohup``, a batch job) it writes one plain line every
``LOG_EVERY_S`` seconds and one at the end instead of a bar's carriage-return frames.
``--quiet`` (``set_quiet``) or ``$ECGNET_QUIET`` silences both in one place.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
LOG_EVERY_S = 30.0  # between two plain progress lines when stderr is not a terminal
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"  # every command's log lines

_quiet = os.environ.get("ECGNET_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress display of the process."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """Whether ``--quiet`` (or ``$ECGNET_QUIET``) turned progress displays off."""
    return _quiet


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """``iterable`` with its progress on stderr: a bar on a terminal, plain periodic lines elsewhere, nothing when quiet."""
    if _quiet:
        return iter(iterable)
    if sys.stderr.isatty():
        return iter(tqdm(iterable, desc=desc, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False))
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return _plain_lines(iterable, desc, total, unit)


def _plain_lines(iterable: Iterable[T], desc: str, total: int | None, unit: str) -> Iterator[T]:
    """Yield from ``iterable``, writing ``desc: done/total unit (elapsed)`` every ``LOG_EVERY_S`` s and once at the end."""
    began = last = time.monotonic()
    done = 0

    def line() -> str:
        of = f"/{total}" if total is not None else ""
        return f"{desc}: {done}{of} {unit} ({time.monotonic() - began:.0f} s)\n"

    for item in iterable:
        yield item
        done += 1
        if time.monotonic() - last >= LOG_EVERY_S:
            last = time.monotonic()
            sys.stderr.write(line())
    if done:
        sys.stderr.write(line())
