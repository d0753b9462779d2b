#!/usr/bin/env python
"""``python train_model.py TRAINING_DIR MODEL_DIR``: train the ensemble, as the official 2020 script.

``--help`` answers at once and names the environment variables ($ECGNET_CONFIG chooses
the preset; unset, the full 50-epoch network). A problem with the input (no such
directory, too few usable records, a bad ``$ECGNET_CONFIG``) is printed as one line,
and the exit status is 2; Ctrl-C says what was saved (exit status 130). The body is
``ecgnet.entry_points.train_main``, which runs what ``team_code.train_12ECG_classifier`` runs
(``ecgnet.training.train.train_from_environment``).
"""
import sys

from ecgnet.entry_points import train_main

if __name__ == "__main__":
    sys.exit(train_main(sys.argv[1:]))
