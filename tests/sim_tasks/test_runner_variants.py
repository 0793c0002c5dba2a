"""The runner experiments of docs/commands.md (docs/scripts/runner_variant_family.py) still build what they say:
each variant is a family module whose environment variables change the physics named in its family name."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mujoco
import numpy as np
import pytest

from sim_tasks import get_family

SCRIPTS = Path(__file__).resolve().parents[2] / "docs" / "scripts"
PROBE = """
import json, numpy as np
import runner_variant_family as r
from robot_meta.evaluation import eval_env
from sim_tasks import get_family
fam = get_family(r.PlanarRunnerVariant.name)
model = fam.build_model(fam.task(payload_mass=5.0))
layout = fam.action_layout(model)
env = eval_env(fam, [fam.task(payload_mass=5.0)], 0)
env.reset(seed=0)
_, reward, *_ = env.step(np.zeros((1, layout.dim), np.float32))
print(json.dumps({"name": fam.name, "gain": model.actuator_gainprm[:, 0].tolist(), "gear": model.actuator_gear[:, 0].tolist(),
    "stiffness": model.jnt_stiffness[3:].tolist(), "payload_x": float(model.body("payload").pos[0]),
    "unit": layout.unit, "com_train": list(fam.spec_of("payload_com_x").train), "reward": float(reward[0]),
    "slopes": [list(fam.spec_of("slope").train), [list(r) for r in fam.spec_of("slope").test_only], fam.task().slope],
    "speeds": [list(fam.spec_of("target_velocity").train), fam.task().target_velocity]}))
"""


def probe(**variables: str) -> dict:
    env = {**os.environ, **variables, "PYTHONPATH": os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "variables, name",
    [
        ({"RUNNER_GEAR_SCALE": "0.5"}, "planar_runner_g50"),
        ({"RUNNER_MOUNT_X": "0.4"}, "planar_runner_front40"),
        ({"RUNNER_STIFFNESS": "0.25", "RUNNER_PD": "0.5"}, "planar_runner_k25_pd50"),
        ({"RUNNER_SLOPES": "6,10"}, "planar_runner_s6to10"),
        ({"RUNNER_SMOOTH": "1"}, "planar_runner_smooth100"),
        ({"RUNNER_SMOOTH": "0"}, "planar_runner_smooth0"),
        ({"RUNNER_SPEEDS": "2,3.5", "RUNNER_SMOOTH": "0.2"}, "planar_runner_v20to35_smooth20"),
    ],
)
def test_a_runner_variant_changes_what_its_name_says(variables, name):
    got = probe(**variables)
    assert got["name"] == name and abs(got["reward"]) < 100.0
    peak = [120.0, 90.0, 60.0, 90.0, 60.0, 30.0]  # N*m, dm_control's gears
    if "RUNNER_GEAR_SCALE" in variables:
        assert got["gain"] == [0.5] * 6 and got["gear"] == peak  # half the torque per unit command
    if "RUNNER_MOUNT_X" in variables:
        assert got["payload_x"] == 0.4 and got["com_train"] == [-0.1, 0.1]
    if "RUNNER_PD" in variables:
        assert got["unit"] == "rad (joint position target)" and got["gain"] == [0.5 * p for p in peak]  # N*m/rad
        assert got["stiffness"] == [0.25 * k for k in (240.0, 180.0, 120.0, 180.0, 120.0, 60.0)]  # N*m/rad
    if "RUNNER_SLOPES" in variables:
        assert got["slopes"] == [[6.0, 10.0], [[11.0, 12.0]], 8.0]  # deg: training, held out, nominal
    else:
        assert got["slopes"] == [[2.0, 12.0], [[13.0, 15.0]], 8.0]  # the family's hill
    if "RUNNER_SPEEDS" in variables:
        assert got["speeds"] == [[2.0, 3.5], 2.0]  # m/s: training commands, the default command moved inside them
    else:
        assert got["speeds"] == [[1.5, 3.0], 1.5]  # the family's


def test_the_variant_module_refuses_to_be_planar_runner_itself():
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
    for k in ("GEAR_SCALE", "MOUNT_X", "STIFFNESS", "PD", "SLOPES", "SPEEDS", "SMOOTH"):
        env.pop(f"RUNNER_{k}", None)
    out = subprocess.run([sys.executable, "-c", "import runner_variant_family"], capture_output=True, text=True, env=env)
    assert out.returncode != 0 and "RUNNER_SPEEDS or RUNNER_SMOOTH: with none" in out.stderr


def test_the_gait_penalties_charge_vertical_speed_and_pitch_rate_only():
    """legged_gym's penalties, 2.0 x vz^2 + 0.05 x pitch rate^2, times the family's 0.2 (RUNNER_SMOOTH sets the
    factor; 0 is the family without them); the tracking error (what sensitivity measures) is the same."""
    code = """
import json, mujoco, numpy as np
import runner_variant_family as r
fam = r.PlanarRunnerVariant()
task = fam.task(payload_mass=5.0, target_velocity=1.5)
model = fam.build_model(task)
data = mujoco.MjData(model)
data.qvel[[model.joint(j).dofadr[0] for j in ("rootx", "rootz", "rooty")]] = [1.2, 0.5, 2.0]
print(json.dumps(fam.reward(model, data, np.zeros(6), task, None)))
"""
    got = {}
    path = os.pathsep.join([str(SCRIPTS), os.environ.get("PYTHONPATH", "")])
    for smooth in ("0", "0.2", "1"):
        env = {**os.environ, "RUNNER_SMOOTH": smooth, "PYTHONPATH": path}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        got[smooth] = json.loads(out.stdout.strip().splitlines()[-1])
    assert [error for _, error in got.values()] == [pytest.approx(0.3)] * 3  # m/s: |1.2 - 1.5|
    penalty = 2.0 * 0.5**2 + 0.05 * 2.0**2  # 0.7
    assert got["0"][0] == pytest.approx(-0.3) and got["1"][0] == pytest.approx(-0.3 - penalty)
    assert got["0.2"][0] == pytest.approx(-0.3 - 0.2 * penalty)
    fam = get_family("planar_runner")  # the family's own reward: the variant at 0.2, bit for bit
    task = fam.task(payload_mass=5.0, target_velocity=1.5)
    model = fam.build_model(task)
    data = mujoco.MjData(model)
    data.qvel[[model.joint(j).dofadr[0] for j in ("rootx", "rootz", "rooty")]] = [1.2, 0.5, 2.0]
    assert fam.reward(model, data, np.zeros(6), task, None)[0] == got["0.2"][0]
