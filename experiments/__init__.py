"""Experiments and tools (scripts run as ``python experiments/NAME.py``); a package only so that the scripts can share
``experiments.ecg_measures``. What they share with the benchmarks is in ``bench.common``."""
