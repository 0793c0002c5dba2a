"""The belief probe's payload R² of one run on two task sets: the test split (the probe until the twenty-first
session) and `evaluation.probe_tasks` (held-out tasks inside the training range, the probe since), each with
R repeats, at a few ridge strengths. Prints one JSON line.

    python docs/scripts/probe_tasks_compare.py RUN_DIR [--repeats 5] [--tasks 100]

Used for docs/belief.md, "The probe's tasks": whether a low R² is the belief or the probe's sample.
"""

from __future__ import annotations

import argparse
import json

import torch

from robot_meta.evaluation import _cv_r2, probe_tasks, steady_beliefs
from robot_meta.train import load_run
from sim_tasks import get_family

RIDGES = (1e-2, 1e-1, 1.0)  # eval's probe uses 1e-2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--repeats", type=int, default=5, help="runs of each task (seeds 0..R-1)")
    ap.add_argument("--tasks", type=int, default=100, help="probe tasks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    algorithm, record = load_run(args.run_dir)
    family = get_family(record["task"])
    method = algorithm.eval_methods(seed=0)[0]
    j = [p.name for p in family.hidden_params].index("payload_mass")
    out: dict = {"run": args.run_dir, "repeats": args.repeats}
    for label, tasks in (("test_split", list(family.split().test)), ("probe_tasks", probe_tasks(family, args.tasks))):
        x, y, g = steady_beliefs(method, family, tasks, list(range(args.repeats)))
        out[label] = {"tasks": len(tasks), "dim": int(x.shape[1])}
        out[label].update({f"r2_ridge{lam:g}": round(_cv_r2(x, y[:, j], g, 5, lam), 3) for lam in RIDGES})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
