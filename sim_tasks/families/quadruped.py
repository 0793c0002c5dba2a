"""Quadruped on rough terrain: a 12-joint robot with PD servos, payload on the torso, commanded velocity.

The robot the deploy and field-test path targets. Terrain is a heightfield built from the task's
`roughness` and `terrain_seed` when the model is compiled; slope tilts gravity along x. The policy commands
joint position targets around the standing pose; the operator commands the speed and direction of travel
in the body frame (observation slices, as legged_gym's velocity commands), and the robot computes the
reward from its velocity estimate. The dynamics (payload, terrain, friction, motors, latency) are hidden.
"""

from __future__ import annotations

import math
import os

import mujoco
import numpy as np

from sim_tasks import model_edit
from sim_tasks.families.readout import gravity_in_body, joint_indices
from sim_tasks.family import TaskFamily
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice
from sim_tasks.params import ParamSpec, TaskParams

_XML = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "quadruped12.xml")
LEGS = ("FR", "FL", "RR", "RL")
JOINTS = tuple(f"{leg}_{j}" for leg in LEGS for j in ("abduction", "hip", "knee"))
DEFAULT_POSE = np.tile([0.0, 0.8, -1.5], 4)  # rad, standing: torso ~0.31 m above the ground
ACTION_SCALE = 0.5  # rad of target per unit action, as MuJoCo Playground's Go1
STAND_HEIGHT = 0.33  # m, torso height at reset above the terrain's highest point
TERRAIN_HALF_SIZE = 10.0  # m, the heightfield spans [-10, 10]^2
TERRAIN_CELLS = 201  # per side: 10 cm cells
TERRAIN_FEATURE_CELLS = 4  # smoothing width: bumps ~40 cm across
FALL_TILT_COS = 0.5  # episode ends when the torso's up axis is > 60 deg from vertical
FALL_HEIGHT = 0.12  # m, or when the torso is this close to the ground below its start
TRACKING_SIGMA = 0.5  # m/s, width of the velocity-tracking kernel
YAW_RATE_COST = 0.05  # per (rad/s)^2
ACTION_COST = 0.005  # per |a|^2 (12 joints)


class QuadrupedTerrain(TaskFamily):
    name = "quadruped"
    env_id = "sim_tasks/QuadrupedTerrain-v0"
    summary = "12-joint quadruped: heightfield roughness, slope, friction, torso payload; commanded velocity and heading"
    sim_dt = 0.004  # s
    ctrl_dt = 0.02  # s (50 Hz), as legged_gym and Playground
    episode_steps = 500  # 10 s
    n_train = 60
    n_test = 20
    ground_geom = "ground"
    payload_parent = "torso"
    payload_mount = (0.0, 0.0, 0.07)  # m, on the torso's top plate
    seeds = ("terrain_seed",)  # the heightfield pattern: a task's terrain is rebuilt from its JSON
    params = (
        ParamSpec(
            "payload_mass",
            "kg",
            allowed=(0.0, 12.0),
            train=(0.0, 5.0),
            test_only=((2.0, 2.75), (6.0, 9.0)),
            doc="added mass on the torso (robot is 13 kg); 6-9 kg is heavier than any training task",
        ),
        ParamSpec("payload_com_x", "m", allowed=(-0.15, 0.15), train=(-0.1, 0.1), doc="payload offset forward"),
        ParamSpec("payload_com_y", "m", allowed=(-0.06, 0.06), train=(-0.04, 0.04), doc="payload offset left"),
        ParamSpec(
            "roughness",
            "m",
            allowed=(0.0, 0.12),
            train=(0.0, 0.05),
            test_only=((0.06, 0.08),),
            doc="heightfield amplitude (peak to peak)",
        ),
        ParamSpec("slope", "deg", allowed=(-12.0, 12.0), train=(-5.0, 5.0), doc="incline along x, uphill positive"),
        ParamSpec("friction", "1", allowed=(0.1, 2.0), train=(0.4, 1.0), default=0.8, doc="ground sliding friction"),
        ParamSpec(
            "target_velocity", "m/s", allowed=(0.0, 1.5), train=(0.2, 1.0), default=0.5, doc="speed to track", role="command"
        ),
        ParamSpec(
            "target_heading",
            "rad",
            allowed=(-math.pi, math.pi),
            train=(-0.5, 0.5),
            doc="direction of travel in the body frame (0 forward, +pi/2 left)",
            role="command",
        ),
        ParamSpec("motor_strength", "x", allowed=(0.5, 1.5), train=(0.9, 1.1), default=1.0, doc="servo force multiplier"),
        ParamSpec("action_latency", "steps", allowed=(0, 3), train=(0, 1), doc="action delay in control steps", integer=True),
        ParamSpec("obs_noise", "x", allowed=(0.0, 3.0), train=(0.0, 1.0), doc="multiplier on nominal sensor noise"),
    )
    obs_layout = ObsLayout(
        (
            ObsSlice("gravity", 3, "1", 0.05, "imu"),  # unit gravity direction in the torso frame
            ObsSlice("gyro", 3, "rad/s", 0.2, "imu"),  # torso angular velocity, torso frame
            ObsSlice("base_velocity", 3, "m/s", 0.1, "state_estimator"),  # torso linear velocity, torso frame
            ObsSlice("joint_pos", 12, "rad", 0.01, "encoder"),  # relative to DEFAULT_POSE
            ObsSlice("joint_vel", 12, "rad/s", 1.5, "encoder"),
            ObsSlice("target_velocity", 1, "m/s", 0.0, "command"),  # the operator's commands
            ObsSlice("target_heading", 1, "rad", 0.0, "command"),
        )
    )
    robot_signals = {
        "gravity": {"signal": "gravity_body"},
        "gyro": {"signal": "gyro"},
        "base_velocity": {"signal": "velocity_body"},
        "joint_pos": {"signal": "joint_pos", "offset": (-DEFAULT_POSE).tolist()},
        "joint_vel": {"signal": "joint_vel"},
    }
    max_tilt_deg = 45.0  # deg
    reward_doc = (
        "exp(-|v_xy - v_goal*(cos h, sin h)|^2 / 0.5^2) - 0.05*yaw_rate^2 - 0.005*|a|^2 with v_xy the body-frame "
        "velocity estimate; tracking error |v_xy - v_goal*(cos h, sin h)| (m/s); ends on a fall"
    )

    def base_spec(self) -> mujoco.MjSpec:
        return mujoco.MjSpec.from_file(_XML)

    def edit_spec(self, spec: mujoco.MjSpec, task: TaskParams) -> None:
        """Replace the ground plane by a heightfield of the task's roughness (flat when it is 0)."""
        heights = model_edit.heightfield(
            np.random.default_rng(task.terrain_seed), TERRAIN_CELLS, TERRAIN_CELLS, smooth=TERRAIN_FEATURE_CELLS
        )
        if task.roughness <= 0:
            heights = np.zeros_like(heights)
        spec.add_hfield(
            name="terrain",
            size=[TERRAIN_HALF_SIZE, TERRAIN_HALF_SIZE, max(task.roughness, 1e-3), 0.1],
            nrow=TERRAIN_CELLS,
            ncol=TERRAIN_CELLS,
            userdata=heights.ravel().tolist(),
        )
        ground = spec.geom("ground")
        ground.type = mujoco.mjtGeom.mjGEOM_HFIELD
        ground.hfieldname = "terrain"

    def action_layout(self, model: mujoco.MjModel) -> ActionLayout:
        lo, hi = model.actuator_ctrlrange[:, 0].copy(), model.actuator_ctrlrange[:, 1].copy()
        names = tuple(model.actuator(i).name for i in range(model.nu))
        return ActionLayout(names, "rad (joint position target)", np.full(12, ACTION_SCALE), DEFAULT_POSE.copy(), lo, hi)

    def _indices(self, model: mujoco.MjModel) -> tuple[np.ndarray, np.ndarray, int]:
        if not hasattr(self, "_idx"):
            qpos, qvel = joint_indices(model, JOINTS)
            self._idx = (qpos, qvel, model.body("torso").id)
        return self._idx

    def reset_state(self, model, data, task, rng):
        qpos_i, _, _ = self._indices(model)
        data.qpos[0:3] = [0.0, 0.0, STAND_HEIGHT + task.roughness]
        data.qpos[3:7] = [1.0, 0.0, 0.0, 0.0]
        data.qpos[qpos_i] = DEFAULT_POSE + rng.uniform(-0.05, 0.05, size=12)
        data.qvel[:] = 0.0

    def observe(self, model, data, task):
        qpos_i, qvel_i, torso = self._indices(model)
        rot = data.xmat[torso].reshape(3, 3)
        return np.concatenate(
            (
                gravity_in_body(data, torso),
                data.qvel[3:6],  # a free joint's angular velocity is already in the body frame
                rot.T @ data.qvel[0:3],
                data.qpos[qpos_i] - DEFAULT_POSE,
                data.qvel[qvel_i],
            )
        )

    def reward(self, model, data, action, task, before):
        _, _, torso = self._indices(model)
        v_body = data.xmat[torso].reshape(3, 3).T @ data.qvel[0:3]
        goal = task.target_velocity * np.array([math.cos(task.target_heading), math.sin(task.target_heading)])
        error = float(np.linalg.norm(v_body[:2] - goal))
        yaw_rate = float(data.qvel[5])
        reward = (
            math.exp(-((error / TRACKING_SIGMA) ** 2)) - YAW_RATE_COST * yaw_rate**2 - ACTION_COST * float(action @ action)
        )
        return reward, error

    def terminated(self, model, data):
        _, _, torso = self._indices(model)
        up_z = data.xmat[torso][8]  # z component of the torso's up axis in the world frame
        return bool(up_z < FALL_TILT_COS or data.qpos[2] < FALL_HEIGHT)
