"""Experiments (issue 15): the planar runner with its motors scaled or its payload moved, as a family module.

Each candidate change of `planar_runner` is measured with `robot-meta sensitivity` on a family module like this
one before the family itself changes (docs/commands.md has the numbers). The ninth session's numbers are of
variants of the flat-nominal family (slopes -6 to 6 deg in training); since the tenth session `planar_runner`
climbs (nominal 8 deg, 2 to 12 in training) and every variant here inherits its hill:

- RUNNER_GEAR_SCALE (x dm_control's gears 120, 90, 60, 90, 60, 30 N*m at full command, default 1): the
  cheetah's gears are several times what the motors of a 14 kg legged robot give. 0.5 was not enough (1.36x).
- RUNNER_MOUNT_X (m ahead of the torso's centre, default 0): a payload carried at the front, as a sensor head
  or a manipulator is, loads the front leg and the pitch balance of every stride; its offset payload_com_x then
  ranges over +-0.15 m (training +-0.1 m). 0.4 m made both baselines fall at the 2.4 m/s command.

- RUNNER_STIFFNESS (x the cheetah's passive joint springs, 240/180/120/180/120/60 N*m/rad, default 1): the
  springs carry much of its weight; a real robot's joints have none, so its motors carry the load, and what they
  must give depends on the payload, as on the arm.

- RUNNER_SLOPES ("LO,HI" deg, default the family's 2-12): the training slopes, held out HI+1 to HI+2, nominal
  still 8. Across 2-12 deg DR has met every drag (robot + payload) * g * sin(slope) that a 10 kg payload makes
  at 8 deg (6 kg at 10.5 deg makes the same), and its speed feedback answers a drag whatever its cause; over a
  narrower range the heavy payload's drag is one DR never met.

- RUNNER_PD (x each motor's peak torque per rad, default off): joint position servos in place of torque motors,
  as legged_gym and the quadruped here run a legged robot. The policy sets joint targets (around the standing
  pose, +-0.8 rad); each servo's stiffness is RUNNER_PD times its motor's peak torque per rad (1: 120 N*m/rad at
  the back thigh), damping a twentieth of that, torque clipped at the motor's peak. A load sags the legs by its
  torque over the stiffness, as gravity sags the arm, and the targets that hold a stride depend on the mass.

- RUNNER_SPEEDS ("LO,HI" m/s, default the family's, 1.5-3 since the seventeenth session): the commanded speeds in
  training. With commands 0.5-3 (the family until then), at 1.125 m/s DR's error did not grow with a 10 kg load
  while at 2.375 m/s it lost 0.3-0.7 m/s of its speed (the speed traces in docs/commands.md): a heavy runner's
  cost shows at a runner's speeds, and `sensitivity` measures the commands a quarter in from each end of this
  range. The sixteenth session's planar_runner_v15to30 is the family as it is now.

- RUNNER_SMOOTH (x legged_gym's gait penalties, default the family's: 0 until the seventeenth session, 0.2 since):
  the reward charges the torso's vertical speed squared (2.0 per (m/s)^2) and its pitch rate squared (0.05 per
  (rad/s)^2), legged_gym's lin_vel_z and ang_vel_xy terms at their default scales relative to its tracking term,
  times this. The cheetah's speed swings within each stride by 0.4-1.0 m/s (std), more than a 10 kg payload
  moves its mean; a gait that bounces less leaves the payload's effect a larger share of the error. The tracking
  error (what `sensitivity` measures) is unchanged. RUNNER_SMOOTH=0 is the family without them.

The family's name says what changed: planar_runner_g50 (gears x0.5), planar_runner_front40 (mount at 0.4 m),
planar_runner_k25 (springs x0.25), planar_runner_pd100 (servos, 1 x the peak torque per rad),
planar_runner_s6to10 (training slopes 6-10 deg), planar_runner_v15to30 (commands 1.5-3 m/s).

    RUNNER_GEAR_SCALE=0.5 PYTHONPATH=docs/scripts robot-meta --family-module runner_variant_family \\
        train --algo rl2 --task planar_runner_g50 --out runs/g50 --steps 1
    RUNNER_GEAR_SCALE=0.5 PYTHONPATH=docs/scripts robot-meta --family-module runner_variant_family \\
        sensitivity runs/g50 --baseline-algo ppo --baseline-steps 2500000 --baseline-dir runs/g50/baselines_lin
"""

import os
from dataclasses import replace

import mujoco
import numpy as np

from sim_tasks import model_edit, register_family
from sim_tasks.families.planar_runner import PlanarRunnerPayload, runner_robot_reward
from sim_tasks.families.readout import motor_layout_arrays
from sim_tasks.layout import ActionLayout

SCALE = float(os.environ.get("RUNNER_GEAR_SCALE", "1"))  # x dm_control's gears
MOUNT_X = float(os.environ.get("RUNNER_MOUNT_X", "0"))  # m ahead of the torso's centre
STIFFNESS = float(os.environ.get("RUNNER_STIFFNESS", "1"))  # x the joints' passive stiffness
SLOPES = os.environ.get("RUNNER_SLOPES", "")  # "LO,HI" deg: training slopes (held out: HI+1 to HI+2); "" the family's
PD = float(os.environ.get("RUNNER_PD", "0"))  # servo stiffness, x each motor's peak torque per rad; 0: torque
PD_RANGE = 0.8  # rad, targets reach the standing pose +- this (clipped to the joint's range)
SPEEDS = os.environ.get("RUNNER_SPEEDS", "")  # "LO,HI" m/s: commanded speeds in training; "" the family's
_SMOOTH = os.environ.get("RUNNER_SMOOTH", "")  # x legged_gym's gait penalties; "" the family's
SMOOTH = float(_SMOOTH) if _SMOOTH else None
_SUFFIX = (
    (f"_g{round(SCALE * 100)}" if SCALE != 1 else "")
    + (f"_front{round(MOUNT_X * 100)}" if MOUNT_X else "")
    + (f"_k{round(STIFFNESS * 100)}" if STIFFNESS != 1 else "")
    + (f"_pd{round(PD * 100)}" if PD else "")
    + ("_s{}to{}".format(*(round(float(v)) for v in SLOPES.split(","))) if SLOPES else "")
    + ("_v{}to{}".format(*(round(float(v) * 10) for v in SPEEDS.split(","))) if SPEEDS else "")
    + (f"_smooth{round(SMOOTH * 100)}" if SMOOTH is not None else "")
)
if not _SUFFIX:
    raise ValueError(
        "set RUNNER_GEAR_SCALE, RUNNER_MOUNT_X, RUNNER_STIFFNESS, RUNNER_PD, RUNNER_SLOPES, RUNNER_SPEEDS or "
        "RUNNER_SMOOTH: with none this is planar_runner"
    )
_LEG_JOINTS = ("bthigh", "bshin", "bfoot", "fthigh", "fshin", "ffoot")


def _params() -> tuple:
    params = PlanarRunnerPayload.params
    if MOUNT_X:
        offset = dict(allowed=(-0.15, 0.15), train=(-0.1, 0.1), doc="payload offset along the torso from its mount")
        params = tuple(replace(p, **offset) if p.name == "payload_com_x" else p for p in params)
    if SLOPES:
        lo, hi = (float(v) for v in SLOPES.split(","))
        slopes = dict(train=(lo, hi), test_only=((hi + 1.0, hi + 2.0),))
        params = tuple(replace(p, **slopes) if p.name == "slope" else p for p in params)
    if SPEEDS:
        lo, hi = (float(v) for v in SPEEDS.split(","))
        params = tuple(
            replace(p, train=(lo, hi), default=min(max(p.default, lo), hi)) if p.name == "target_velocity" else p
            for p in params
        )
    return params


@register_family
class PlanarRunnerVariant(PlanarRunnerPayload):
    name = f"planar_runner{_SUFFIX}"
    env_id = f"sim_tasks/PlanarRunner{_SUFFIX.title().replace('_', '')}-v0"
    payload_mount = (MOUNT_X, 0.0, 0.06)  # m, on top of the torso capsule
    params = _params()
    if SMOOTH is not None:
        gait_scale = SMOOTH
        robot_reward = runner_robot_reward(SMOOTH)

    def base_spec(self):
        spec = super().base_spec()
        if SCALE != 1:
            model_edit.scale_motor_strength(spec, SCALE)  # the same joint torques as scaling each gear
        for joint in spec.joints:
            if joint.name in _LEG_JOINTS:
                joint.stiffness = joint.stiffness * STIFFNESS
        if PD:
            to_rad = np.pi / 180 if spec.compiler.degree else 1.0  # cheetah.xml states its ranges in degrees
            ranges = {j.name: np.array(j.range) * to_rad for j in spec.joints}
            for act in spec.actuators:  # each motor drives the joint of its name
                peak = float(act.gear[0])  # N*m at full command
                kp = PD * peak  # N*m/rad
                lo, hi = ranges[act.target]
                act.gear = [1.0, 0, 0, 0, 0, 0]
                act.gaintype, act.biastype = mujoco.mjtGain.mjGAIN_FIXED, mujoco.mjtBias.mjBIAS_AFFINE
                act.gainprm = [kp] + [0.0] * 9
                act.biasprm = [0.0, -kp, -kp / 20] + [0.0] * 7
                act.ctrlrange = [max(lo, -PD_RANGE), min(hi, PD_RANGE)]
                act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
                act.forcerange = [-peak, peak]
        return spec

    def action_layout(self, model):
        if not PD:
            return super().action_layout(model)
        names, lo, hi = motor_layout_arrays(model)
        n = len(names)
        return ActionLayout(names, "rad (joint position target)", np.full(n, PD_RANGE), np.zeros(n), lo, hi)
