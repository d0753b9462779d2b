#!/usr/bin/env python
"""Score model outputs against labels with the 2020 challenge metrics.

    python evaluate_12ECG_score.py LABEL_DIR OUTPUT_DIR [SCORES_CSV]

The official command line and scores-file layout, values at full precision
instead of 3 decimals; the maths is in ecgnet/challenge/metrics.py, the file handling in
ecgnet/scoring.py.
"""
from __future__ import annotations

import sys

from ecgnet.challenge import metrics
from ecgnet.scoring import ScoringInput, load_directories, run_command, scores_text


def texts(data: ScoringInput) -> list[str]:
    """The scores file: the seven metrics at full precision."""
    return [scores_text(metrics.compute_all(data.labels, data.outputs, data.probabilities))]


def main(argv: list[str] | None = None) -> int:
    """The command: print the scores (and write SCORES_CSV); exit status 0, or 1 when nothing can be scored or written."""
    return run_command(__doc__.splitlines()[0], load_directories, texts, [("scores_csv", "file to write the scores to")], argv)


if __name__ == "__main__":
    sys.exit(main())
