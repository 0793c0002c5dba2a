"""A family defined outside the package (docs/examples/my_pendulum.py), registered from the user's module and
used by the CLI: listed, trained, evaluated and exported with no change to the package."""

import json
import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def cli(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "robot_meta.cli", *args], capture_output=True, text=True, env=env, cwd=cwd)


def test_a_users_family_module_is_listed_trained_evaluated_and_exported(tmp_path):
    out = cli("--family-module", "my_pendulum", "tasks", "my_pendulum", "--json")
    assert out.returncode == 0, out.stderr
    fam = json.loads(out.stdout)["family"]
    assert [p["name"] for p in fam["params"]] == ["payload_mass", "joint_damping", "target_angle", "obs_noise"]
    run = tmp_path / "run"
    sets = ["num_envs=2", "minibatches=2", "hidden=8", "embed=8", "epochs=1", "eval_every=0"]
    args = ["--family-module", "my_pendulum", "train", "--algo", "rl2", "--task", "my_pendulum", "--out", str(run)]
    out = cli(*args, "--steps", "400", *[a for s in sets for a in ("--set", s)], "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "config.json").read_text())["family_module"] == "my_pendulum"
    # eval and export find the family from the run's own record, with no flag
    out = cli("eval", str(run), "--episodes", "2", "--repeats", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n_test_tasks"] == 6
    out = cli("export", str(run), "--out", str(tmp_path / "policy"), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["manifest"]["family"] == "my_pendulum"


def test_an_unimportable_family_module_is_one_line_naming_it():
    out = cli("--family-module", "no_such_robot_module", "tasks")
    assert out.returncode == 2 and "cannot import family module 'no_such_robot_module'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


REGISTRATION = """
import gymnasium as gym
import my_pendulum
from sim_tasks import TaskFamily, TaskParamError, get_family, register_family

assert get_family("my_pendulum").default_task().joint_damping == 0.05
obs, _ = gym.make("my_robots/Pendulum-v0").reset(seed=0)
assert obs.shape == (3,)  # angle, rate, and the commanded angle
register_family(my_pendulum.MyPendulum)  # the same class again: a no-op


class Impostor(my_pendulum.MyPendulum):
    pass


for bad, match in ((Impostor, "a family named 'my_pendulum' is already registered"), (object, "takes a TaskFamily subclass")):
    try:
        register_family(bad)
    except TaskParamError as exc:
        assert match in str(exc), exc
    else:
        raise AssertionError(f"{bad} was registered")
print("ok")
"""


def test_registering_a_family_also_registers_its_gymnasium_id_and_refuses_a_name_taken():
    """In a process of its own: registration is global, and the other tests run over the built-in families."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(EXAMPLES), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", REGISTRATION], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
