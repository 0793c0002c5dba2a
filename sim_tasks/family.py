"""Task families: a MuJoCo robot plus a distribution over `TaskParams`, with a train and a test split.

A family owns three things, kept apart as in dm_control's suite:
- the model stage (`build_model`): MjSpec edits for terrain, payload, friction, motor strength;
- the physics read-outs and task logic (`observe`, `reward`, `terminated`, `reset_state`);
- the task distribution (`params`, `split`).
The step loop itself lives in `sim_tasks.sim.TaskSim`, the same for every family.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import mujoco
import numpy as np

from sim_tasks import model_edit
from sim_tasks.layout import ActionLayout, ObsLayout
from sim_tasks.params import ParamSpec, TaskParamError, TaskParams, TaskSplit


def _ground_friction(family: TaskFamily, spec: mujoco.MjSpec, friction: float) -> None:
    if family.ground_geom is not None:
        model_edit.set_ground_friction(spec, family.ground_geom, friction)


def _motor_strength(family: TaskFamily, spec: mujoco.MjSpec, strength: float) -> None:
    model_edit.scale_motor_strength(spec, strength)


def _slope(family: TaskFamily, spec: mujoco.MjSpec, slope_deg: float) -> None:
    spec.option.gravity = model_edit.slope_gravity(slope_deg)


# The model-stage knobs the shared machinery applies to any family that varies them (the payload, which
# takes several parameters and the family's mount, is applied by `build_model` itself). A family's own
# knobs are its `edit_spec`'s.
SHARED_MODEL_EDITS: dict[str, Callable[[TaskFamily, mujoco.MjSpec, float], None]] = {
    "friction": _ground_friction,
    "motor_strength": _motor_strength,
    "slope": _slope,
}


class TaskFamily(ABC):
    """Base class; subclasses fill the class attributes and the abstract methods."""

    name: ClassVar[str]
    env_id: ClassVar[str]
    summary: ClassVar[str]
    params: ClassVar[tuple[ParamSpec, ...]]  # the parameters it varies; the hidden ones are the oracle's task vector
    # Integer seeds a task carries so that it is reproducible from its JSON (not varied by ranges, not in the
    # task vector), drawn after the parameters when a task is sampled: e.g. the quadruped's terrain pattern.
    seeds: ClassVar[tuple[str, ...]] = ()
    obs_layout: ClassVar[ObsLayout]
    reward_doc: ClassVar[str]
    sim_dt: ClassVar[float]  # s, physics step
    ctrl_dt: ClassVar[float]  # s, one env step = ctrl_dt / sim_dt physics steps
    episode_steps: ClassVar[int]
    n_train: ClassVar[int]
    n_test: ClassVar[int]
    default_split_seed: ClassVar[int] = 0
    ground_geom: ClassVar[str | None] = None
    payload_parent: ClassVar[str | None] = None  # body the payload is welded to
    payload_mount: ClassVar[tuple[float, float, float]] = (0.0, 0.0, 0.0)  # m, in the parent frame
    # How a robot computer rebuilds each observation slice from the robot's STATE message (docs/deploy.md,
    # "robot signals"): {slice name: {"signal": NAME, "index": [...], "offset": [...]}}. Empty: the family
    # runs in simulation only (export records that and deploy refuses with the slice that has no signal).
    robot_signals: ClassVar[dict[str, dict[str, Any]]] = {}
    # The reward the adapter needs, computed robot-side: {"kind": "velocity_tracking", "slice": obs slice,
    # "target": task parameter the operator sets, "action_cost": weight of |a|^2}; None: not computable.
    robot_reward: ClassVar[dict[str, Any] | None] = None
    # Commands (ParamSpec role "command") are the last slices of `obs_layout`, one per command in declared
    # order, source "command"; training envs draw new ones from their training ranges every this many s.
    command_resample_s: ClassVar[float] = 4.0
    # The absolute floor of the adaptation band (deploy.metrics.adaptation_time), in the tracking error's unit:
    # a near-perfect policy's band does not shrink below it. 0.02 m/s for the velocity-tracking families.
    adaptation_floor: ClassVar[float] = 0.02
    error_unit: ClassVar[str] = "m/s"  # unit of the tracking error (`reward` returns it; plots and tables show it)
    max_tilt_deg: ClassVar[float] = 60.0  # deg, deploy e-stops when the body tilts further from upright
    # The field test a policy of this family gets when no plan file says otherwise (deploy.field.FieldPlan's
    # fields: its commands, the payloads to pick up, the phase lengths); exported into the manifest.
    field_plan: ClassVar[dict[str, Any] | None] = None
    # The model camera `render_mode="rgb_array"` uses (None: the model's first; the mobile robots' track them).
    render_camera: ClassVar[str | None] = None

    # ---- model stage -------------------------------------------------------------------------
    @abstractmethod
    def base_spec(self) -> mujoco.MjSpec:
        """A fresh spec of the robot and its world, nominal parameters."""

    def _frozen_base(self) -> mujoco.MjSpec:
        """The base spec with its inertials frozen, built once per family instance (copied per task)."""
        if not hasattr(self, "_base"):
            spec = self.base_spec()
            model_edit.freeze_inertials(spec)
            self._base = spec
        return self._base

    def edit_spec(self, spec: mujoco.MjSpec, task: TaskParams) -> None:
        """Family-specific model-stage edits (e.g. terrain); the common ones are in `build_model`."""

    def build_model(self, task: TaskParams) -> mujoco.MjModel:
        """Compile the model of `task` (validated first, so nothing half-built is left behind)."""
        task = self.validate(task)
        spec = self._frozen_base().copy()
        spec.option.timestep = self.sim_dt
        if self.payload_parent is not None:  # shared knobs a family does not vary read as their nominal values
            com = np.array([task.payload_com_x, task.payload_com_y, task.payload_com_z])
            model_edit.add_payload(spec, self.payload_parent, np.array(self.payload_mount), task.payload_mass, com)
        for p in self.params:
            shared_edit = SHARED_MODEL_EDITS.get(p.name)
            if shared_edit is not None:
                shared_edit(self, spec, getattr(task, p.name))
        self.edit_spec(spec, task)
        return spec.compile()

    @abstractmethod
    def action_layout(self, model: mujoco.MjModel) -> ActionLayout:
        """How a policy action in [-1, 1]^n maps to `data.ctrl`."""

    # ---- episode stage: physics read-outs and task logic ----------------------------------------
    @abstractmethod
    def reset_state(self, model: mujoco.MjModel, data: mujoco.MjData, task: TaskParams, rng: np.random.Generator) -> None:
        """Set the initial state of an episode in `data` (no recompile)."""

    @abstractmethod
    def observe(self, model: mujoco.MjModel, data: mujoco.MjData, task: TaskParams) -> np.ndarray:
        """Noise-free read-outs: the slices of `obs_layout` before the commands, float64."""

    @abstractmethod
    def reward(
        self, model: mujoco.MjModel, data: mujoco.MjData, action: np.ndarray, task: TaskParams, before: Any
    ) -> tuple[float, float]:
        """(reward, tracking error) after a step; both from robot-side signals only.

        `before` is what `before_step` returned for this step (per-sim state lives in the sim, not here).
        """

    def observation(self, model: mujoco.MjModel, data: mujoco.MjData, task: TaskParams) -> np.ndarray:
        """The full observation in `obs_layout`: the family's read-outs (`observe`), then the commands."""
        sensors = self.observe(model, data, task)
        if not self.command_params:
            return sensors
        return np.concatenate([sensors, [getattr(task, p.name) for p in self.command_params]])

    def terminated(self, model: mujoco.MjModel, data: mujoco.MjData) -> bool:
        """True when the episode must end early (a fall)."""
        return False

    def before_step(self, data: mujoco.MjData) -> Any:
        """Called before the physics of one env step; its return value reaches `reward` as `before`."""
        return None

    # ---- the task distribution ---------------------------------------------------------------
    @property
    def substeps(self) -> int:
        return round(self.ctrl_dt / self.sim_dt)

    @functools.cached_property
    def command_params(self) -> tuple[ParamSpec, ...]:
        """What the operator or a planner sets at run time, in observation order."""
        return tuple(p for p in self.params if p.role == "command")

    @functools.cached_property
    def hidden_params(self) -> tuple[ParamSpec, ...]:
        """The dynamics a policy must infer: the oracle's task vector, in this order."""
        return tuple(p for p in self.params if p.role == "hidden")

    def sample_commands(self, rng: np.random.Generator) -> dict[str, float]:
        """New command values from their training ranges (held-out regions excluded)."""
        return {p.name: p.sample_train(rng) for p in self.command_params}

    def has_param(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    def spec_of(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise TaskParamError(f"family {self.name!r} does not vary {name!r}; it varies {[p.name for p in self.params]}")

    @property
    def fields(self) -> tuple[str, ...]:
        """Every value a task of this family holds: its parameters, then its seeds."""
        return (*(p.name for p in self.params), *self.seeds)

    def task(self, **values: float) -> TaskParams:
        """A validated task of this family; parameters not given take their declared defaults, seeds 0."""
        defaults = {p.name: (int(p.default) if p.is_int else p.default) for p in self.params}
        defaults.update({s: 0 for s in self.seeds})
        unknown = sorted(set(values) - set(defaults))
        if unknown:
            raise TaskParamError(f"family {self.name!r} does not vary {', '.join(unknown)}; it varies {list(self.fields)}")
        specs = {p.name: p for p in self.params}
        values = {k: specs[k].coerce(v) if k in specs else v for k, v in values.items()}
        return self.validate(TaskParams(self.name, **{**defaults, **values}))

    def default_task(self) -> TaskParams:
        return self.task()

    def validate(self, task: TaskParams) -> TaskParams:
        """Return `task` if it belongs to this family, holds exactly its fields, and every value is of the
        right type and in range; raise naming the value otherwise."""
        if not isinstance(task, TaskParams):
            raise TaskParamError(f"expected TaskParams, got {type(task).__name__}")
        if task.family != self.name:
            raise TaskParamError(f"task is for family {task.family!r}, not {self.name!r}")
        extra = sorted(set(task.names) - set(self.fields))
        if extra:
            raise TaskParamError(f"family {self.name!r} does not vary {', '.join(extra)}; it varies {list(self.fields)}")
        missing = [f for f in self.fields if f not in task.names]
        if missing:
            raise TaskParamError(f"a {self.name} task needs {missing}; build tasks with family.task(...)")
        for p in self.params:
            p.check(p.coerce(getattr(task, p.name)))
        for seed in self.seeds:
            value = getattr(task, seed)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
                raise TaskParamError(f"task seed {seed}={value!r} must be an integer in [0, 2**31)")
        return task

    def task_from_dict(self, raw: dict[str, Any]) -> TaskParams:
        """A task from its JSON object: unknown names refused, types coerced by name, missing ones defaulted."""
        values = {k: v for k, v in raw.items() if k != "family"}
        if raw.get("family", self.name) != self.name:
            raise TaskParamError(f"task is for family {raw.get('family')!r}, not {self.name!r}")
        unknown = sorted(set(values) - set(self.fields))
        if unknown:
            raise TaskParamError(f"unknown task parameter(s) {unknown} for family {self.name!r}; known: {list(self.fields)}")
        specs = {p.name: p for p in self.params}
        for name, value in values.items():
            if name in specs:
                values[name] = specs[name].coerce(value)
            elif (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value != int(value)
            ):
                raise TaskParamError(f"task seed {name}={value!r} must be an integer")
            else:
                values[name] = int(value)
        return self.task(**values)

    def task_from_json(self, text: str) -> TaskParams:
        return self.task_from_dict(TaskParams.parse_json(text))

    def task_vector(self, task: TaskParams) -> np.ndarray:
        """The hidden parameters in declared order, shape (len(hidden_params),), float32: the oracle's input
        (commands are in the observation already)."""
        return np.array([getattr(task, p.name) for p in self.hidden_params], dtype=np.float32)

    def sample_train_task(self, rng: np.random.Generator) -> TaskParams:
        values = {p.name: p.sample_train(rng) for p in self.params}
        for seed in self.seeds:
            values[seed] = int(rng.integers(0, 2**31 - 1))
        return TaskParams(self.name, **values)

    def sample_evaluated_task(self, rng: np.random.Generator) -> TaskParams:
        """A task with every hidden parameter uniform over its evaluated range (`ParamSpec.evaluated`: the training
        range and the held-out regions) and the commands over their training ranges: the oracle's training
        distribution (an upper bound is told the truth everywhere it is asked)."""
        values: dict[str, float] = {}
        for p in self.params:
            lo, hi = p.evaluated if p.role == "hidden" else p.train
            values[p.name] = int(rng.integers(int(lo), int(hi) + 1)) if p.is_int else float(rng.uniform(lo, hi))
        for seed in self.seeds:
            values[seed] = int(rng.integers(0, 2**31 - 1))
        return TaskParams(self.name, **values)

    def sample_test_task(self, rng: np.random.Generator) -> TaskParams:
        """A training-like task with one held-out axis moved into its test-only region."""
        held = [p for p in self.params if p.test_only]
        task = self.sample_train_task(rng)
        if not held:
            return task
        axis = held[int(rng.integers(len(held)))]
        return task.replace(**{axis.name: axis.sample_test_only(rng)})

    def split(self, seed: int | None = None, n_train: int | None = None, n_test: int | None = None) -> TaskSplit:
        """Deterministic train/test tasks for `seed` (the family's default when None); disjoint."""
        seed = self.default_split_seed if seed is None else seed
        rng = np.random.default_rng(seed)
        n_train = self.n_train if n_train is None else n_train
        n_test = self.n_test if n_test is None else n_test
        train = tuple(self.sample_train_task(rng) for _ in range(n_train))
        seen = set(train)
        test: list[TaskParams] = []
        while len(test) < n_test:
            task = self.sample_test_task(rng)
            if task not in seen:
                test.append(task)
                seen.add(task)
        return TaskSplit(family=self.name, seed=seed, train=train, test=tuple(test))

    def holdout_regions(self, task: TaskParams) -> dict[str, str]:
        """Which held-out regions `task` lies in: {param: "interpolation" | "extrapolation"}."""
        out = {}
        for p in self.params:
            value = getattr(task, p.name)
            if p._in_test_only(value):
                lo, hi = p.train
                out[p.name] = "interpolation" if lo <= value <= hi else "extrapolation"
        return out

    def describe(self) -> dict[str, Any]:
        """Everything `robot-meta tasks` shows about the family, JSON-ready."""
        model = self.build_model(self.default_task())
        split = self.split()
        return {
            "name": self.name,
            "env_id": self.env_id,
            "summary": self.summary,
            "sim_dt": self.sim_dt,
            "ctrl_dt": self.ctrl_dt,
            "episode_steps": self.episode_steps,
            "observation": self.obs_layout.to_dict(),
            "obs_dim": self.obs_layout.dim,
            "action": self.action_layout(model).to_dict(),
            "reward": self.reward_doc,
            "params": [
                {
                    "name": p.name,
                    "unit": p.unit,
                    "allowed": list(p.allowed),
                    "train": list(p.train),
                    "test_only": [list(i) for i in p.test_only],
                    "default": p.default,
                    "role": p.role,
                    "doc": p.doc,
                }
                for p in self.params
            ],
            "split": {"seed": split.seed, "n_train": len(split.train), "n_test": len(split.test)},
        }
