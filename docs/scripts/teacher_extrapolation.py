"""Does RMA's teacher use a payload past its training range? Steady tracking error on the held-out payloads
heavier than training, the payload there from the episode's start, for the teacher told the true payload against
the same teacher told the payload clipped to the heaviest training one, beside the student and prior-only.

If the clipped teacher tracks as well as the told one, nothing the teacher learned reads a heavier payload, so a
student whose estimate could leave the training range (RMA's cannot: docs/belief.md) would gain nothing.

    python docs/scripts/teacher_extrapolation.py RMA_RUN [RMA_RUN ...] [--seed 0] [--repeats 5]

Prints, per run and pooled, the mean steady error (m or m/s: the family's tracking error) over the second half of
the episode, each method on the same tasks, starts and sensor noise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from robot_meta.evaluation import Method, online_errors
from robot_meta.rma.rma import RMAActor
from robot_meta.train import load_run
from sim_tasks import get_family


class _ClippedTeacher(RMAActor):
    """The teacher told every hidden parameter clipped to its training range ([-1, 1] in `task_targets` units)."""

    def _e(self) -> torch.Tensor:
        return super()._e().clamp(-1.0, 1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path, help="RMA run dirs (privileged teacher, training range)")
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed of the first repeat (eval's default 0)")
    ap.add_argument("--repeats", type=int, default=5, help="seeds seed..seed+repeats-1, as eval --repeats")
    args = ap.parse_args()
    pooled: dict[str, list[float]] = {}
    for run in args.runs:
        algorithm, record = load_run(run)
        family = get_family(record["task"])
        tasks = [t for t in family.split().test if "payload_mass" in family.holdout_regions(t)]
        gen = torch.Generator().manual_seed(0)

        def clipped(mode: str, env, nets=algorithm.nets, gen=gen):  # bound now: the loop moves on
            return _ClippedTeacher(nets, "teacher", env.num_envs, gen, env=env, deterministic=True)

        methods = {
            "teacher, told the payload": algorithm.teacher_method(seed=0),  # RMA's own, as eval runs it
            "teacher, told it clipped to training": Method("clipped", clipped),
            **{m.name: m for m in algorithm.eval_methods(seed=args.seed) if m.name in ("rma", "prior_only")},
        }
        half = family.episode_steps // 2
        row = {}
        for name, method in methods.items():
            errs = [
                online_errors(method, family, tasks, 0.0, args.seed + r, steady=True)[:, half:].mean(1)
                for r in range(args.repeats)
            ]
            row[name] = np.concatenate(errs)
            pooled.setdefault(name, []).extend(row[name].tolist())
        masses = ", ".join(f"{t.payload_mass:.2f}" for t in tasks)
        print(f"{run} (seed {record['seed']}), {len(tasks)} tasks ({masses} kg) x {args.repeats} repeats:")
        for name, v in row.items():
            print(f"  {name:40s} {v.mean():.4f}")
    if len(args.runs) > 1:
        print(f"pooled over {len(args.runs)} runs:")
        for name, v in pooled.items():
            a = np.array(v)
            print(f"  {name:40s} {a.mean():.4f} (s.e. {a.std(ddof=1) / np.sqrt(a.size):.4f}, n={a.size})")


if __name__ == "__main__":
    main()
