"""What an RMA parameter-student (`student_target=parameters`) estimates through the online protocol's payload change,
and what bounding that estimate (`bound_estimate`) changes.

For each held-out task with a payload heavier than training, over `--repeats` evaluation seeds (eval's starts and
sensor noise), the episode that starts with no payload and switches to the task's own at the protocol's change
time, run twice on the same starts: phi's estimate passed to mu as it is, and clamped to each parameter's allowed
range (what `bound_estimate=true` does in training, eval and the exported graph). Prints per task the true
payload and latency, the payload estimate (kg) as the policy acted on it (mean over the second half of what
follows the change, and its lowest value after the change), and the tracking error over that second half (the
steady part of eval's excess), both ways.

    python docs/scripts/rma_estimate_trace.py RUN [--seed 0] [--repeats 5] [--plot estimate.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from robot_meta.collector import CollectorState, collect
from robot_meta.evaluation import default_change_time, eval_env, online_protocol
from robot_meta.rma.rma import RMAActor, estimate_bounds
from robot_meta.train import load_run
from sim_tasks import get_family


class _Recording(RMAActor):
    """The deployed student, phi's raw estimate e_hat (N, P) kept at every step."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            self.estimates.append(self.nets.estimate(self.history.clone()).numpy().copy())
        return super().act(obs)


def _episode(nets, family, tasks, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tracking error (N, T) and raw estimates (T, N, P) of one online-protocol episode per task."""
    starts, schedules = online_protocol(tasks, default_change_time(family))
    env = eval_env(family, starts, seed, schedules)
    state = CollectorState(env)
    state.reset(seed=seed)
    actor = _Recording(nets, "student", env.num_envs, torch.Generator().manual_seed(seed), deterministic=True)
    actor.estimates = []
    roll = collect(state, actor, family.episode_steps)
    return roll.tracking_error.T, np.array(actor.estimates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path, help="an RMA run dir with student_target=parameters")
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed of the first repeat (eval's default 0)")
    ap.add_argument("--repeats", type=int, default=5, help="seeds seed..seed+repeats-1, as eval --repeats")
    ap.add_argument("--plot", type=Path, help="write the payload estimate's traces (first repeat) here")
    args = ap.parse_args()
    algorithm, record = load_run(args.run)
    nets, family = algorithm.nets, get_family(record["task"])
    if not nets.estimates_parameters:
        raise SystemExit(f"{args.run} has student_target={algorithm.cfg.student_target}; this reads a parameter-student")
    names = [p.name for p in family.hidden_params]
    payload = family.hidden_params[names.index("payload_mass")]
    half, mid = (payload.train[1] - payload.train[0]) / 2, sum(payload.train) / 2  # kg per unit of e, kg at e = 0
    lo, hi = estimate_bounds(family)
    tasks = [t for t in family.split().test if "payload_mass" in family.holdout_regions(t)]
    change = round(default_change_time(family) / family.ctrl_dt)
    tail = change + (family.episode_steps - change) // 2
    out: dict[bool, dict[str, list[np.ndarray]]] = {}
    for bounded in (False, True):
        nets.set_bounds((lo, hi) if bounded else None)  # what `bound_estimate` gives a run: both act through nets.adapt
        acc: dict[str, list[np.ndarray]] = {"error": [], "mean": [], "low": [], "trace": []}
        for r in range(args.repeats):
            err, est = _episode(nets, family, tasks, args.seed + r)
            acted = np.clip(est, lo.numpy(), hi.numpy()) if bounded else est  # what mu received
            kg = mid + half * acted[:, :, names.index("payload_mass")]  # (T, N)
            acc["error"].append(err[:, tail:].mean(1))
            acc["mean"].append(kg[tail:].mean(0))
            acc["low"].append(kg[change:].min(0))
            acc["trace"].append(kg)
        out[bounded] = {k: np.array(v) for k, v in acc.items()}
    print(f"{args.run}: {len(tasks)} heavier-payload tasks x {args.repeats} repeats; kg as mu received it")
    print("task  payload  latency | payload estimate, mean (lowest after the change) | steady-part error (m or m/s)")
    print("                       |   as estimated        bounded                   |   as estimated   bounded")
    for i, t in enumerate(tasks):
        a, b = out[False], out[True]
        print(
            f"{i:4d}  {t.payload_mass:6.2f}   {t.action_latency:5.0f}   | "
            f"{a['mean'][:, i].mean():5.2f} ({a['low'][:, i].min():6.2f})    {b['mean'][:, i].mean():5.2f} ({b['low'][:, i].min():5.2f})"
            f"             |   {np.array2string(a['error'][:, i], precision=3)}  {np.array2string(b['error'][:, i], precision=3)}"
        )
    for bounded in (False, True):
        e = out[bounded]["error"]
        print(
            f"{'bounded' if bounded else 'as estimated'}: mean {e.mean():.4f}, worst run {e.max():.4f}, median {np.median(e):.4f}"
        )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        t_s = np.arange(family.episode_steps) * family.ctrl_dt
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 3), sharey=True)
        for i, (ax, task) in enumerate(zip(np.atleast_1d(axes), tasks, strict=True)):
            ax.plot(t_s, out[False]["trace"][0][:, i], label="as estimated", lw=1)
            ax.plot(t_s, out[True]["trace"][0][:, i], label="bounded", lw=1)
            ax.axhline(task.payload_mass, color="k", ls="--", lw=0.8, label="true payload")
            ax.axhspan(*payload.train, color="0.9", zorder=0)
            ax.set_title(f"task {i}: {task.payload_mass:.2f} kg, latency {task.action_latency:.0f}", fontsize=8)
            ax.set_xlabel("time (s)")
        np.atleast_1d(axes)[0].set_ylabel("payload mu received (kg)")
        np.atleast_1d(axes)[0].legend(fontsize=7)
        fig.suptitle(f"{args.run.name}: payload estimate through the change (repeat 0; grey: training range)", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
