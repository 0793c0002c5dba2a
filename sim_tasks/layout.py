"""Observation and action layouts: ordered named slices, written once per family.

These are the deploy contract's source: the export writes them into the policy manifest and the runtime
and robot client check them, so a slice is never re-assembled by hand anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ObsSlice:
    """One named block of the observation vector.

    Attributes:
        name: e.g. "joint_pos".
        size: number of entries.
        unit: physical unit of the entries ("rad", "rad/s", "m/s", "1" for unit vectors).
        noise: nominal std of the Gaussian noise added per entry at `obs_noise` = 1, in `unit`
            (legged_gym's values where they exist: joint pos 0.01, joint vel 1.5, gyro 0.2, gravity 0.05,
            linear velocity 0.1).
        source: the robot signal it comes from ("encoder", "imu", "state_estimator", "kinematics").
    """

    name: str
    size: int
    unit: str
    noise: float
    source: str


@dataclass(frozen=True)
class ObsLayout:
    slices: tuple[ObsSlice, ...]

    @property
    def dim(self) -> int:
        return sum(s.size for s in self.slices)

    def index(self, name: str) -> slice:
        """The `slice` of the flat vector that holds the block called `name`."""
        start = 0
        for s in self.slices:
            if s.name == name:
                return slice(start, start + s.size)
            start += s.size
        raise KeyError(f"no observation slice {name!r}; have {[s.name for s in self.slices]}")

    def noise_std(self) -> np.ndarray:
        """Per-entry nominal noise std, shape (dim,)."""
        return np.concatenate([np.full(s.size, s.noise) for s in self.slices])

    def to_dict(self) -> list[dict[str, Any]]:
        out, start = [], 0
        for s in self.slices:
            out.append({"name": s.name, "start": start, "size": s.size, "unit": s.unit, "noise": s.noise, "source": s.source})
            start += s.size
        return out


@dataclass(frozen=True)
class ActionLayout:
    """Policy actions live in [-1, 1]; ctrl = offset + scale * action, clipped to [ctrl_low, ctrl_high].

    Attributes:
        names: actuator names, in ctrl order.
        unit: what ctrl means ("N*m" for torque motors, "rad" for position targets).
        scale: shape (n,).
        offset: shape (n,), the ctrl of action 0 (the default pose for position actuators).
        ctrl_low, ctrl_high: shape (n,), the actuator's ctrl range.
    """

    names: tuple[str, ...]
    unit: str
    scale: np.ndarray
    offset: np.ndarray
    ctrl_low: np.ndarray
    ctrl_high: np.ndarray

    @property
    def dim(self) -> int:
        return len(self.names)

    def to_ctrl(self, action: np.ndarray) -> np.ndarray:
        """ctrl for `action` already in [-1, 1], shape (..., n); clipped to the actuator ctrl range."""
        return np.clip(self.offset + self.scale * action, self.ctrl_low, self.ctrl_high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "names": list(self.names),
            "unit": self.unit,
            "scale": self.scale.tolist(),
            "offset": self.offset.tolist(),
            "ctrl_low": self.ctrl_low.tolist(),
            "ctrl_high": self.ctrl_high.tolist(),
        }
