"""ecgnet: a PhysioNet/CinC Challenge 2020 entry (SE-ResNet with adaptive lead weighting)."""
import os

__version__ = "0.1.0"

# Idle OpenMP threads sleep instead of spinning. Spinning threads steal the cores of
# every other job on a shared machine and, preempted, stall their own team: beside one
# busy process the demo's epoch took 4x the wall time (bench/bench_threads.py). It must
# be set before torch loads libgomp, hence here; a user's own setting wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
