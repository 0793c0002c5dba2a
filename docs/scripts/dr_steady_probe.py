"""Steady error of cached DR policies on `robot-meta sensitivity`'s grid, one file at a time (issue 15).

Loads each DR policy file as it is (no retraining, no oracle needed) and prints its steady tracking error at the
sensitivity payloads, averaged over the command grid and `--seeds` starts, at the family's nominal dynamics:

    python docs/scripts/dr_steady_probe.py /work/runs/sens_runner_hill/baselines_5m/dr_ppo.pt [more.pt ...]
"""

import argparse
from pathlib import Path

import numpy as np

from robot_meta.baselines import SB3Actor, load_policy, read_meta
from robot_meta.eval_run import baseline_tasks, population_config
from robot_meta.sensitivity import command_grid, payload_grid, steady_errors
from sim_tasks import get_family


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("policies", nargs="+", type=Path, help="cached DR files (dr_ppo.pt, dr_ppo_r1.pt, ...)")
    ap.add_argument("--family", default="planar_runner")
    ap.add_argument("--seeds", type=int, default=2, help="starts per payload and command")
    args = ap.parse_args()
    fam = get_family(args.family)
    payloads = payload_grid(fam)
    print(f"payloads {payloads} kg, commands {command_grid(fam)}; steady error ({fam.error_unit})")
    for path in args.policies:
        algo = read_meta(path).get("algo", "sac")
        model = load_policy(path, fam, baseline_tasks(fam, "dr"), population_config(algo, None, None), oracle=False)
        err = steady_errors(
            {"dr": lambda env, m=model: SB3Actor(m)}, fam, payloads, command_grid(fam), list(range(args.seeds))
        )
        print(f"{path}: {np.round(err['dr'].mean((1, 2)), 3)}", flush=True)


if __name__ == "__main__":
    main()
