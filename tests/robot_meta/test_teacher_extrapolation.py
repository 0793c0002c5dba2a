"""docs/scripts/teacher_extrapolation.py: RMA's teacher told a heavier-than-training payload, or told it clipped."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from robot_meta.cli import main
from robot_meta.config import build_config
from robot_meta.rma import RMA, RMAActor, RMAConfig
from sim_tasks import BatchedTaskEnv, get_family
from tests.tiny import RMA_SETS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "scripts" / "teacher_extrapolation.py"


def _script_module():
    spec = importlib.util.spec_from_file_location("teacher_extrapolation", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_clipped_teacher_is_told_the_heaviest_training_payload_and_nothing_else_changes():
    fam = get_family("planar_arm")
    heavy = [t for t in fam.split().test if "payload_mass" in fam.holdout_regions(t)]
    cfg = build_config(RMAConfig(), None, RMA_SETS)
    algo = RMA(lambda t, s: BatchedTaskEnv(fam, t, seed=s), list(fam.split().train[:6]), cfg, 0, torch.device("cpu"))
    env = BatchedTaskEnv(fam, heavy, seed=0)
    gen = torch.Generator().manual_seed(0)
    told = RMAActor(algo.nets, "teacher", env.num_envs, gen, env=env)._e()
    clipped = _script_module()._ClippedTeacher(algo.nets, "teacher", env.num_envs, gen, env=env)._e()
    mass = [p.name for p in fam.hidden_params].index("payload_mass")
    assert (told[:, mass] > 1.0).all()  # past the training range in task_targets units
    assert torch.equal(clipped[:, mass], torch.ones(len(heavy)))
    others = [j for j in range(told.shape[1]) if j != mass]
    assert torch.equal(clipped[:, others], told[:, others].clamp(-1, 1))


def test_the_script_prints_four_rows_per_run_and_the_pool(tmp_path):
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"rma{seed}"
        args = ["train", "--algo", "rma", "--task", "planar_arm", "--out", str(out), "--steps", "160", "--seed", str(seed)]
        assert main([*args, "--json", *(a for s in RMA_SETS for a in ("--set", s))]) == 0
        runs.append(str(out))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *runs, "--repeats", "1"], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.startswith(runs[0]) for line in lines) == 1 and lines[-5].startswith("pooled over 2 runs")
    rows = [line.split() for line in lines[-4:]]
    assert [" ".join(r[:-4]) for r in rows] == [
        "teacher, told the payload",
        "teacher, told it clipped to training",
        "rma",
        "prior_only",
    ]
    assert all(np.isfinite(float(r[-4])) and r[-1] == "n=12)" for r in rows)  # 6 heavier tasks x 1 repeat x 2 runs
