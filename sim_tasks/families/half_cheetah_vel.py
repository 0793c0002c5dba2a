"""half-cheetah-vel as in the PEARL paper's code: the literature benchmark for comparing with published numbers.

gymnasium's HalfCheetah-v5 model and observation (17: qpos without root x, and qvel), frame skip 5 at
0.01 s, 200-step episodes; the goal velocity v_goal ~ U(0, 3) is hidden from the policy and defines the
reward -|v - v_goal| - 0.05 |a|^2 with v the root's x displacement over the control step. Tasks: with the
default split seed, exactly oyster's: `RandomState(1337).uniform(0, 3, 130)`, the first 100 for training
and the last 30 for evaluation (`rlkit/envs/half_cheetah_vel.py`, `launch_experiment.py`). Unlike the other families, its observation holds the
root height and angle (the benchmark's convention, not a robot-side signal).
"""

from __future__ import annotations

import os

import gymnasium
import mujoco
import numpy as np

from sim_tasks.families.readout import action_cost, motor_layout_arrays
from sim_tasks.family import TaskFamily
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice
from sim_tasks.params import ParamSpec, TaskParams, TaskSplit

_XML = os.path.join(os.path.dirname(gymnasium.__file__), "envs", "mujoco", "assets", "half_cheetah.xml")
_RESET_NOISE = 0.1  # gymnasium HalfCheetah-v5 reset_noise_scale


class HalfCheetahVel(TaskFamily):
    name = "half_cheetah_vel"
    env_id = "sim_tasks/HalfCheetahVel-v0"
    summary = "PEARL's half-cheetah-vel: gymnasium HalfCheetah-v5, hidden target velocity U(0, 3)"
    sim_dt = 0.01  # s
    ctrl_dt = 0.05  # s (frame skip 5)
    episode_steps = 200
    n_train = 100
    n_test = 30
    default_split_seed = 1337  # oyster's fixed seed
    params = (ParamSpec("target_velocity", "m/s", allowed=(0.0, 3.0), train=(0.0, 3.0), default=1.5, doc="goal speed"),)
    obs_layout = ObsLayout(
        (
            ObsSlice("root_z", 1, "m", 0.0, "benchmark"),
            ObsSlice("root_angle", 1, "rad", 0.0, "benchmark"),
            ObsSlice("joint_pos", 6, "rad", 0.0, "encoder"),
            ObsSlice("root_vel", 3, "m/s, m/s, rad/s", 0.0, "benchmark"),
            ObsSlice("joint_vel", 6, "rad/s", 0.0, "encoder"),
        )
    )
    reward_doc = (
        "-|dx/dt - target_velocity| - 0.05*|a|^2 with dx the root displacement over the step; tracking error |dx/dt - v_goal|"
    )

    def base_spec(self) -> mujoco.MjSpec:
        return mujoco.MjSpec.from_file(_XML)

    def action_layout(self, model: mujoco.MjModel) -> ActionLayout:
        names, lo, hi = motor_layout_arrays(model)
        n = len(names)
        return ActionLayout(names, "torque/gear (gear 60-120 N*m)", np.ones(n), np.zeros(n), lo, hi)

    def split(self, seed: int | None = None, n_train: int | None = None, n_test: int | None = None) -> TaskSplit:
        seed = self.default_split_seed if seed is None else seed
        n_train = self.n_train if n_train is None else n_train
        n_test = self.n_test if n_test is None else n_test
        # A legacy RandomState on purpose: with seed 1337 it reproduces oyster's task list value for value.
        velocities = np.random.RandomState(seed).uniform(0.0, 3.0, size=n_train + n_test)
        tasks = [TaskParams(self.name, target_velocity=float(v)) for v in velocities]
        return TaskSplit(family=self.name, seed=seed, train=tuple(tasks[:n_train]), test=tuple(tasks[n_train:]))

    def reset_state(self, model, data, task, rng):
        data.qpos[:] = model.qpos0 + rng.uniform(-_RESET_NOISE, _RESET_NOISE, size=model.nq)
        data.qvel[:] = _RESET_NOISE * rng.standard_normal(model.nv)

    def before_step(self, data):
        return float(data.qpos[0])  # root x, m

    def observe(self, model, data, task):
        return np.concatenate((data.qpos[1:], data.qvel))

    def reward(self, model, data, action, task, before):
        velocity = (float(data.qpos[0]) - before) / self.ctrl_dt
        error = abs(velocity - task.target_velocity)
        return -error - action_cost(action), error
