"""Why a payload on the runner's torso does not matter (issue 15): mean speed, its swing and the error.

Runs a cached DR and oracle (annealed PPO, `robot-meta sensitivity ... --baseline-dir DIR`) on fixed commands
and payloads, nominal other dynamics, and prints per (policy, payload, command) the mean forward speed over the
second half of the episode, its standard deviation within strides, the steady tracking error, and the fraction
of that time the torso is upside down (gravity's z in the torso frame above zero: the runner went over).

    python docs/scripts/runner_speed_trace.py runs/sens_planar_runner/baselines_lin [--payloads 0,5,10,15]
    RUNNER_STIFFNESS=0.25 PYTHONPATH=docs/scripts python docs/scripts/runner_speed_trace.py RUN/baselines_lin \
        --family planar_runner_k25 --family-module runner_variant_family
    RUNNER_MOUNT_X=0.4 PYTHONPATH=docs/scripts python docs/scripts/runner_speed_trace.py RUN/baselines_lin \
        --family planar_runner_front40 --family-module runner_variant_family --payloads 0,2,4,6,8,10 --commands 2.375
"""

import argparse
from pathlib import Path

import numpy as np

from robot_meta.baselines import SB3Actor, baseline_path, load_policy
from robot_meta.collector import CollectorState, collect
from robot_meta.eval_run import baseline_tasks, population_config
from robot_meta.evaluation import eval_env
from sim_tasks import get_family, load_family_module


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("baseline_dir", type=Path)
    ap.add_argument("--family", default="planar_runner")
    ap.add_argument("--family-module", help="module that registers --family (e.g. runner_variant_family)")
    ap.add_argument("--payloads", default="0,5,10,15", help="kg, comma-separated")
    ap.add_argument("--commands", default="1.125,2.375", help="m/s, comma-separated")
    ap.add_argument("--slope", type=float, default=0.0, help="deg uphill, the same for every run (default flat)")
    ap.add_argument("--replica", type=int, default=0, help="training run K (sensitivity --replica K: dr_ppo_rK.pt)")
    args = ap.parse_args()
    if args.family_module:
        load_family_module(args.family_module)
    fam = get_family(args.family)
    cfg = population_config("ppo", None, None)
    dr_path, path = (baseline_path(args.baseline_dir, name, "ppo", args.replica) for name in ("dr", "oracle"))
    policies = {"dr": load_policy(dr_path, fam, baseline_tasks(fam, "dr"), cfg, oracle=False)}
    if path.exists():  # DR is trained first: look at it alone meanwhile
        policies["oracle"] = load_policy(path, fam, baseline_tasks(fam, "oracle"), cfg, oracle=True)
    kgs = [float(v) for v in args.payloads.split(",")]
    speeds = [float(v) for v in args.commands.split(",")]
    tasks = [fam.task(payload_mass=kg, target_velocity=v, slope=args.slope) for kg in kgs for v in speeds]
    half = fam.episode_steps // 2
    speed_at = fam.obs_layout.index("torso_velocity").start
    up_z = fam.obs_layout.index("torso_gravity").start + 1  # (x, z) of gravity in the torso frame
    print(f"{'policy':>7} {'kg':>5} {'command':>8} {'mean v':>7} {'std v':>6} {'error':>6} {'over':>5}  (m/s)")
    for name, policy in policies.items():
        env = eval_env(fam, tasks, 0)
        state = CollectorState(env)
        state.reset(seed=0)
        roll = collect(state, SB3Actor(policy, env if name == "oracle" else None), fam.episode_steps)
        obs = np.asarray(roll.obs)[half:]  # (steps, tasks, obs)
        v, over = obs[:, :, speed_at], (obs[:, :, up_z] > 0).mean(0)
        err = np.asarray(roll.tracking_error)[half:].mean(0)
        for i, t in enumerate(tasks):
            row = f"{v[:, i].mean():7.2f} {v[:, i].std():6.2f} {err[i]:6.2f} {over[i]:5.2f}"
            print(f"{name:>7} {t.payload_mass:5g} {t.target_velocity:8.3f} {row}")


if __name__ == "__main__":
    main()
