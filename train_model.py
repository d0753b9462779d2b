#!/usr/bin/env python
"""``python train_model.py TRAINING_DIR MODEL_DIR``: train the ensemble, as the official 2020 script.

A problem with the input (no such directory, too few usable records, a bad
``$ECGNET_CONFIG``) is printed as one line, and the exit status is 2.
"""
import os
import sys

from ecgnet.errors import USER_ERRORS
from team_code import train_12ECG_classifier

if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python train_model.py TRAINING_DIR MODEL_DIR")
    input_directory, output_directory = sys.argv[1], sys.argv[2]
    os.makedirs(output_directory, exist_ok=True)
    print("Running training code...")
    try:
        train_12ECG_classifier(input_directory, output_directory)
    except USER_ERRORS as error:
        print(f"train_model.py: {error}", file=sys.stderr)
        sys.exit(2)
    print("Done.")
