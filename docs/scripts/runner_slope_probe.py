"""Would an uphill nominal make the runner's payload matter? (issue 15) Cached DR and oracle at fixed slopes.

Runs `robot-meta sensitivity`'s measurement (its payload grid, command grid, steady error and verdict) on one
cached pair of PPO baselines, with the slope set to each value given instead of the family's nominal one. The
baselines are not retrained, so a slope outside DR's training range measures extrapolation too; this is the
probe that chose the runner's 8 deg nominal grade before anything was trained for it (on the flat-nominal
family's baselines: DR trained on slopes of -6 to 6 deg, the oracle on -6 to 10).

    python docs/scripts/runner_slope_probe.py /work/runs/sens_planar_runner/baselines_lin --slopes 0,3,6,8

The cache must hold baselines of the flat-nominal family (`FlatRunner` below; ninth session's
`sens_planar_runner/baselines_lin`).
"""

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from robot_meta.baselines import SB3Actor, load_policy
from robot_meta.eval_run import baseline_tasks, population_config
from robot_meta.sensitivity import command_grid, payload_grid, steady_errors, verdict
from sim_tasks import get_family, register_family
from sim_tasks.families.planar_runner import PlanarRunnerPayload


@register_family
class FlatRunner(PlanarRunnerPayload):
    """planar_runner as it was until the tenth session, the family the probed baselines were trained for: slopes
    of -6 to 6 deg in training, 8 to 10 held out, flat nominal. The oracle's slope input is scaled over the
    training range, so the probe must read it with these ranges, not the hill's."""

    name = "planar_runner_flat"
    env_id = "sim_tasks/PlanarRunnerFlat-v0"
    params = tuple(
        replace(p, allowed=(-15.0, 15.0), train=(-6.0, 6.0), test_only=((8.0, 10.0),), default=0.0) if p.name == "slope" else p
        for p in PlanarRunnerPayload.params
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline_dir", type=Path, help="a cache holding dr_ppo.pt and oracle_ppo.pt (2.5M steps)")
    ap.add_argument("--slopes", default="0,3,6,8", help="deg uphill, comma-separated")
    ap.add_argument("--seeds", type=int, default=2, help="evaluation starts per task")
    args = ap.parse_args()
    fam = get_family(FlatRunner.name)
    cfg = population_config("ppo", None, None)
    models = {}
    for name in ("dr", "oracle"):  # loaded as they are, whatever family version they were trained for: no retraining
        path = args.baseline_dir / f"{name}_ppo.pt"
        if not path.exists():
            raise SystemExit(f"{path} not found: train it with robot-meta sensitivity first")
        models[name] = load_policy(path, fam, baseline_tasks(fam, name), cfg, oracle=name == "oracle")
    policies = {"dr": lambda env: SB3Actor(models["dr"]), "oracle": lambda env: SB3Actor(models["oracle"], env)}
    payloads = payload_grid(fam)
    print(f"payloads {payloads} kg, commands {command_grid(fam)}; steady error (m/s)")
    for slope in (float(v) for v in args.slopes.split(",")):
        commands = [dict(c, slope=slope) for c in command_grid(fam)]  # the slope rides with each fixed command
        err = steady_errors(policies, fam, payloads, commands, list(range(args.seeds)))
        dr, oracle = err["dr"].mean((1, 2)), err["oracle"].mean((1, 2))
        print(
            f"slope {slope:g} deg: DR {np.round(dr, 3)} oracle {np.round(oracle, 3)}\n  {verdict(payloads, dr, oracle)['text']}"
        )


if __name__ == "__main__":
    main()
