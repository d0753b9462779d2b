"""The twelve standard ECG leads, in the order the challenge's headers and the network use, and the lead sets.

A lead set is a tuple of lead names in ``LEADS`` order. The 2021 challenge ("Will Two
Do? Varying Dimensions in Electrocardiography", Reyna et al., CinC 2021) runs every
model on five: ``LEAD_SETS_2021``, named by their size (``lead_set_name``).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LEAD_SETS_2021: tuple[tuple[str, ...], ...] = (
    LEADS,
    ("I", "II", "III", "aVR", "aVL", "aVF"),
    ("I", "II", "III", "V2"),
    ("I", "II", "V2"),
    ("I", "II"),
)
_INDEX = {lead.lower(): i for i, lead in enumerate(LEADS)}


def lead_set(names: Iterable[str]) -> tuple[str, ...]:
    """Lead names (any case, any order) as a lead set in ``LEADS`` order, spelt as there.

    Raises ``ValueError`` naming the problem for an unknown lead, a lead named twice or no lead.
    """
    names = [str(name).strip() for name in names]
    unknown = [name for name in names if name.lower() not in _INDEX]
    if unknown:
        raise ValueError(f"unknown lead(s) {', '.join(map(repr, unknown))}; the leads are {', '.join(LEADS)}")
    indices = [_INDEX[name.lower()] for name in names]
    if len(set(indices)) != len(indices):
        raise ValueError(f"a lead is named twice in {', '.join(names)}")
    if not indices:
        raise ValueError("a lead set needs at least one lead")
    return tuple(LEADS[i] for i in sorted(indices))


def lead_set_name(leads: Sequence[str]) -> str:
    """A lead set's short name: its size for the 2021 sets (``12``, ``6``, ``4``, ``3``, ``2``), else its leads joined by ``+``."""
    return str(len(leads)) if tuple(leads) in LEAD_SETS_2021 else "+".join(leads)


def presence(leads: Sequence[str]) -> list[float]:
    """The (12,) lead-presence vector of a lead set: 1.0 where ``LEADS[i]`` is in ``leads``, else 0.0."""
    present = {lead.lower() for lead in leads}
    return [1.0 if lead.lower() in present else 0.0 for lead in LEADS]


def largest_subset(present: Iterable[str], supported: Sequence[Sequence[str]]) -> tuple[str, ...] | None:
    """The largest of the ``supported`` lead sets whose leads are all ``present`` (the first of equal size), or None."""
    have = {lead.lower() for lead in present}
    fitting = [tuple(s) for s in supported if all(lead.lower() in have for lead in s)]
    return max(fitting, key=len) if fitting else None
