"""Progress bars that every long loop shares, silenced in one place by ``--quiet``."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

_quiet = os.environ.get("ECGNET_QUIET", "") not in ("", "0")


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar of the process."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    """Whether ``--quiet`` (or ``$ECGNET_QUIET``) turned progress bars off."""
    return _quiet


def progress(iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Wrap a loop in a progress bar on stderr (nothing when quiet)."""
    return iter(tqdm(iterable, desc=desc, total=total, unit=unit, disable=_quiet, file=sys.stderr, dynamic_ncols=True, leave=False))
