"""Task parameters: a task is its family's name and a value for each parameter the family declares.

A family declares its parameters itself (`TaskFamily.params`, one `ParamSpec` each: unit, allowed range,
training range, held-out regions, default) and, where it needs them, integer seeds that make a task
reproducible from its JSON (`TaskFamily.seeds`, e.g. the quadruped's terrain pattern). `TaskParams` holds
exactly those values, so a new knob or a new robot touches only its own family module.

Some knobs are applied by the shared machinery to any family that declares them (the payload body, ground
friction, motor strength, slope as a tilt of gravity, action latency, sensor noise: `sim_tasks.family` and
`sim_tasks.sim`); `SHARED_NOMINAL` holds their nominal values, which is what a task reads for a shared knob
its family does not vary.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class TaskParamError(ValueError):
    """A task parameter is unknown, malformed, or outside the range its family declares."""


class UnknownFamilyError(KeyError):
    """A task family name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0])


# The knobs the shared machinery applies, at their nominal values (units as in ParamSpec docs): kg, m (payload
# centre of mass from its mount, body axes), deg (slope), 1 (friction), x (motor strength), control steps
# (latency), x (sensor-noise multiplier).
SHARED_NOMINAL: dict[str, float] = {
    "payload_mass": 0.0,
    "payload_com_x": 0.0,
    "payload_com_y": 0.0,
    "payload_com_z": 0.0,
    "slope": 0.0,
    "friction": 1.0,
    "motor_strength": 1.0,
    "action_latency": 0,
    "obs_noise": 0.0,
}


class TaskParams:
    """One task: `family` and the values of the parameters it declares (immutable, hashable, JSON round trip).

    `task.payload_mass` reads a value; a shared knob the family does not declare reads as its nominal value
    (`SHARED_NOMINAL`); any other name is an AttributeError naming the family's parameters. Which names a
    task must hold and their ranges are the family's to check (`TaskFamily.validate`).
    """

    def __init__(self, family: str, **values: float) -> None:
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "_items", tuple(values.items()))
        for name, value in values.items():  # plain attributes: read every control step, so no lookup code
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"TaskParams is immutable; use task.replace({name}=...)")

    def __getattr__(self, name: str) -> Any:
        """Only for names the task does not hold: a shared knob reads as nominal, anything else is an error."""
        if name.startswith("_"):
            raise AttributeError(name)
        if name in SHARED_NOMINAL:
            return SHARED_NOMINAL[name]
        raise AttributeError(f"a {self.family} task has no parameter {name!r}; it has {list(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self._items)

    def values(self) -> dict[str, float]:
        return dict(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskParams):
            return NotImplemented
        return self.family == other.family and sorted(self._items) == sorted(other._items)

    def __hash__(self) -> int:
        return hash((self.family, tuple(sorted(self._items))))

    def __reduce__(self) -> tuple[Any, ...]:  # copy and pickle go through the constructor (slots, immutable)
        return (_rebuild, (self.family, self._items))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._items)
        return f"TaskParams(family={self.family!r}, {inner})"

    def replace(self, **changes: float) -> TaskParams:
        """A copy with some of its parameters changed (the family validates the values)."""
        unknown = sorted(set(changes) - set(self.names))
        if unknown:
            raise TaskParamError(f"family {self.family!r} does not vary {', '.join(unknown)}; it varies {list(self.names)}")
        return TaskParams(self.family, **{**self.values(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, **self.values()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @staticmethod
    def parse_json(text: str) -> dict[str, Any]:
        """A task's JSON as a dict with a 'family' name (the family then checks the rest)."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise TaskParamError(f"malformed task JSON: {exc}") from None
        if not isinstance(raw, Mapping):
            raise TaskParamError(f"a task must be a JSON object, got {type(raw).__name__}")
        if not isinstance(raw.get("family"), str):
            raise TaskParamError("a task needs a 'family' field naming its task family")
        return dict(raw)


def _rebuild(family: str, items: tuple[tuple[str, float], ...]) -> TaskParams:
    return TaskParams(family, **dict(items))


Interval = tuple[float, float]
ROLES = ("hidden", "command")


@dataclass(frozen=True)
class ParamSpec:
    """How one family varies one of its task parameters.

    Attributes:
        name: the parameter (a `TaskParams` attribute of the family's tasks).
        unit: unit for humans and manifests ("kg", "m", "deg", "m/s", "rad", "x", "steps").
        allowed: the declared range; a value outside it is refused with an error that names both.
        train: the range sampled for the training split.
        test_only: intervals that only the test split samples: inside `train` (interpolation) or past it
            (extrapolation, e.g. payloads heavier than any seen in training). Training samples avoid them.
        default: the value when the family's nominal task is asked for.
        doc: one line for `robot-meta tasks`.
        integer: the parameter takes integer values (e.g. a latency in control steps).
        role: "hidden", the dynamics a policy must infer (payload, terrain, friction, motors, latency,
            noise), or "command", what the operator or a planner sets at run time (a target velocity, a
            goal position): an observation slice of the same name, resampled during training episodes.
    """

    name: str
    unit: str
    allowed: Interval
    train: Interval
    test_only: tuple[Interval, ...] = ()
    default: float = 0.0
    doc: str = ""
    integer: bool = False
    role: str = "hidden"

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise TaskParamError(f"ParamSpec {self.name!r}: role {self.role!r} is not one of {ROLES}")
        if (
            not self.name.isidentifier()
            or self.name.startswith("_")
            or hasattr(TaskParams, self.name)
            or self.name == "family"
        ):
            raise TaskParamError(
                f"ParamSpec name {self.name!r} must be a Python identifier that is not a TaskParams attribute or 'family'"
            )
        lo, hi = self.allowed
        for a, b in (self.train, *self.test_only):
            if not (lo <= a <= b <= hi):
                raise TaskParamError(f"{self.name}: interval ({a}, {b}) is not inside allowed ({lo}, {hi})")
        if not lo <= self.default <= hi:
            raise TaskParamError(f"{self.name}: default {self.default} outside allowed ({lo}, {hi})")

    @property
    def is_int(self) -> bool:
        return self.integer

    def coerce(self, value: Any) -> float | int:
        """`value` as this parameter's type, refusing by name what is not a finite number (or an integer)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            kind = "an integer" if self.integer else "a finite number"
            raise TaskParamError(f"task parameter {self.name}={value!r} must be {kind}")
        if self.integer:
            if float(value) != int(value):
                raise TaskParamError(f"task parameter {self.name}={value!r} must be an integer")
            return int(value)
        return float(value)

    def check(self, value: float) -> None:
        lo, hi = self.allowed
        if not (lo <= value <= hi):
            raise TaskParamError(f"task parameter {self.name}={value} {self.unit} is outside its allowed range [{lo}, {hi}]")

    @property
    def evaluated(self) -> Interval:
        """The hull of the training range and the held-out regions: every value evaluation asks for."""
        return (min([self.train[0], *(a for a, _ in self.test_only)]), max([self.train[1], *(b for _, b in self.test_only)]))

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
