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

import dataclasses

import numpy as np

from sim_tasks.families.planar_arm import PlanarArmPayload
from sim_tasks.layout import ObsLayout
from sim_tasks.params import ParamSpec

GOAL_X = 0.45  # m, the goal line's distance in front of the shoulder (the arm reaches 0.65 m)
GOAL_RADIUS = 0.1  # m, where the success signal starts
_ARM = {p.name: p for p in PlanarArmPayload.params}  # the arm's ranges, shared where this family keeps them


def sparse_reach_reward(distance: float) -> float:
    """1 - distance / GOAL_RADIUS inside the radius, 0 outside: a success signal that grows towards the goal."""
    return max(0.0, 1.0 - distance / GOAL_RADIUS)


class PlanarArmSparse(PlanarArmPayload):
    name = "planar_arm_sparse"
    env_id = "sim_tasks/PlanarArmSparse-v0"
    summary = "3-link arm: payload in the gripper, hidden goal height on a line, success-only reward"
    # The goal stays hidden (no command slices): finding it is what this literature benchmark tests.
    obs_layout = ObsLayout(tuple(s for s in PlanarArmPayload.obs_layout.slices if s.source != "command"))
    # A hidden goal has no robot-side reward (the robot cannot score a goal nobody gave it): a literature
    # benchmark, run in simulation; deploy refuses an adaptive policy of it naming the missing reward.
    robot_reward = None
    field_plan = None
    params = (
        dataclasses.replace(_ARM["payload_mass"], test_only=((1.8, 2.5),)),  # only the heavier-than-training region
        _ARM["payload_com_x"],
        ParamSpec(
            "goal_z",
            "m",
            allowed=(-0.4, 0.4),
            train=(-0.3, 0.3),
            test_only=((0.05, 0.15),),
            default=0.1,
            doc=f"goal height from the shoulder, on the line x = {GOAL_X} m",
        ),
        _ARM["motor_strength"],
        _ARM["action_latency"],
        _ARM["obs_noise"],
    )
    reward_doc = (
        f"max(0, 1 - |ee_pos - goal| / {GOAL_RADIUS}) - 0.01*|a|^2 - 0.001*|qvel|^2, goal = ({GOAL_X}, goal_z); "
        "tracking error |ee_pos - goal| (m)"
    )

    def reward(self, model, data, action, task, before):
        error = self.goal_error(model, data, np.array([GOAL_X, task.goal_z]))
        return sparse_reach_reward(error) - self.effort_cost(model, data, action), error
