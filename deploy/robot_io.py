"""From the robot's STATE message to the policy's observation and reward, and from its action to a COMMAND.

Numpy only, like the runtime: this runs on the robot computer. Everything it does is read from the policy
dir's manifest (`PolicyManifest.robot`, written by export from the task family), so that one observation layout
is written once, in sim_tasks, and a policy never meets an observation assembled by hand:

- `ObservationBuilder`: each observation slice names a robot signal (`SIGNALS`), optionally a subset of its
  components (`index`) and an additive `offset`;
- `Commands`: what the operator or a planner sets at run time (a target velocity, a goal position), checked
  by name and range against the manifest before anything is armed; command slices of the observation and
  the reward read them;
- `RewardEstimator`: the reward the adapter needs, from the observation and the commands;
- `CommandMapper`: normalized action -> physical command (torque N m, or position rad with gains);
- `tilt_deg`: the body's angle from upright, for the attitude e-stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

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
        if reward is not None and reward.target not in self.ranges:
            param = manifest.param(reward.target)
            if param is None:
                raise PolicyDirError(f"the manifest's reward tracks {reward.target!r}, which is not a task parameter")
            self.ranges[reward.target] = param
        self.values: dict[str, float] = {}
        for name, value in values.items():
            self.set(name, value)
        missing = [n for n in self.ranges if n not in self.values]
        if missing:
            examples = " ".join(f"--command {n}={(self.ranges[n].train[0] + self.ranges[n].train[1]) / 2:g}" for n in missing)
            trained = ", ".join(f"{n} trained on {self.ranges[n].train[0]:g}..{self.ranges[n].train[1]:g}" for n in missing)
            raise PolicyDirError(f"this policy needs the command(s) {missing} ({trained}); give them, e.g. {examples}")

    def set(self, name: str, value: float) -> None:
        self.values[name] = self.check(name, value)

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


def _rotation(quat: np.ndarray) -> np.ndarray:
    """Body-to-world rotation matrix of a unit quaternion (w, x, y, z), shape (3, 3)."""
    w, x, y, z = np.asarray(quat, dtype=np.float64) / max(float(np.linalg.norm(quat)), 1e-12)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def tilt_deg(quat: np.ndarray) -> float:
    """Angle between the body's z axis and world up, degrees (0 = upright, 180 = upside down)."""
    return float(np.degrees(np.arccos(np.clip(_rotation(quat)[2, 2], -1.0, 1.0))))


# Robot signals an observation slice can name. All are computed from one STATE (docs/protocol.md fields).
SIGNALS: dict[str, Any] = {
    "joint_pos": lambda s: s.q,  # rad, in command order
    "joint_vel": lambda s: s.dq,  # rad/s
    "joint_torque": lambda s: s.tau,  # N m
    "gyro": lambda s: s.gyro,  # rad/s, body frame
    "gravity_body": lambda s: _rotation(s.quat).T @ np.array([0.0, 0.0, -1.0]),  # unit gravity, body frame
    "velocity_body": lambda s: s.base_vel,  # m/s, body frame (the robot's estimate)
    "velocity_world": lambda s: _rotation(s.quat) @ s.base_vel,  # m/s, world frame
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
            if spec.signal not in SIGNALS:
                raise PolicyDirError(f"observation slice {sl.name!r} names unknown robot signal {spec.signal!r}")
            index = np.asarray(spec.index, dtype=int) if spec.index is not None else None
            offset = np.asarray(spec.offset, dtype=np.float64) if spec.offset is not None else None
            self.parts.append((sl.name, SIGNALS[spec.signal], index, offset, sl.start, sl.size))
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
    """The per-step reward of the previous action, from robot-side signals (`PolicyManifest.robot.reward`).

    `velocity_tracking`: r = -|obs[slice] - target| - action_cost * |a|^2, and the tracking error
    |obs[slice] - target|, as the family's simulated reward (the manifest's `reward.definition` says it in words).
    """

    def __init__(self, manifest: PolicyManifest, commands: Commands) -> None:
        spec = manifest.robot.reward if manifest.robot is not None else None
        if spec is None:
            raise PolicyDirError(
                f"the manifest defines no robot-side reward (robot.reward) for family {manifest.family!r}: "
                "the adapter cannot be given one on a robot"
            )
        if spec.kind != "velocity_tracking":
            raise PolicyDirError(f"robot.reward.kind {spec.kind!r} is not one this runtime computes (velocity_tracking)")
        sl = manifest.slice(spec.slice)
        if sl is None:
            raise PolicyDirError(f"robot.reward.slice {spec.slice!r} is not an observation slice")
        self.index = sl.start
        self.target_name = spec.target
        self.commands = commands
        if self.target_name not in commands.ranges:
            raise PolicyDirError(
                f"the reward tracks {self.target_name!r}: give it as a command (--command {self.target_name}=VALUE)"
            )
        self.action_cost = spec.action_cost

    @property
    def target(self) -> float:
        return self.commands[self.target_name]

    def __call__(self, obs: np.ndarray, prev_action: np.ndarray | None) -> tuple[float, float]:
        """(reward, tracking error) for the action that led to `obs`."""
        error = abs(float(obs[self.index]) - self.target)
        cost = 0.0 if prev_action is None else self.action_cost * float(np.dot(prev_action, prev_action))
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
