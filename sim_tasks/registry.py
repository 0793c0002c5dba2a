"""The task families by name: an explicit list of the built-in ones (dm_control's `suite` style), and the ones
a user registers from their own module.

A family defined outside this package (a user's robot) is registered with `register_family(MyRobot)` in the
user's module; `robot-meta --family-module my_robot ...` imports that module before the command runs
(docs/architecture.md has a worked example). Registering a family also registers its gymnasium id.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from sim_tasks.families.half_cheetah_vel import HalfCheetahVel
from sim_tasks.families.planar_arm import PlanarArmPayload
from sim_tasks.families.planar_arm_sparse import PlanarArmSparse
from sim_tasks.families.planar_runner import PlanarRunnerPayload
from sim_tasks.families.quadruped import QuadrupedTerrain
from sim_tasks.family import TaskFamily
from sim_tasks.params import TaskParamError, TaskParams, UnknownFamilyError

BUILTIN: tuple[type[TaskFamily], ...] = (
    PlanarRunnerPayload,
    QuadrupedTerrain,
    PlanarArmPayload,
    PlanarArmSparse,
    HalfCheetahVel,
)

_FAMILIES: dict[str, type[TaskFamily]] = {}


def register_family(cls: type[TaskFamily]) -> type[TaskFamily]:
    """Add a family (a `TaskFamily` subclass) under its `name`, and its gymnasium id; usable as a decorator.

    Registering the same class twice is a no-op; another class under a taken name is refused.
    """
    if not (isinstance(cls, type) and issubclass(cls, TaskFamily)):
        raise TaskParamError(f"register_family takes a TaskFamily subclass, got {cls!r}")
    for attr in ("name", "env_id", "params", "obs_layout"):
        if not hasattr(cls, attr):
            raise TaskParamError(f"family class {cls.__name__} has no {attr!r}; see sim_tasks.family.TaskFamily")
    _check_commands(cls)
    taken = _FAMILIES.get(cls.name)
    if taken is not None and taken is not cls:
        raise TaskParamError(f"a family named {cls.name!r} is already registered ({taken.__module__}.{taken.__name__})")
    _FAMILIES[cls.name] = cls
    if cls.env_id not in gym.registry:
        gym.register(
            id=cls.env_id,
            entry_point="sim_tasks.envs:make_env",
            kwargs={"family": cls.name},
            max_episode_steps=cls.episode_steps,  # TimeLimit truncates; gym.make(..., max_episode_steps=N) overrides
        )
    return cls


def _check_commands(cls: type[TaskFamily]) -> None:
    """The observation's last slices are the commands, one per command parameter, in declared order."""
    commands = [p for p in cls.params if p.role == "command"]
    tail = [s for s in cls.obs_layout.slices if s.source == "command"]
    expected = [(p.name, 1, p.unit) for p in commands]
    got = [(s.name, s.size, s.unit) for s in tail]
    if got != expected or list(cls.obs_layout.slices[len(cls.obs_layout.slices) - len(tail) :]) != tail:
        raise TaskParamError(
            f"family {cls.name!r}: the observation must end with one 'command' slice per command parameter "
            f"(name, size 1, unit) {expected}, got {got}"
        )


for _cls in BUILTIN:
    register_family(_cls)


def family_names() -> list[str]:
    return sorted(_FAMILIES)


def get_family(name: str) -> TaskFamily:
    """A new instance of the family called `name`; raises `UnknownFamilyError` listing the known names."""
    if name not in _FAMILIES:
        raise UnknownFamilyError(f"unknown task family {name!r}; known families: {', '.join(sorted(_FAMILIES))}")
    return _FAMILIES[name]()


def task_from_json(text: str) -> TaskParams:
    """A task from its JSON text, checked by the family its 'family' field names."""
    raw = TaskParams.parse_json(text)
    return get_family(raw["family"]).task_from_dict(raw)


def env_ids() -> list[str]:
    """The gymnasium id of every registered family."""
    return [_FAMILIES[n].env_id for n in family_names()]


def load_family_module(module: str) -> list[str]:
    """Import a user's module that registers families; returns the names it added."""
    before = set(_FAMILIES)
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise UnknownFamilyError(
            f"cannot import family module {module!r} ({exc}); it must be importable (on PYTHONPATH or installed)"
        ) from None
    added = sorted(set(_FAMILIES) - before)
    return added
