"""`robot-meta demo`: the pipeline on its embedded default, growing as the pipeline grows.

Today: the task families and their splits, with a random policy rolled on training and held-out tasks
of each (returns and tracking errors), written to `demo.json` and a picture of the splits, `splits.png`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def roll_random(family: Any, tasks: list[Any], seed: int) -> dict[str, float]:
    """One episode per task with uniform random actions; mean/std of return and of tracking error."""
    from sim_tasks import BatchedTaskEnv

    env = BatchedTaskEnv(family, tasks, seed=seed)
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    n = env.num_envs
    returns, errors, steps = np.zeros(n), np.zeros(n), np.zeros(n)
    done = np.zeros(n, dtype=bool)
    while not done.all():
        actions = rng.uniform(-1.0, 1.0, size=env.action_space.shape)
        _, reward, terminated, truncated, info = env.step(actions)
        live = ~done
        returns[live] += reward[live]
        errors[live] += info["tracking_error"][live]
        steps[live] += 1
        done |= terminated | truncated
    mean_error = errors / np.maximum(steps, 1)
    return {
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "tracking_error_mean": float(mean_error.mean()),
        "episode_steps_mean": float(steps.mean()),
    }


def plot_splits(path: Path, families: list[Any]) -> None:
    """One panel per family: training vs held-out tasks on the family's two main axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 3.6))
    for ax, fam in zip(np.atleast_1d(axes), families, strict=True):
        split = fam.split()
        held = [p.name for p in fam.params if p.test_only]
        x_name = held[0] if held else fam.params[0].name
        others = [p.name for p in fam.params if p.name != x_name and not p.is_int]
        y_name = held[1] if len(held) > 1 else (others[0] if others else None)
        for tasks, label, style in (
            (split.train, "train", dict(c="tab:blue", s=14)),
            (split.test, "held out", dict(c="tab:red", marker="x", s=22)),
        ):
            xs = [getattr(t, x_name) for t in tasks]
            ys = [getattr(t, y_name) for t in tasks] if y_name else np.zeros(len(xs))
            ax.scatter(xs, ys, label=f"{label} ({len(tasks)})", **style)
        spec = fam.spec_of(x_name)
        for lo, hi in spec.test_only:
            ax.axvspan(lo, hi, color="tab:red", alpha=0.08)
        ax.axvline(spec.train[1], color="k", lw=0.6, ls="--")
        ax.set_xlabel(f"{x_name} [{spec.unit}]")
        if y_name:
            for lo, hi in fam.spec_of(y_name).test_only:
                ax.axhspan(lo, hi, color="tab:red", alpha=0.08)
            ax.set_ylabel(f"{y_name} [{fam.spec_of(y_name).unit}]")
        else:
            ax.set_yticks([])
        ax.set_title(fam.name)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("Task splits: shaded = held out for testing; dashed = top of the training range", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(out: Path, episodes: int = 4, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    from sim_tasks import family_names, get_family

    if episodes < 1:
        from robot_meta.cli import UsageError

        raise UsageError(f"--episodes must be >= 1, got {episodes}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    families = [get_family(n) for n in family_names()]
    rows = []
    bar = tqdm(families, desc="demo", file=sys.stderr, disable=not (progress and sys.stderr.isatty()))
    for fam in bar:
        bar.set_postfix_str(fam.name)
        split = fam.split()
        train = roll_random(fam, list(split.train[:episodes]), seed)
        test = roll_random(fam, list(split.test[:episodes]), seed + 1)
        rows.append(
            {
                "family": fam.name,
                "env_id": fam.env_id,
                "obs_dim": fam.obs_layout.dim,
                "n_train": len(split.train),
                "n_test": len(split.test),
                "held_out": {p.name: [list(i) for i in p.test_only] for p in fam.params if p.test_only},
                "random_policy": {"train": train, "test": test},
            }
        )
    plot_splits(out / "splits.png", families)
    summary: dict[str, Any] = {
        "families": rows,
        "seed": seed,
        "episodes": episodes,
        "wall_s": round(time.perf_counter() - start, 2),
        "out": str(out),
        "files": [str(out / "demo.json"), str(out / "splits.png")],
        "pipeline": "sim_tasks only so far: meta-training, export and deploy join the demo as they land",
    }
    tmp = out / "demo.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2))
    os.replace(tmp, out / "demo.json")
    lines = ["robot-meta demo: task families, random policy, one episode per task", ""]
    lines.append(
        f"{'family':<18} {'train tasks':>11} {'held out':>8}   {'return (train)':>16} {'return (held out)':>18}  held-out regions"
    )
    for r in rows:
        tr, te = r["random_policy"]["train"], r["random_policy"]["test"]
        regions = (
            "; ".join(f"{k} in " + " ".join(f"[{a:g}, {b:g}]" for a, b in v) for k, v in r["held_out"].items())
            or "random 30 of 130 goals (oyster)"
        )
        lines.append(
            f"{r['family']:<18} {r['n_train']:>11} {r['n_test']:>8}   {tr['return_mean']:>8.1f} ± {tr['return_std']:<6.1f}"
            f" {te['return_mean']:>9.1f} ± {te['return_std']:<6.1f}  {regions}"
        )
    lines += [
        "",
        f"wrote {out / 'demo.json'} and {out / 'splits.png'} in {summary['wall_s']} s",
        "next in the pipeline: meta-training (robot-meta train), export, deploy; see README",
    ]
    summary["text"] = "\n".join(lines)
    return summary
