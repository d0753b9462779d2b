#!/usr/bin/env python
"""Score model outputs against labels with the 2021 challenge metrics.

    python evaluate_model.py LABELS OUTPUTS [SCORES_CSV [CLASS_SCORES_CSV]]

The official 2021 command line and file layouts (output files start with ``#RECORD_ID``),
values at full precision instead of 3 decimals; the 2021 weights come with ecgnet, not
from the working directory. The rules are in ecgnet/scoring2021.py, the maths in
ecgnet/challenge/metrics.py.
"""
from __future__ import annotations

import sys

from ecgnet.scoring import run_command
from ecgnet.scoring2021 import load_directories, texts

FILES = (("scores_csv", "file to write the five scores to"),
         ("class_scores_csv", "file to write the per-class AUROC, AUPRC and F-measure to"))


def main(argv: list[str] | None = None) -> int:
    """The command: print the scores (and write the files asked for); exit status 0, or 1 when nothing can be scored or written."""
    return run_command(__doc__.splitlines()[0], load_directories, texts, FILES, argv)


if __name__ == "__main__":
    sys.exit(main())
