"""One PEARL and one RL² tiny run, trained once per test session and shared by the deploy tests."""

import os

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each, and the
    # CLI processes the tests start inherit it (two torch pools of two threads each spin against each other: 9x slower)
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

from robot_meta.train import train
from tests.tiny import PEARL_SETS, RL2_SETS, RMA_SETS


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_runs")
    cpu = torch.device("cpu")
    train("pearl", "planar_runner", root / "pearl", steps=200, seed=0, device=cpu, sets=PEARL_SETS, progress=False)
    train("rl2", "planar_runner", root / "rl2", steps=800, seed=0, device=cpu, sets=RL2_SETS, progress=False)
    train("rma", "planar_runner", root / "rma", steps=160, seed=0, device=cpu, sets=RMA_SETS, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_policies(tiny_runs, tmp_path_factory):
    """The tiny runs exported once per session: pearl, rl2, rma, and the pearl run's tiny DR baseline as `dr`."""
    from robot_meta.baselines import BaselineConfig
    from robot_meta.eval_run import ensure_population_baseline
    from robot_meta.export import export_baseline, export_run
    from sim_tasks import get_family

    root = tmp_path_factory.mktemp("tiny_policies")
    export_run(tiny_runs / "pearl", root / "pearl")
    export_run(tiny_runs / "rl2", root / "rl2")
    export_run(tiny_runs / "rma", root / "rma")
    fam = get_family("planar_runner")
    tiny = BaselineConfig(steps=64, n_envs=2, hidden=(8,), batch_size=16, learning_starts=16, buffer_size=256)
    ensure_population_baseline(tiny_runs / "pearl" / "baselines", "dr", fam, list(fam.split().train[:2]), tiny, 0, quiet=True)
    export_baseline(tiny_runs / "pearl", "dr", root / "dr")
    return root


@pytest.fixture(scope="session")
def tiny_arm_policies(tmp_path_factory):
    """The planar arm's policies for the robot side (issue 18): a tiny PEARL run exported as `pearl` and its tiny
    DR baseline as `dr`; the manifests carry the gripper tip's kinematic chain."""
    from robot_meta.baselines import BaselineConfig
    from robot_meta.eval_run import ensure_population_baseline
    from robot_meta.export import export_baseline, export_run
    from sim_tasks import get_family

    root = tmp_path_factory.mktemp("tiny_arm")
    run = root / "run"
    train("pearl", "planar_arm", run, steps=200, seed=0, device=torch.device("cpu"), sets=PEARL_SETS, progress=False)
    export_run(run, root / "pearl")
    fam = get_family("planar_arm")
    tiny = BaselineConfig(steps=64, n_envs=2, hidden=(8,), batch_size=16, learning_starts=16, buffer_size=256)
    ensure_population_baseline(run / "baselines", "dr", fam, list(fam.split().train[:2]), tiny, 0, quiet=True)
    export_baseline(run, "dr", root / "dr")
    return root
