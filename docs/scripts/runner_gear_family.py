"""Experiment (issue 15): the planar runner with its motor gears scaled, as a family module.

dm_control's cheetah gears (120, 90, 60, 90, 60, 30 N*m at full command) are several times what the motors of a
14 kg legged robot give; this family scales them (RUNNER_GEAR_SCALE, default 0.5) to test whether weaker,
more realistic motors make the payload matter. Measured with 0.5 (docs/commands.md): not enough (1.36x).

    RUNNER_GEAR_SCALE=0.5 PYTHONPATH=docs/scripts robot-meta train --algo pearl --task planar_runner_g50 \\
        --family-module runner_gear_family --out runs/g50 --steps 1000 --max-minutes 0.2
    RUNNER_GEAR_SCALE=0.5 PYTHONPATH=docs/scripts robot-meta sensitivity runs/g50 --baseline-algo ppo \\
        --baseline-steps 2500000 --baseline-dir runs/g50/baselines_lin
"""

import os

from sim_tasks import model_edit, register_family
from sim_tasks.families.planar_runner import PlanarRunnerPayload

SCALE = float(os.environ.get("RUNNER_GEAR_SCALE", "0.5"))  # x dm_control's gears


@register_family
class PlanarRunnerGear(PlanarRunnerPayload):
    name = f"planar_runner_g{round(SCALE * 100)}"
    env_id = f"sim_tasks/PlanarRunnerG{round(SCALE * 100)}-v0"

    def base_spec(self):
        spec = super().base_spec()
        model_edit.scale_motor_strength(spec, SCALE)  # the same joint torques as scaling each gear
        return spec
