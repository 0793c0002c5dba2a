"""Task parameters: one frozen dataclass for every family, with declared ranges and a JSON round trip.

A task is a point in the parameter space of a family (payload, terrain, goal and dynamics knobs). Every
family uses the same `TaskParams` type and declares which fields it varies (`ParamSpec`), their allowed
range (anything outside is refused), the range sampled for training, and the regions held out for the
test split. Fields a family does not vary must stay at their defaults.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TaskParamError(ValueError):
    """A task parameter is unknown, malformed, or outside the range its family declares."""


class UnknownFamilyError(KeyError):
    """A task family name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0])


@dataclass(frozen=True)
class TaskParams:
    """One task. Units are SI unless stated; angles of terrain in degrees because people think in them.

    Attributes:
        family: name of the task family this task belongs to.
        payload_mass: added mass in kg, on the torso (locomotion) or in the gripper (manipulation).
        payload_com_x: payload centre-of-mass offset along the body x axis from its mount, m.
        payload_com_y: same along body y, m.
        payload_com_z: same along body z, m.
        slope: ground slope along the direction of travel, degrees (positive = uphill).
        roughness: heightfield peak-to-peak amplitude, m (3D robots only).
        terrain_seed: seed of the heightfield pattern, so that a task is reproducible from its JSON.
        friction: sliding friction coefficient of the ground.
        target_velocity: commanded forward speed, m/s (hidden from the policy, in the reward).
        target_heading: commanded direction of travel relative to the initial heading, rad.
        goal_x: target end-effector x relative to the shoulder, m.
        goal_z: target end-effector z relative to the shoulder, m.
        motor_strength: multiplier on every actuator's force (1 = nominal).
        action_latency: delay between the policy's action and its application, in control steps.
        obs_noise: multiplier on the per-slice nominal observation noise (0 = noiseless).
    """

    family: str
    payload_mass: float = 0.0
    payload_com_x: float = 0.0
    payload_com_y: float = 0.0
    payload_com_z: float = 0.0
    slope: float = 0.0
    roughness: float = 0.0
    terrain_seed: int = 0
    friction: float = 1.0
    target_velocity: float = 0.0
    target_heading: float = 0.0
    goal_x: float = 0.0
    goal_z: float = 0.0
    motor_strength: float = 1.0
    action_latency: int = 0
    obs_noise: float = 0.0

    def replace(self, **changes: Any) -> TaskParams:
        """A copy with some fields changed (no validation; the family validates)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, raw: Any) -> TaskParams:
        """Build from a dict, refusing unknown keys and values of the wrong type by name."""
        if not isinstance(raw, dict):
            raise TaskParamError(f"a task must be a JSON object, got {type(raw).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise TaskParamError(f"unknown task parameter(s) {unknown}; known: {sorted(fields)}")
        if "family" not in raw:
            raise TaskParamError("a task needs a 'family' field naming its task family")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            kind = _FIELD_TYPES[name]
            if kind is str:
                if not isinstance(value, str):
                    raise TaskParamError(f"task parameter {name}={value!r} must be a string")
            elif kind is int:
                if isinstance(value, bool) or not isinstance(value, int | float) or float(value) != int(value):
                    raise TaskParamError(f"task parameter {name}={value!r} must be an integer")
                value = int(value)
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                    raise TaskParamError(f"task parameter {name}={value!r} must be a finite number")
                value = float(value)
            values[name] = value
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TaskParams:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TaskParamError(f"malformed task JSON: {exc}") from None
        return cls.from_dict(raw)


_FIELD_TYPES: dict[str, type] = {
    "family": str,
    **{f.name: (int if f.type in ("int", int) else float) for f in dataclasses.fields(TaskParams) if f.name != "family"},
}
PARAM_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TaskParams) if f.name != "family")

Interval = tuple[float, float]


@dataclass(frozen=True)
class ParamSpec:
    """How one family varies one field of `TaskParams`.

    Attributes:
        name: the `TaskParams` field.
        unit: unit for humans and manifests ("kg", "m", "deg", "m/s", "rad", "x", "steps").
        allowed: the declared range; a value outside it is refused with an error that names both.
        train: the range sampled for the training split.
        test_only: intervals that only the test split samples: inside `train` (interpolation) or past it
            (extrapolation, e.g. payloads heavier than any seen in training). Training samples avoid them.
        default: the value when the family's nominal task is asked for.
        doc: one line for `robot-meta tasks`.
    """

    name: str
    unit: str
    allowed: Interval
    train: Interval
    test_only: tuple[Interval, ...] = ()
    default: float = 0.0
    doc: str = ""

    def __post_init__(self) -> None:
        if self.name not in PARAM_NAMES:
            raise TaskParamError(f"ParamSpec for unknown field {self.name!r}")
        lo, hi = self.allowed
        for a, b in (self.train, *self.test_only):
            if not (lo <= a <= b <= hi):
                raise TaskParamError(f"{self.name}: interval ({a}, {b}) is not inside allowed ({lo}, {hi})")
        if not lo <= self.default <= hi:
            raise TaskParamError(f"{self.name}: default {self.default} outside allowed ({lo}, {hi})")

    @property
    def is_int(self) -> bool:
        return _FIELD_TYPES[self.name] is int

    def check(self, value: float) -> None:
        lo, hi = self.allowed
        if not (lo <= value <= hi):
            raise TaskParamError(f"task parameter {self.name}={value} {self.unit} is outside its allowed range [{lo}, {hi}]")

    def sample_train(self, rng: np.random.Generator) -> float:
        """Uniform over `train` minus the test-only intervals (rejection; the held-out share is small)."""
        lo, hi = self.train
        if self.is_int:
            choices = [v for v in range(int(lo), int(hi) + 1) if not self._in_test_only(v)]
            return int(rng.choice(choices))
        for _ in range(10_000):
            value = float(rng.uniform(lo, hi))
            if not self._in_test_only(value):
                return value
        raise TaskParamError(f"{self.name}: test-only intervals cover the whole training range")

    def sample_test_only(self, rng: np.random.Generator) -> float:
        """Uniform over the union of the test-only intervals (weighted by length)."""
        if not self.test_only:
            raise TaskParamError(f"{self.name} has no test-only region")
        if self.is_int:
            choices = sorted({v for a, b in self.test_only for v in range(int(a), int(b) + 1)})
            return int(rng.choice(choices))
        widths = np.array([b - a for a, b in self.test_only], dtype=float)
        k = int(rng.choice(len(widths), p=widths / widths.sum())) if widths.sum() > 0 else 0
        a, b = self.test_only[k]
        return float(rng.uniform(a, b))

    def _in_test_only(self, value: float) -> bool:
        return any(a <= value <= b for a, b in self.test_only)


@dataclass(frozen=True)
class TaskSplit:
    """Training tasks and held-out test tasks of one family (disjoint by construction)."""

    family: str
    seed: int
    train: tuple[TaskParams, ...] = field(default_factory=tuple)
    test: tuple[TaskParams, ...] = field(default_factory=tuple)
