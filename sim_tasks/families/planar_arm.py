"""Planar arm with a payload in the gripper: reach a commanded goal in a vertical plane under gravity.

Torque-controlled, so an unknown payload changes how much torque holds the arm up: the case where
adaptation matters for manipulation.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from sim_tasks.families.readout import joint_indices, motor_layout_arrays
from sim_tasks.family import TaskFamily
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice
from sim_tasks.params import ParamSpec

_XML = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models", "planar_arm.xml")
JOINTS = ("shoulder", "elbow", "wrist")
RESET_POSE = np.array([0.5, -1.0, 0.5])  # rad
SHOULDER = np.array([0.0, 0.5])  # m, (x, z) of the shoulder axis
ACTION_COST = 0.01  # per |a|^2
VELOCITY_COST = 0.001  # per |qvel|^2, (rad/s)^-2: damps oscillation at the goal


class PlanarArmPayload(TaskFamily):
    name = "planar_arm"
    env_id = "sim_tasks/PlanarArmPayload-v0"
    summary = "3-link arm in a vertical plane: payload mass in the gripper, commanded goal position"
    sim_dt = 0.005  # s
    ctrl_dt = 0.02  # s (50 Hz)
    episode_steps = 150  # 3 s
    n_train = 60
    n_test = 20
    payload_parent = "gripper"
    adaptation_floor = 0.002  # m: the arm holds its goal to a few mm
    command_resample_s = 1.5  # s: one new goal in the middle of a 3 s training episode (a reach takes ~0.6 s)
    payload_mount = (0.1, 0.0, 0.0)  # m, at the gripper tip
    params = (
        ParamSpec(
            "payload_mass",
            "kg",
            allowed=(0.0, 3.0),
            train=(0.0, 1.5),
            test_only=((0.6, 0.8), (1.8, 2.5)),
            doc="mass held in the gripper; 1.8-2.5 kg is heavier than any training task",
        ),
        ParamSpec("payload_com_x", "m", allowed=(-0.05, 0.05), train=(-0.03, 0.03), doc="offset along the gripper"),
        ParamSpec(
            "goal_x",
            "m",
            allowed=(0.1, 0.6),
            train=(0.15, 0.55),
            test_only=((0.3, 0.35),),
            default=0.4,
            doc="goal x from the shoulder",
            role="command",
        ),
        ParamSpec(
            "goal_z", "m", allowed=(-0.4, 0.4), train=(-0.3, 0.3), default=0.1, doc="goal z from the shoulder", role="command"
        ),
        ParamSpec("motor_strength", "x", allowed=(0.5, 1.5), train=(0.9, 1.1), default=1.0, doc="motor torque multiplier"),
        ParamSpec("action_latency", "steps", allowed=(0, 3), train=(0, 1), doc="action delay in control steps", integer=True),
        ParamSpec("obs_noise", "x", allowed=(0.0, 3.0), train=(0.0, 1.0), doc="multiplier on nominal sensor noise"),
    )
    obs_layout = ObsLayout(
        (
            ObsSlice("joint_pos", 3, "rad", 0.01, "encoder"),
            ObsSlice("joint_vel", 3, "rad/s", 0.5, "encoder"),
            ObsSlice("ee_pos", 2, "m", 0.005, "kinematics"),  # (x, z) of the gripper tip from the shoulder
            ObsSlice("goal_x", 1, "m", 0.0, "command"),  # the commanded target position, from the shoulder
            ObsSlice("goal_z", 1, "m", 0.0, "command"),
        )
    )
    error_unit = "m"  # end-effector distance to the goal
    reward_doc = "-|ee_pos - goal| - 0.01*|a|^2 - 0.001*|qvel|^2; tracking error |ee_pos - goal| (m)"
    # On the robot, ee_pos is the "ee" site placed by forward kinematics of the chain export writes into the
    # manifest (deploy.kinematics), from the joint encoders: (x, z) minus the shoulder's.
    robot_signals = {
        "joint_pos": {"signal": "joint_pos"},
        "joint_vel": {"signal": "joint_vel"},
        "ee_pos": {"signal": "site_pos", "site": "ee", "index": [0, 2], "offset": [-SHOULDER[0], -SHOULDER[1]]},
    }
    # The pick-up: hold the point, the gripper takes 2.2 kg (heavier than training's 0-1.5), hold it 8 s.
    field_plan = {
        "commands": {"goal_x": 0.4, "goal_z": 0.1},
        "payloads_kg": [2.2],
        "settle_s": 2.0,
        "baseline_s": 4.0,
        "hold_s": 8.0,
        "smooth_s": 0.5,
    }
    robot_reward = {
        "kind": "position_tracking",
        "slice": "ee_pos",
        "target": ["goal_x", "goal_z"],
        "action_cost": ACTION_COST,
        "velocity_cost": VELOCITY_COST,
        "velocity_slice": "joint_vel",
    }

    def base_spec(self) -> mujoco.MjSpec:
        return mujoco.MjSpec.from_file(_XML)

    def action_layout(self, model: mujoco.MjModel) -> ActionLayout:
        names, lo, hi = motor_layout_arrays(model)
        return ActionLayout(names, "torque/gear (gear 30, 18, 6 N*m)", np.ones(3), np.zeros(3), lo, hi)

    def _indices(self, model):
        if not hasattr(self, "_idx"):
            qpos, qvel = joint_indices(model, JOINTS)
            self._idx = (qpos, qvel, model.site("ee").id)
        return self._idx

    def reset_state(self, model, data, task, rng):
        qpos_i, _, _ = self._indices(model)
        data.qpos[qpos_i] = RESET_POSE + rng.uniform(-0.1, 0.1, size=3)
        data.qvel[:] = 0.0

    def _ee(self, model, data) -> np.ndarray:
        _, _, ee = self._indices(model)
        return data.site_xpos[ee][[0, 2]] - SHOULDER

    def observe(self, model, data, task):
        qpos_i, qvel_i, _ = self._indices(model)
        return np.concatenate((data.qpos[qpos_i], data.qvel[qvel_i], self._ee(model, data)))

    def goal_error(self, model, data, goal: np.ndarray) -> float:
        """Distance from the gripper tip to `goal` ((x, z) from the shoulder), m."""
        return float(np.linalg.norm(self._ee(model, data) - goal))

    def effort_cost(self, model, data, action: np.ndarray) -> float:
        """Action and joint-velocity cost of one step, shared by the arm's rewards."""
        _, qvel_i, _ = self._indices(model)
        qvel = data.qvel[qvel_i]
        return ACTION_COST * float(action @ action) + VELOCITY_COST * float(qvel @ qvel)

    def reward(self, model, data, action, task, before):
        error = self.goal_error(model, data, np.array([task.goal_x, task.goal_z]))
        return -error - self.effort_cost(model, data, action), error
