"""`robot-meta sim2sim`: the exported policy, through the torch-free runtime, in the MuJoCo env.

The gate before hardware: the same collector and the same online statistics as `robot-meta eval`, with
the runtime's adapters (one per simulated robot) instead of the torch actor, so its numbers are
comparable with eval's online numbers for the same checkpoint, tasks and seed. Optional realism: an
action latency (control steps) and a finer physics step than training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from deploy.metrics import adaptation_time, change_stats, steady_error, summarize
from deploy.runtime import load_adapter, read_manifest
from robot_meta.collector import CollectorState, collect
from sim_tasks import BatchedTaskEnv, get_family


class RuntimeActor:
    """N runtime adapters as an `Actor` of the collector: the first episode starts fresh, later ones keep the
    context (a trial), as the training-time actors do."""

    def __init__(self, policy_dir: Path, n: int, **kwargs: Any) -> None:
        self.adapters = [load_adapter(policy_dir, **kwargs) for _ in range(n)]
        self.fresh = np.ones(n, bool)
        self.last_reward = np.zeros(n, np.float32)

    def reset(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            if self.fresh[i]:
                self.last_reward[i] = 0.0  # a new trial; inside a trial the last reward stays an input (RL²)
            self.adapters[i].reset(keep_context=not self.fresh[i])
            self.fresh[i] = False

    def act(self, obs: np.ndarray) -> np.ndarray:
        return np.stack([a.act(obs[i], float(self.last_reward[i])) for i, a in enumerate(self.adapters)])

    def observe(self, obs, action, reward, next_obs, done) -> None:
        self.last_reward = np.asarray(reward, np.float32)
        for i in np.flatnonzero(done):
            ad = self.adapters[i]
            if hasattr(ad, "end_episode"):
                ad.end_episode(next_obs[i], float(reward[i]))


def parse_schedule(text: str) -> list[tuple[float, float]]:
    """ "0:1.0,5:3.0" -> [(0.0, 1.0), (5.0, 3.0)] (time in s, payload in kg)."""
    out = []
    for part in text.split(","):
        t, sep, kg = part.partition(":")
        try:
            if not sep:
                raise ValueError
            out.append((float(t), float(kg)))
        except ValueError:
            raise ValueError(f"--payload-schedule entry {part!r} is not TIME_S:KG (e.g. 0:1.0,5:3.0)") from None
    if any(t < 0 for t, _ in out) or sorted(out) != out:
        raise ValueError(f"--payload-schedule times must be >= 0 and increasing, got {text!r}")
    return out


def run_sim2sim(
    policy_dir: Path,
    task: str | None = None,
    schedule: list[tuple[float, float]] | None = None,
    n_tasks: int = 8,
    seed: int = 0,
    latency: int | None = None,
    sim_dt: float | None = None,
) -> dict[str, Any]:
    """Run the policy dir on held-out tasks of its family: returns, tracking error over time, and after a payload
    change its description and the adaptation time to the policy's own steady error with the new payload."""

    manifest = read_manifest(policy_dir)
    family = get_family(task or manifest.family)
    if family.name != manifest.family:
        raise ValueError(f"the policy was trained on {manifest.family!r}; --task {family.name!r} has another layout")
    if sim_dt is not None:
        ratio = family.ctrl_dt / sim_dt
        if sim_dt <= 0 or abs(ratio - round(ratio)) > 1e-9:
            raise ValueError(f"--sim-dt {sim_dt} must divide ctrl_dt {family.ctrl_dt} evenly")
        family.sim_dt = sim_dt  # this instance only
    tests = list(family.split().test)
    if family.payload_parent is not None:
        tests = [t for t in tests if "payload_mass" in family.holdout_regions(t)] or tests
    tasks = tests[:n_tasks]
    if latency is not None:
        tasks = [t.replace(action_latency=latency) for t in tasks]
    change_time = None
    after: list[Any] = []  # per task, the task as it is after the (first) change: the steady reference's
    if family.payload_parent is not None:
        if schedule is None:  # eval's online protocol: no payload, then the task's own at mid-episode
            change_time = 0.5 * family.episode_steps * family.ctrl_dt
            schedules = [[(change_time, t.payload_mass)] for t in tasks]
            after = list(tasks)
            tasks = [t.replace(payload_mass=0.0) for t in tasks]
        else:
            schedules = [schedule] * len(tasks)
            first = schedule[0][1] if schedule and schedule[0][0] == 0 else None
            if first is not None:
                tasks = [t.replace(payload_mass=first) for t in tasks]
            change = next(((s, kg) for s, kg in schedule if s > 0), None)
            if change is not None:
                change_time = change[0]
                after = [t.replace(payload_mass=change[1]) for t in tasks]
    else:
        schedules = None
    for t in tasks:
        family.validate(t)
    roll, actor = _run(policy_dir, family, tasks, schedules, seed)
    errors = roll.tracking_error.T  # (tasks, T)
    returns = roll.reward.sum(0)
    out: dict[str, Any] = {
        "policy_dir": str(policy_dir),
        "family": family.name,
        "algo": manifest.algo,
        "tasks": len(tasks),
        "seed": seed,
        "sim_dt": family.sim_dt,
        "ctrl_dt": family.ctrl_dt,
        "action_latency": latency,
        "schedule": schedules[0]
        if schedules and schedule is not None
        else ("0 kg, then each task's payload at the change" if schedules else None),
        "return": summarize(returns),
        "tracking_error": summarize(errors.mean(1)),
        "error_mean_over_time": errors.mean(0).tolist(),
        "payload_over_time": roll.payload_mass.mean(1).tolist(),
        "safety": {
            k: int(sum(getattr(a.safety, k) for a in actor.adapters))
            for k in ("nonfinite_count", "clamped_count", "rate_limited_count")
        },
    }
    if change_time is not None:
        change_step = round(change_time / family.ctrl_dt)
        steady_roll, _ = _run(policy_dir, family, after, None, seed)  # the same starts, with that payload throughout
        steady = steady_error(steady_roll.tracking_error.T, change_step)
        stats = change_stats(errors, change_step, family.ctrl_dt)
        adapt = adaptation_time(errors, change_step, family.ctrl_dt, steady, family.adaptation_floor)
        out["change_time_s"] = change_time
        out["online"] = {
            **{k: summarize(v) for k, v in stats.items()},
            "steady_error": summarize(steady),
            "adaptation_time_s": summarize(np.array([np.nan if r is None else r for r in adapt])),
            "adapted": f"{sum(r is not None for r in adapt)}/{len(adapt)}",
        }
    return out


def _run(policy_dir: Path, family: Any, tasks: list[Any], schedules: list | None, seed: int) -> tuple[Any, RuntimeActor]:
    """One episode of each task through the runtime's adapters (fresh ones), with optional payload schedules."""
    env = BatchedTaskEnv(family, tasks, seed=seed)
    if schedules:
        for sim, sch in zip(env.sims, schedules, strict=True):
            sim.schedule_payload(sch)
    actor = RuntimeActor(policy_dir, len(tasks))
    state = CollectorState(env)
    state.reset(seed=seed)
    return collect(state, actor, family.episode_steps), actor
