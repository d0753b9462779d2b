"""Which label sets the generator may draw, and how a drawn set is made consistent.

Real 2020 label sets are kept as they are when they are physiologically possible.
Where a set is not (a recording cannot be in atrial fibrillation and in sinus
rhythm at once), the exclusion rules below drop the weaker label. The rules are
applied in order; a label that has been dropped cannot drop others.

- PR (paced rhythm) excludes AF, AFL, NSR, SB, Brady, STach, SA, IAVB, LPR, PAC,
  LBBB, CRBBB, IRBBB, NSIVCB, LAnFB and QAb: conduction and Q-wave labels have
  no meaning on paced beats, and we pace both chambers (the rhythm is the pacer's).
- AF excludes AFL, NSR, SB, STach, SA, IAVB, LPR and PAC (no organised atrial
  activity); AFL excludes the same sinus and P-wave labels.
- STach excludes SB and Brady (rate above 100 and below 60 at once).
- LBBB excludes CRBBB, IRBBB, NSIVCB, LAnFB and QAb (LBBB hides them).
- CRBBB excludes IRBBB and NSIVCB; IRBBB excludes NSIVCB.
- IAVB excludes LPR (both mean a PR over 200 ms; one label suffices).
- LAD excludes RAD.
- LAnFB implies LAD (its axis is below -45 degrees by definition), so LAD is
  added, and the axis label is then consistent both ways.

The two classes new in 2021 (``NEW_IN_2021``: BBB, a bundle branch block without the
left or right pattern; PRWP, poor R-wave progression) are drawn only for 2021 data
(``record.generate_record(..., challenge="2021")``) and follow the same rules: PR
excludes both, LBBB excludes both (its own pattern has poor R progression), CRBBB
excludes BBB, and BBB excludes IRBBB and NSIVCB (one wide-QRS label).

What each label means in the signal (see ``morphology`` and ``rhythm``):
the rate is below 60/min exactly when SB or Brady is labelled, above 100/min only
with STach, AF or AFL; a record with no rhythm label is in sinus rhythm at 60-100/min
(as in the real data, where CPSC records carry no NSR label beside other findings).
"""
from __future__ import annotations

from ecgnet.challenge.classes import ABBREVIATIONS, CLASSES, class_set, is_scored

_SET_2021 = class_set("2021")
# The 2021 classes none of whose codes 2020 scored, by abbreviation: BBB (6374002) and PRWP (365413008).
_NEW = {_SET_2021.abbreviation(group[0]): group[0] for group in _SET_2021.members if not any(map(is_scored, group))}
NEW_IN_2021: tuple[str, ...] = tuple(_NEW)
KNOWN: tuple[str, ...] = ABBREVIATIONS + NEW_IN_2021  # every label the generator draws, in the order codes are written
CODE = {**dict(zip(ABBREVIATIONS, CLASSES)), **_NEW}

EXCLUDES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("PR", ("AF", "AFL", "NSR", "SB", "Brady", "STach", "SA", "IAVB", "LPR", "PAC",
            "LBBB", "CRBBB", "IRBBB", "NSIVCB", "LAnFB", "QAb", "BBB", "PRWP")),
    ("AF", ("AFL", "NSR", "SB", "STach", "SA", "IAVB", "LPR", "PAC")),
    ("AFL", ("NSR", "SB", "STach", "SA", "IAVB", "LPR", "PAC")),
    ("STach", ("SB", "Brady")),
    ("LBBB", ("CRBBB", "IRBBB", "NSIVCB", "LAnFB", "QAb", "BBB", "PRWP")),
    ("CRBBB", ("IRBBB", "NSIVCB", "BBB")),
    ("BBB", ("IRBBB", "NSIVCB")),
    ("IRBBB", ("NSIVCB",)),
    ("IAVB", ("LPR",)),
    ("LAD", ("RAD",)),
)
IMPLIES: tuple[tuple[str, str], ...] = (("LAnFB", "LAD"),)


def make_consistent(abbrs: frozenset[str] | set[str]) -> frozenset[str]:
    """Apply the exclusion and implication rules to a set of class abbreviations."""
    labels = set(abbrs)
    unknown = labels - set(KNOWN)
    if unknown:
        raise ValueError(f"unknown class abbreviations {sorted(unknown)}")
    for master, excluded in EXCLUDES:
        if master in labels:
            labels -= set(excluded)
    for master, implied in IMPLIES:
        if master in labels:
            labels.add(implied)
            labels.discard("RAD")
    return frozenset(labels)


def is_consistent(abbrs: frozenset[str] | set[str]) -> bool:
    """True when no rule would change the set."""
    return make_consistent(abbrs) == frozenset(abbrs)
