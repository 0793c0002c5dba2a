"""How well an RMA run holds commanded points with no payload, per action latency and sensor noise.

The arm's field pick-ups (docs/deploy.md) showed one bounded parameter-student oscillating before the pick-up;
this reproduces the setting in the simulator: every method the run contributes to `eval` (its student, prior-only
and teacher; a DR or oracle run, which never trained a student, its teacher alone, named dr or oracle as
`eval --dr-runs/--oracle-runs` names it), at the field test's five commanded points, no payload (eval's `steady`
episode: the task's payload from the start, here none), for each action latency and observation-noise multiplier
given, one episode per point from eval's starts at `--seed`. Prints the tracking error over the second half of the
episode, in mm, one column per point.

    python docs/scripts/rma_hold.py RUN [RUN ...] [--latency 0 1] [--noise 0 1] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from robot_meta.eval_run import TEACHER_BASELINES, teacher_baseline
from robot_meta.evaluation import default_change_time, online_errors
from robot_meta.train import load_run
from sim_tasks import get_family

POINTS = ((0.35, -0.1), (0.3, 0.0), (0.45, 0.2), (0.4, 0.1), (0.5, -0.2))  # the field test's (goal_x, goal_z), m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", type=Path, nargs="+", help="RMA run dirs on planar_arm")
    ap.add_argument("--latency", type=int, nargs="+", default=[0, 1], help="action latencies, steps (default 0 1)")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 1.0], help="obs_noise multipliers (default 0 1)")
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed: starts and sensor noise (eval's default 0)")
    args = ap.parse_args()
    print("run | method | latency | noise | error, second half, mm: " + " ".join(f"({x}, {z})" for x, z in POINTS))
    for run in args.runs:
        algorithm, record = load_run(run)
        family = get_family(record["task"])
        methods = algorithm.eval_methods(args.seed)
        kind = (algorithm.cfg.privileged, algorithm.cfg.task_range)
        roles = [role for role, (k, _) in TEACHER_BASELINES.items() if k == kind]
        if roles and algorithm.iteration <= algorithm.cfg.teacher_iterations:  # as eval --dr-runs/--oracle-runs
            methods = [teacher_baseline(run, roles[0], record["task"], loaded=(algorithm, record))[0]]
        for method in methods:
            for latency in args.latency:
                for noise in args.noise:
                    tasks = [family.task(goal_x=x, goal_z=z, action_latency=latency, obs_noise=noise) for x, z in POINTS]
                    err = online_errors(method, family, tasks, default_change_time(family), args.seed, steady=True)
                    half = err[:, err.shape[1] // 2 :].mean(1) * 1e3
                    cells = " ".join(f"{v:.1f}" for v in half)
                    print(f"{run.name} | {method.name} | {latency} | {noise:g} | {cells}")


if __name__ == "__main__":
    main()
