"""Planar arm, sparse goal: find a hidden goal on a line from a success-only signal, then go straight to it.

The arm, payload and sensors of `planar_arm`; the goal lies on a vertical line in front of the shoulder at a
hidden height, and the reward is zero until the gripper tip is within `GOAL_RADIUS` of it (oyster's
sparse-point-robot signal, Rakelly et al. 2019: 1 - distance inside the radius, 0 outside). One episode's
start cannot tell where the goal is: the arm has to search, and only a policy that remembers where it found
the goal can reach it at once in the next episode of the same task. This is the family where in-context
adaptation across episodes (RL², Duan et al. 2016) has something to carry; on the dense families a task is
identified within the first second of every episode.
"""

from __future__ import annotations

import numpy as np

from sim_tasks.families.planar_arm import ACTION_COST, VELOCITY_COST, PlanarArmPayload
from sim_tasks.family import register_family
from sim_tasks.params import ParamSpec

GOAL_X = 0.45  # m, the goal line's distance in front of the shoulder (the arm reaches 0.65 m)
GOAL_RADIUS = 0.1  # m, where the success signal starts


def sparse_reach_reward(distance: float) -> float:
    """1 - distance / GOAL_RADIUS inside the radius, 0 outside: a success signal that grows towards the goal."""
    return max(0.0, 1.0 - distance / GOAL_RADIUS)


@register_family
class PlanarArmSparse(PlanarArmPayload):
    name = "planar_arm_sparse"
    env_id = "sim_tasks/PlanarArmSparse-v0"
    summary = "3-link arm: payload in the gripper, hidden goal height on a line, success-only reward"
    params = (
        ParamSpec(
            "payload_mass",
            "kg",
            allowed=(0.0, 3.0),
            train=(0.0, 1.5),
            test_only=((1.8, 2.5),),
            doc="mass held in the gripper; 1.8-2.5 kg is heavier than any training task",
        ),
        ParamSpec("payload_com_x", "m", allowed=(-0.05, 0.05), train=(-0.03, 0.03), doc="offset along the gripper"),
        ParamSpec(
            "goal_z",
            "m",
            allowed=(-0.4, 0.4),
            train=(-0.3, 0.3),
            test_only=((0.05, 0.15),),
            default=0.1,
            doc=f"goal height from the shoulder, on the line x = {GOAL_X} m",
        ),
        ParamSpec("motor_strength", "x", allowed=(0.5, 1.5), train=(0.9, 1.1), default=1.0, doc="motor torque multiplier"),
        ParamSpec("action_latency", "steps", allowed=(0, 3), train=(0, 1), doc="action delay in control steps"),
        ParamSpec("obs_noise", "x", allowed=(0.0, 3.0), train=(0.0, 1.0), doc="multiplier on nominal sensor noise"),
    )
    reward_doc = (
        f"max(0, 1 - |ee_pos - goal| / {GOAL_RADIUS}) - 0.01*|a|^2 - 0.001*|qvel|^2, goal = ({GOAL_X}, goal_z); "
        "tracking error |ee_pos - goal| (m)"
    )

    def reward(self, model, data, action, task, before):
        _, qvel_i, _ = self._indices(model)
        error = float(np.linalg.norm(self._ee(model, data) - np.array([GOAL_X, task.goal_z])))
        qvel = data.qvel[qvel_i]
        cost = ACTION_COST * float(action @ action) + VELOCITY_COST * float(qvel @ qvel)
        return sparse_reach_reward(error) - cost, error
