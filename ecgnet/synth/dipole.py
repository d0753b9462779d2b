"""The heart as a moving 3-D dipole: Gaussian lobes in time, projected to 12 leads.

Coordinates follow the Frank/Dower convention: X to the patient's left, Y to the
feet, Z to the back. Each wave is a sum of lobes; a lobe is a vector (mV) times an
asymmetric Gaussian in time (one width before its centre, one after). The 12
leads are fixed linear combinations of X, Y, Z (Dower's transform), so a change
of the heart's vectors changes every lead consistently: axis, bundle-branch
patterns and the relation III = II - I hold by construction.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Dower et al.'s coefficients (rows V1-V6, I, II; columns X, Y, Z), as tabulated by
# Bailon, Laguna and Sornmo in "Advanced Methods and Tools for ECG Analysis", ch. 8.
_DOWER_8 = np.array([
    [-0.515, 0.157, -0.917],
    [0.044, 0.164, -1.387],
    [0.882, 0.098, -1.277],
    [1.213, 0.127, -0.601],
    [1.125, 0.127, -0.086],
    [0.831, 0.076, 0.230],
    [0.632, -0.235, 0.059],
    [0.235, 1.066, -0.132],
])


def _lead_matrix() -> np.ndarray:
    v, lead_i, lead_ii = _DOWER_8[:6], _DOWER_8[6], _DOWER_8[7]
    limb = np.stack([
        lead_i,
        lead_ii,
        lead_ii - lead_i,                 # III
        -(lead_i + lead_ii) / 2,          # aVR
        lead_i - lead_ii / 2,             # aVL
        lead_ii - lead_i / 2,             # aVF
    ])
    return np.vstack([limb, v])


LEAD_MATRIX = _lead_matrix()  # 12 x 3: leads = LEAD_MATRIX @ [X, Y, Z]
LEAD_MATRIX.setflags(write=False)
LIMB = slice(0, 6)
CHEST = slice(6, 12)


@dataclass
class Lobes:
    """A set of lobes: centres (s), widths before/after the centre (s), vectors (mV)."""

    centre: np.ndarray  # (L,)
    width_before: np.ndarray  # (L,)
    width_after: np.ndarray  # (L,)
    vector: np.ndarray  # (L, 3)

    @staticmethod
    def of(rows: list[tuple[float, float, float, np.ndarray | list[float]]]) -> Lobes:
        """Lobes from rows of (centre s, width before s, width after s, 3-vector mV)."""
        if not rows:
            return Lobes(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros((0, 3)))
        return Lobes(
            np.array([r[0] for r in rows], dtype=float),
            np.array([r[1] for r in rows], dtype=float),
            np.array([r[2] for r in rows], dtype=float),
            np.array([np.asarray(r[3], dtype=float) for r in rows]),
        )

    def __add__(self, other: Lobes) -> Lobes:
        """The lobes of both sets."""
        return Lobes(
            np.concatenate([self.centre, other.centre]),
            np.concatenate([self.width_before, other.width_before]),
            np.concatenate([self.width_after, other.width_after]),
            np.concatenate([self.vector, other.vector]),
        )

    def shifted(self, dt: float) -> Lobes:
        """The lobes ``dt`` seconds later."""
        return Lobes(self.centre + dt, self.width_before, self.width_after, self.vector)

    def scaled_time(self, factor: float, origin: float = 0.0) -> Lobes:
        """Stretch (factor > 1) or compress the lobes' timing about ``origin``."""
        return Lobes(origin + (self.centre - origin) * factor, self.width_before * factor, self.width_after * factor, self.vector)

    def scaled(self, factor: float) -> Lobes:
        """The lobes with every vector times ``factor``."""
        return Lobes(self.centre, self.width_before, self.width_after, self.vector * factor)

    def rotated(self, rotation: np.ndarray) -> Lobes:
        """The lobes with every vector turned by the 3 x 3 ``rotation``."""
        return Lobes(self.centre, self.width_before, self.width_after, self.vector @ rotation.T)

    def area(self) -> np.ndarray:
        """Time integral of the dipole (mV s), per axis: each lobe gives v (wb + wa) sqrt(pi/2)."""
        return ((self.width_before + self.width_after) * np.sqrt(np.pi / 2)) @ self.vector

    @property
    def start(self) -> float:
        """Onset (s): 2.5 widths before the earliest centre; 0 without lobes."""
        return float(np.min(self.centre - 2.5 * self.width_before)) if len(self.centre) else 0.0

    @property
    def end(self) -> float:
        """End (s): 2.5 widths after the latest centre; 0 without lobes."""
        return float(np.max(self.centre + 2.5 * self.width_after)) if len(self.centre) else 0.0


def rotation(angles_deg: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    """Rotation matrix from angles (degrees) about X, then Y, then Z."""
    ax, ay, az = np.deg2rad(np.asarray(angles_deg, dtype=float))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def frontal_rotation(angle_deg: float) -> np.ndarray:
    """Rotation in the frontal (X-Y) plane; positive turns left towards the feet (clockwise as viewed)."""
    return rotation((0.0, 0.0, angle_deg))


def render(lobes: Lobes, num_samples: int, fs: float) -> np.ndarray:
    """Sum the lobes into a 3 x num_samples dipole signal (vectorised over lobes)."""
    out = np.zeros((3, num_samples))
    if len(lobes.centre) == 0 or num_samples == 0:
        return out
    half = int(np.ceil(4.0 * max(lobes.width_before.max(), lobes.width_after.max()) * fs)) + 1
    offsets = np.arange(-half, half + 1)
    centre_index = np.rint(lobes.centre * fs).astype(np.int64)
    index = centre_index[:, None] + offsets[None, :]
    dt = index / fs - lobes.centre[:, None]
    width = np.where(dt < 0, lobes.width_before[:, None], lobes.width_after[:, None])
    shape = np.exp(-0.5 * (dt / width) ** 2)
    valid = (index >= 0) & (index < num_samples)
    flat_index = index[valid]
    for axis in range(3):
        weights = (shape * lobes.vector[:, axis : axis + 1])[valid]
        out[axis] += np.bincount(flat_index, weights=weights, minlength=num_samples)[:num_samples]
    return out


def project(dipole: np.ndarray) -> np.ndarray:
    """3 x N dipole -> 12 x N leads in mV."""
    return LEAD_MATRIX @ dipole

