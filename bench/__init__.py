"""Speed and memory benchmarks (scripts run as ``python bench/NAME.py``); ``bench.common`` is what they and the
experiments share. A package only so that ``experiments/`` can import ``bench.common``."""
