"""From the robot's STATE message to the policy's observation and reward, and from its action to a COMMAND.

Numpy only, like the runtime: this runs on the robot computer. Everything it does is read from the policy
dir's manifest (`PolicyManifest.robot`, written by export from the task family), so that one observation layout
is written once, in sim_tasks, and a policy never meets an observation assembled by hand:

- `ObservationBuilder`: each observation slice names a robot signal (`SIGNALS`, or `site_pos`: a site placed by
  forward kinematics of the manifest's chain, `deploy.kinematics`), optionally a subset of its components
  (`index`) and an additive `offset`;
- `Commands`: what the operator or a planner sets at run time (a target velocity, a goal position), checked
  by name and range against the manifest before anything is armed; command slices of the observation and
  the reward read them;
- `RewardEstimator`: the reward the adapter needs, from the observation and the commands;
- `CommandMapper`: normalized action -> physical command (torque N m, or position rad with gains);
- `tilt_deg`: the body's angle from upright, for the attitude e-stop.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from deploy.kinematics import ForwardKinematics, quat_to_mat
from deploy.manifest import PolicyDirError, PolicyManifest


class Commands:
    """The commands of one deployment: every one the policy observes or its reward tracks, set and in range.

    A policy dir names its commands as task parameters with role "command" (and, in manifests written before
    roles existed, the parameter its robot-side reward tracks). `set` refuses a name the policy lacks or a
    value outside the parameter's allowed range, naming both; construction also refuses a missing command
    with an example value, so a deployment cannot arm without its commands.
    """

    def __init__(self, manifest: PolicyManifest, values: dict[str, float]) -> None:
        self.ranges = {p.name: p for p in manifest.commands}
        reward = manifest.robot.reward if manifest.robot is not None else None
        for target in reward.targets if reward is not None else ():
            if target in self.ranges:
                continue
            param = manifest.param(target)
            if param is None:
                raise PolicyDirError(f"the manifest's reward tracks {target!r}, which is not a task parameter")
            self.ranges[target] = param
        self.reach = Reach.of(manifest)
        self.values: dict[str, float] = {}
        for name, value in values.items():
            self.values[name] = self.check(name, value)
        self._check_reach(self.values)
        missing = [n for n in self.ranges if n not in self.values]
        if missing:
            examples = " ".join(f"--command {n}={(self.ranges[n].train[0] + self.ranges[n].train[1]) / 2:g}" for n in missing)
            trained = ", ".join(f"{n} trained on {self.ranges[n].train[0]:g}..{self.ranges[n].train[1]:g}" for n in missing)
            raise PolicyDirError(f"this policy needs the command(s) {missing} ({trained}); give them, e.g. {examples}")

    def set(self, name: str, value: float) -> None:
        """Change one command (a planner's next point), refused by name if out of range or out of reach."""
        value = self.check(name, value)
        self._check_reach({**self.values, name: value})
        self.values[name] = value

    def _check_reach(self, values: dict[str, float]) -> None:
        if self.reach is not None and all(n in values for n in self.reach.targets):
            self.reach.check([values[n] for n in self.reach.targets])

    def check(self, name: str, value: float) -> float:
        """`value` as a float if `name` is a command of this policy and the value is in its allowed range."""
        if name not in self.ranges:
            raise PolicyDirError(
                f"command {name!r}: this policy takes no such command; its commands are {sorted(self.ranges)}"
            )
        value = float(value)
        lo, hi = self.ranges[name].allowed
        if not (np.isfinite(value) and lo <= value <= hi):
            raise PolicyDirError(f"command {name}={value:g} is outside its allowed range [{lo:g}, {hi:g}]")
        return value

    def __getitem__(self, name: str) -> float:
        return self.values[name]


@dataclass(frozen=True)
class Reach:
    """Where an arm can put the site its reward tracks: within `radius` (m) of its first joint's anchor, both in
    the tracked slice's coordinates. The radius sums the distances between successive joint anchors and the
    site (fixed for hinges; a slide adds its longest travel): an upper bound, so a refused point is surely out
    of reach, and an accepted one may still be (the joint limits are not taken into account)."""

    targets: tuple[str, ...]  # the commands of the point's coordinates, in slice order
    center: np.ndarray
    radius: float

    @classmethod
    def of(cls, manifest: PolicyManifest) -> Reach | None:
        """The reach of a policy whose reward tracks a point placed by forward kinematics, else None."""
        robot = manifest.robot
        spec = robot.reward if robot is not None else None
        if spec is None or spec.kind != "position_tracking":
            return None
        sig = robot.observation.get(spec.slice)
        if sig is None or sig.signal != "site_pos" or manifest.kinematics is None:
            return None
        joints = [j.joint for j in manifest.joints]
        fk = ForwardKinematics(manifest.kinematics[sig.site], joints)
        points = fk.anchors(np.zeros(len(joints)))
        radius = sum(float(np.linalg.norm(b - a)) for a, b in itertools.pairwise(points))
        limits = {j.joint: j.position_limits for j in manifest.joints}
        for link in fk.chain.links:
            for j in link.joints:
                if j.type == "slide":
                    lo, hi = limits.get(j.name) or (0.0, 0.0)
                    radius += max(abs(lo - j.qpos0), abs(hi - j.qpos0))
        center = points[0]
        if sig.index is not None:
            center = center[list(sig.index)]
        if sig.offset is not None:
            center = center + np.asarray(sig.offset)
        return cls(spec.targets, center, radius)

    def check(self, point: list[float]) -> None:
        distance = float(np.linalg.norm(np.asarray(point) - self.center))
        if distance > self.radius:
            shown = ", ".join(f"{n}={v:g}" for n, v in zip(self.targets, point, strict=True))
            raise PolicyDirError(
                f"command ({shown}) is {distance:.3f} m from the arm's first joint, beyond its reach {self.radius:.3f} m"
            )


def tilt_deg(quat: np.ndarray) -> float:
    """Angle between the body's z axis and world up, degrees (0 = upright, 180 = upside down)."""
    return float(np.degrees(np.arccos(np.clip(quat_to_mat(quat)[2, 2], -1.0, 1.0))))


# Robot signals an observation slice can name. All are computed from one STATE (docs/protocol.md fields).
SIGNALS: dict[str, Any] = {
    "joint_pos": lambda s: s.q,  # rad, in command order
    "joint_vel": lambda s: s.dq,  # rad/s
    "joint_torque": lambda s: s.tau,  # N m
    "gyro": lambda s: s.gyro,  # rad/s, body frame
    "gravity_body": lambda s: quat_to_mat(s.quat).T @ np.array([0.0, 0.0, -1.0]),  # unit gravity, body frame
    "velocity_body": lambda s: s.base_vel,  # m/s, body frame (the robot's estimate)
    "velocity_world": lambda s: quat_to_mat(s.quat) @ s.base_vel,  # m/s, world frame
}


class ObservationBuilder:
    """`build(state) -> obs` (float32, shape (obs_dim,)) exactly as the manifest's layout orders it."""

    def __init__(self, manifest: PolicyManifest, commands: Commands | None = None) -> None:
        sources = manifest.robot.observation if manifest.robot is not None else {}
        self.parts: list[tuple[str, Any, np.ndarray | None, np.ndarray | None, int, int]] = []
        for sl in manifest.observation:
            if sl.source == "command":  # what the operator set, not a sensor
                if commands is None or sl.name not in commands.ranges:
                    raise PolicyDirError(f"observation slice {sl.name!r} is a command: give it (--command {sl.name}=VALUE)")
                self.parts.append((sl.name, lambda s, name=sl.name: commands[name], None, None, sl.start, sl.size))
                continue
            spec = sources.get(sl.name)
            if spec is None:
                raise PolicyDirError(
                    f"observation slice {sl.name!r} has no robot signal in the manifest (robot.observation): "
                    f"family {manifest.family!r} runs in simulation only, or the policy dir was exported "
                    "by an older version (re-export it with robot-meta export)"
                )
            if spec.signal == "site_pos":  # forward kinematics of the manifest's chain, from the encoders
                fk = ForwardKinematics(manifest.kinematics[spec.site], [j.joint for j in manifest.joints])
                fn = lambda s, fk=fk: fk(s.q)  # noqa: E731
            elif spec.signal in SIGNALS:
                fn = SIGNALS[spec.signal]
            else:
                raise PolicyDirError(f"observation slice {sl.name!r} names unknown robot signal {spec.signal!r}")
            index = np.asarray(spec.index, dtype=int) if spec.index is not None else None
            offset = np.asarray(spec.offset, dtype=np.float64) if spec.offset is not None else None
            self.parts.append((sl.name, fn, index, offset, sl.start, sl.size))
        self.dim = manifest.obs_dim
        self.slices = {name: (start, size) for name, _, _, _, start, size in self.parts}

    def __call__(self, state: Any) -> np.ndarray:
        obs = np.empty(self.dim, np.float64)
        for name, fn, index, offset, start, size in self.parts:
            v = np.asarray(fn(state), dtype=np.float64).reshape(-1)
            if index is not None:
                v = v[index]
            if offset is not None:
                v = v + offset
            if v.size != size:
                raise PolicyDirError(
                    f"observation slice {name!r} has {size} entries in the manifest but the robot gives {v.size}"
                )
            obs[start : start + size] = v
        return obs.astype(np.float32)


class RewardEstimator:
    """The per-step reward of the previous action, from robot-side signals (`PolicyManifest.robot.reward`), as
    the family's simulated reward computes it (the manifest's `reward.definition` says it in words):

    - `velocity_tracking`: r = -|obs[slice] - target| - action_cost |a|^2; tracking error |obs[slice] - target|;
    - `position_tracking`: r = -||obs[slice] - targets|| - action_cost |a|^2 - velocity_cost |obs[velocity_slice]|^2;
      tracking error ||obs[slice] - targets|| (an arm's gripper tip to its commanded point, m);
    - either, minus weight * sum(signal[index]^2) for each `signal_cost` term, from STATE (the runner's gait
      penalties on its vertical speed and pitch rate).
    """

    def __init__(self, manifest: PolicyManifest, commands: Commands) -> None:
        spec = manifest.robot.reward if manifest.robot is not None else None
        if spec is None:
            raise PolicyDirError(
                f"the manifest defines no robot-side reward (robot.reward) for family {manifest.family!r}: "
                "the adapter cannot be given one on a robot"
            )
        sl = manifest.slice(spec.slice)
        if sl is None:
            raise PolicyDirError(f"robot.reward.slice {spec.slice!r} is not an observation slice")
        self.kind = spec.kind
        self.target_names = spec.targets
        if len(self.target_names) != (1 if spec.kind == "velocity_tracking" else sl.size):
            raise PolicyDirError(
                f"robot.reward: {spec.kind} of slice {spec.slice!r} ({sl.size} entries) cannot track {list(self.target_names)}"
            )
        self.index = np.arange(sl.start, sl.start + (1 if spec.kind == "velocity_tracking" else sl.size))
        self.commands = commands
        for name in self.target_names:
            if name not in commands.ranges:
                raise PolicyDirError(f"the reward tracks {name!r}: give it as a command (--command {name}=VALUE)")
        self.action_cost = spec.action_cost
        self.velocity_cost = spec.velocity_cost or 0.0
        self.velocity_index = None
        if self.velocity_cost:
            vs = manifest.slice(spec.velocity_slice or "")
            if vs is None:
                raise PolicyDirError(f"robot.reward.velocity_slice {spec.velocity_slice!r} is not an observation slice")
            self.velocity_index = np.arange(vs.start, vs.start + vs.size)
        self.signal_costs = []
        for term in spec.signal_cost or ():
            if term.signal not in SIGNALS:
                raise PolicyDirError(
                    f"robot.reward.signal_cost names unknown robot signal {term.signal!r} (known: {', '.join(SIGNALS)})"
                )
            size = len(manifest.joints) if term.signal.startswith("joint_") else 3  # per joint, or a 3-vector
            if any(i >= size for i in term.index):
                raise PolicyDirError(
                    f"robot.reward.signal_cost {term.signal!r} index {list(term.index)} is past its {size} entries"
                )
            self.signal_costs.append((SIGNALS[term.signal], np.asarray(term.index, dtype=int), term.weight))

    @property
    def target(self) -> np.ndarray:
        """The commanded value(s) the reward tracks, now."""
        return np.array([self.commands[n] for n in self.target_names])

    def __call__(self, obs: np.ndarray, prev_action: np.ndarray | None, state: Any = None) -> tuple[float, float]:
        """(reward, tracking error) for the action that led to `obs`, built from `state` (a STATE; needed when
        the reward has signal costs)."""
        diff = np.asarray(obs, dtype=np.float64)[self.index] - self.target
        error = float(np.sqrt(diff @ diff))
        cost = 0.0 if prev_action is None else self.action_cost * float(np.dot(prev_action, prev_action))
        if self.velocity_index is not None:
            v = np.asarray(obs, dtype=np.float64)[self.velocity_index]
            cost += self.velocity_cost * float(v @ v)
        if self.signal_costs:
            if state is None:
                raise ValueError("this reward charges robot signals (robot.reward.signal_cost): pass the STATE")
            for fn, index, weight in self.signal_costs:
                v = np.asarray(fn(state), dtype=np.float64).reshape(-1)[index]
                cost += weight * float(v @ v)
        return -error - cost, error


@dataclass(frozen=True)
class CommandMapper:
    """Normalized action -> COMMAND fields. Torque: target = ctrl * target_per_ctrl (N m, the actuator gear);
    position: target = ctrl (rad) with the manifest's gains."""

    mode: str
    target_per_ctrl: np.ndarray
    kp: np.ndarray
    kd: np.ndarray
    hold_target: np.ndarray  # what the soft start and the e-stop hold: zero torque, or the default pose

    @classmethod
    def from_manifest(cls, manifest: PolicyManifest) -> CommandMapper:
        if manifest.robot is None:
            raise PolicyDirError("the manifest has no robot.command (re-export the policy dir with this version)")
        cmd = manifest.robot.command
        n = manifest.action.dim
        arr = {k: np.asarray(getattr(cmd, k), np.float32) for k in ("target_per_ctrl", "kp", "kd", "hold_target")}
        for k, v in arr.items():
            if v.shape != (n,):
                raise PolicyDirError(f"robot.command.{k} has {v.size} entries, the action has {n}")
        return cls(cmd.mode, **arr)

    def targets(self, ctrl: np.ndarray) -> np.ndarray:
        return (np.asarray(ctrl, np.float32) * self.target_per_ctrl).astype(np.float32)
