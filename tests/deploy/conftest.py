"""One PEARL and one RL² tiny run, trained once per test session and shared by the deploy tests."""

import pytest
import torch

from robot_meta.train import train
from tests.tiny import PEARL_SETS, RL2_SETS


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_runs")
    cpu = torch.device("cpu")
    train("pearl", "planar_runner", root / "pearl", steps=200, seed=0, device=cpu, sets=PEARL_SETS, progress=False)
    train("rl2", "planar_runner", root / "rl2", steps=800, seed=0, device=cpu, sets=RL2_SETS, progress=False)
    return root
