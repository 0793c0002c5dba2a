"""A user's own robot as a task family, defined outside the package: a torque pendulum holding a commanded angle.

The worked example of docs/architecture.md ("adding a robot"). Everything about this robot is in this one
module: its MJCF, its parameters (one of them, `joint_damping`, is a knob no built-in family has), its
observation and reward, and the one line that registers it. Use it with any command:

    PYTHONPATH=docs/examples robot-meta --family-module my_pendulum tasks my_pendulum
    PYTHONPATH=docs/examples robot-meta --family-module my_pendulum train --algo rl2 --task my_pendulum --out runs/p

The run dir records the module (config.json `family_module`), so `eval` and `export` of that run find the
family again without the flag, as long as the module is importable.
"""

from __future__ import annotations

import mujoco
import numpy as np

from sim_tasks import ParamSpec, TaskFamily, register_family
from sim_tasks.families.readout import action_cost, joint_indices, motor_layout_arrays
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice

MJCF = """
<mujoco model="pendulum">
  <option gravity="0 0 -9.81"/>
  <worldbody>
    <light pos="0 0 3"/>
    <body name="link" pos="0 0 1">
      <joint name="hinge" type="hinge" axis="0 1 0" damping="0.05"/>
      <geom name="rod" type="capsule" fromto="0 0 0 0.4 0 0" size="0.03" mass="1"/>
      <body name="tip" pos="0.4 0 0"/>
    </body>
  </worldbody>
  <actuator>
    <motor name="hinge" joint="hinge" gear="10" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


@register_family
class MyPendulum(TaskFamily):
    name = "my_pendulum"
    env_id = "my_robots/Pendulum-v0"
    summary = "a torque pendulum holding a commanded angle, with a payload at its tip and a joint damping of its own"
    sim_dt = 0.005  # s
    ctrl_dt = 0.02  # s (50 Hz)
    episode_steps = 100  # 2 s
    n_train = 20
    n_test = 6
    payload_parent = "tip"  # the shared payload knob: a body welded at the tip
    params = (
        ParamSpec("payload_mass", "kg", allowed=(0.0, 2.0), train=(0.0, 1.0), test_only=((1.2, 1.6),), doc="mass at the tip"),
        ParamSpec("joint_damping", "N m s/rad", allowed=(0.0, 1.0), train=(0.0, 0.5), default=0.05, doc="hinge damping"),
        ParamSpec(
            "target_angle", "rad", allowed=(-1.5, 1.5), train=(-1.0, 1.0), doc="angle to hold (0: horizontal)", role="command"
        ),
        ParamSpec("obs_noise", "x", allowed=(0.0, 2.0), train=(0.0, 1.0), doc="multiplier on nominal sensor noise"),
    )
    obs_layout = ObsLayout(
        (
            ObsSlice("joint_pos", 1, "rad", 0.01, "encoder"),
            ObsSlice("joint_vel", 1, "rad/s", 0.1, "encoder"),
            ObsSlice("target_angle", 1, "rad", 0.0, "command"),  # the command: the operator sets it
        )
    )
    command_resample_s = 1.0  # s: two angles in a 2 s training episode
    reward_doc = "-|angle - target_angle| - 0.05*|a|^2; tracking error |angle - target_angle| (rad)"

    def base_spec(self) -> mujoco.MjSpec:
        return mujoco.MjSpec.from_string(MJCF)

    def edit_spec(self, spec: mujoco.MjSpec, task) -> None:
        """This family's own model-stage knob; the shared ones (payload here) are applied by `build_model`."""
        joint = spec.joint("hinge")
        damping = joint.damping  # MuJoCo 3.17: (linear, and two higher-order coefficients)
        damping[0] = task.joint_damping
        joint.damping = damping

    def action_layout(self, model: mujoco.MjModel) -> ActionLayout:
        names, lo, hi = motor_layout_arrays(model)
        return ActionLayout(names, "torque/gear (gear 10 N*m)", np.ones(1), np.zeros(1), lo, hi)

    def reset_state(self, model, data, task, rng):
        qpos, _ = joint_indices(model, ("hinge",))
        data.qpos[qpos] = rng.uniform(-0.2, 0.2)

    def observe(self, model, data, task):
        qpos, qvel = joint_indices(model, ("hinge",))
        return np.concatenate((data.qpos[qpos], data.qvel[qvel]))

    def reward(self, model, data, action, task, before):
        qpos, _ = joint_indices(model, ("hinge",))
        error = abs(float(data.qpos[qpos][0]) - task.target_angle)
        return -error - action_cost(action), error
