"""ecgnet: a PhysioNet/CinC Challenge 2020 entry (SE-ResNet with adaptive lead weighting)."""

__version__ = "0.1.0"
