"""`robot-meta demo`: the whole pipeline on its embedded default, on 2 CPU cores in a few minutes.

1. Task families: their splits, a random policy on training and held-out tasks (`splits.png`).
2. Pipeline check: meta-train a small PEARL policy on the planar runner for `train_seconds`, export it to
   ONNX (with the parity check) and run it on the virtual robot for a few seconds: this proves the install
   end to end; a one-minute policy is not a useful one.
3. Field test: the embedded RL² runner (a GRU policy whose hidden state carries what it has learned of the
   dynamics from its own recent experience; 60 minutes by the project's own command, recorded in
   robot_meta/assets/PROVENANCE.md: the runner method closest to issue 16's bars in `eval`) and the
   domain-randomized baseline (the same wall time), each on a fresh virtual robot (MuJoCo physics behind a
   pty), commanded 2.5 m/s, with a payload heavier than any seen in training; the report plots the payload
   RL² reads from its hidden state, and says plainly whether the adaptive policy adapted faster, each to its
   own steady error, and which holds the lower error after.
4. The arm's pick-up: the embedded RMA arm policy and its domain-randomized baseline hold a commanded point
   while the gripper picks up 2.2 kg (training went to 1.5 kg), the tip placed on the robot side by forward
   kinematics of the manifest's chain; the arm's default field plan, from its manifest.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from deploy.control import DeployConfig, Deployment
from deploy.field import FieldPlan, run_field, summary_lines
from deploy.manifest import PolicyManifest
from deploy.telemetry import TelemetryLog
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from robot_meta.collector import CollectorState, collect
from robot_meta.export import export_run
from robot_meta.robots import virtual_robots
from robot_meta.train import train
from sim_tasks import BatchedTaskEnv, family_names, get_family


class RandomActor:
    """Uniform random actions in [-1, 1] from its own generator: the reference policy of the families stage."""

    def __init__(self, rng: np.random.Generator, act_dim: int) -> None:
        self.rng, self.act_dim = rng, act_dim

    def reset(self, mask: np.ndarray) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, size=(len(obs), self.act_dim))

    def observe(self, *args: Any) -> None:
        pass


def roll_random(family: Any, tasks: list[Any], seed: int) -> dict[str, float]:
    """One episode per task with uniform random actions, through the collector; mean/std of the return and
    of the tracking error."""

    env = BatchedTaskEnv(family, tasks, seed=seed)
    state = CollectorState(env)
    state.reset(seed=seed)
    roll = collect(state, RandomActor(np.random.default_rng(seed), env.single_action_space.shape[0]), family.episode_steps)
    done = roll.terminated | roll.truncated
    steps = np.array([int(np.argmax(done[:, i])) + 1 if done[:, i].any() else len(done) for i in range(env.num_envs)])
    returns = np.array([roll.reward[: steps[i], i].sum(dtype=np.float64) for i in range(env.num_envs)])
    mean_error = np.array([roll.tracking_error[: steps[i], i].mean(dtype=np.float64) for i in range(env.num_envs)])
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


ASSETS = Path(__file__).parent / "assets"
PHASES = ("settle_s", "baseline_s", "hold_s", "smooth_s", "steady_s")  # FieldPlan's timing fields


def _stage(msg: str, progress: bool) -> None:
    if progress:
        print(f"[demo] {msg}", file=sys.stderr, flush=True)


def families_stage(out: Path, episodes: int, seed: int, progress: bool) -> list[dict[str, Any]]:
    from tqdm import tqdm

    families = [get_family(n) for n in family_names()]
    rows = []
    bar = tqdm(families, desc="families", file=sys.stderr, disable=not (progress and sys.stderr.isatty()), leave=False)
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
    return rows


def pipeline_check(out: Path, seconds: float, seed: int, progress: bool, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train a small PEARL for `seconds`, export it, deploy it on the virtual robot for 3 s."""
    import torch

    run, policy = out / "run_small", out / "policy_small"
    for d in (run, policy):
        if d.exists():
            import shutil

            shutil.rmtree(d)
    t0 = time.perf_counter()
    summary = train(
        "pearl",
        "planar_runner",
        run,
        steps=10_000_000,
        seed=seed,
        device=torch.device("cpu"),
        sets=("eval_every=0", *sets),
        progress=progress and sys.stderr.isatty(),
        max_minutes=seconds / 60.0,
    )
    t_train = time.perf_counter() - t0
    manifest = export_run(run, policy)
    fam = get_family("planar_runner")
    fw = VirtualFirmware(fam, config=FirmwareConfig(rate_hz=round(1 / fam.ctrl_dt), watchdog_ms=150))
    log = TelemetryLog(out / "deploy_small.mcap")
    with VirtualRobotThread(fw) as vr:
        cfg = DeployConfig(duration_s=3.0, commands={"target_velocity": 1.5}, status=False)
        result = Deployment(policy, vr.port, cfg, log=log).run()
    log.close()
    return {
        "train_s": round(t_train, 1),
        "env_steps": summary.get("env_steps"),
        "run_dir": str(run),
        "policy_dir": str(policy),
        "parity_max_abs_diff": max(manifest.parity.max_abs_diff.values()),
        "deploy": {
            "reason": result.reason,
            "ticks": result.ticks,
            "late_ticks": result.late_ticks,
            "log": str(out / "deploy_small.mcap"),
        },
    }


def _field_lines(report: dict[str, Any], names: tuple[str, ...], scale: float, fmt: str) -> list[str]:
    """A field report's numbers per payload and policy (errors x `scale`, in `fmt`), then its verdicts."""
    lines = []
    for entry in report["comparison"]:
        kg = f"{entry['payload_kg']:g} kg"
        for name in names:
            c = entry.get(name) or {}
            e = {
                k: format(scale * c.get(k, float("nan")), fmt)
                for k in ("pre_error", "post_error", "peak_error", "steady_error")
            }
            ad = c.get("adaptation_time_s")
            lines.append(
                f"  {kg}  {name:<18} error before {e['pre_error']}, after {e['post_error']}, peak "
                f"{e['peak_error']}, steady {e['steady_error']}, settled {'never' if ad is None else f'in {ad:.1f} s'}"
            )
            if "payload_estimate_after" in c:  # what the belief said about the payload, through the manifest's read-out
                st = c.get("payload_estimate_settle_s")
                lines.append(
                    f"  {'':<{len(kg)}}  {name:<18} payload read from its belief: "
                    f"{c['payload_estimate_before']:.1f} kg before, {c['payload_estimate_after']:.1f} kg at the end of the "
                    f"hold (true {entry['payload_kg']:g}), "
                    f"{'not within 20%' if st is None else f'within 20% after {st:.1f} s'}"
                )
    return [*lines, "", *summary_lines(report), ""]


def _train_max_kg(manifest: PolicyManifest) -> float:
    """The heaviest payload (kg) the policy trained on, from its manifest: what the field test's payload exceeds."""
    payload = manifest.param("payload_mass")
    if payload is None:
        raise ValueError(f"the embedded {manifest.family} policy's manifest has no payload_mass task parameter")
    return payload.train[1]


def run_demo(
    out: Path,
    episodes: int = 2,
    seed: int = 0,
    progress: bool = True,
    train_seconds: float = 60.0,
    plan: str | Path | None = None,
) -> dict[str, Any]:

    if episodes < 1:
        raise ValueError(f"--episodes must be >= 1, got {episodes}")
    runner_policies = {"rl2": ASSETS / "planar_runner_rl2", "domain_randomized": ASSETS / "planar_runner_dr"}
    runner = PolicyManifest.read(runner_policies["rl2"])
    plan_file, plan = plan, FieldPlan.load(plan, runner.field_plan)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    _stage("1/4 task families and their splits (random policy)", progress)
    rows = families_stage(out, episodes, seed, progress)
    check = None
    if train_seconds > 0:
        _stage(f"2/4 pipeline check: train PEARL on the planar runner for {train_seconds:g} s, export, deploy 3 s", progress)
        check = pipeline_check(out, train_seconds, seed, progress)
    else:
        _stage("2/4 pipeline check skipped (--train-seconds 0)", progress)
    _stage(
        f"3/4 field test on the virtual robot at {plan.commands}: embedded RL² vs domain-randomized, payload "
        f"{plan.payloads_kg} kg (training max {_train_max_kg(runner):g} kg), {2 * plan.duration_s:.0f} s",
        progress,
    )
    field_dir = out / "field"
    report = run_field(
        runner_policies,
        field_dir,
        plan,
        simulated=virtual_robots(plan.base_payload_kg),
        status=progress and sys.stderr.isatty(),
    )
    arm_policies = {"rma": ASSETS / "planar_arm_rma", "domain_randomized": ASSETS / "planar_arm_dr"}
    arm = PolicyManifest.read(arm_policies["rma"])
    arm_plan = FieldPlan.load(None, arm.field_plan)
    if plan_file is not None:  # a plan given to the demo sets the phases of both tests (the commands are each family's)
        arm_plan = dataclasses.replace(arm_plan, **{k: getattr(plan, k) for k in PHASES})
    _stage(
        f"4/4 the arm picks up {arm_plan.payloads_kg} kg (training max {_train_max_kg(arm):g} kg) at the point {arm_plan.commands}: "
        f"embedded RMA vs domain-randomized, {2 * arm_plan.duration_s:.0f} s",
        progress,
    )
    arm_dir = out / "field_arm"
    arm_report = run_field(
        arm_policies,
        arm_dir,
        arm_plan,
        simulated=virtual_robots(arm_plan.base_payload_kg),
        status=progress and sys.stderr.isatty(),
    )
    summary: dict[str, Any] = {
        "families": rows,
        "pipeline_check": check,
        "field": {"report": str(field_dir / "report.md"), "verdicts": report["verdicts"], "comparison": report["comparison"]},
        "field_arm": {
            "report": str(arm_dir / "report.md"),
            "verdicts": arm_report["verdicts"],
            "comparison": arm_report["comparison"],
        },
        "seed": seed,
        "wall_s": round(time.perf_counter() - start, 1),
        "out": str(out),
        "policies": "embedded: robot_meta/assets (PROVENANCE.md records the commands that produced them)",
    }
    tmp = out / "demo.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=float))
    os.replace(tmp, out / "demo.json")
    lines = ["robot-meta demo", "", "task families (random policy, one episode per task):"]
    lines.append(f"  {'family':<18} {'train tasks':>11} {'held out':>8}   {'return (train)':>16} {'return (held out)':>18}")
    for r in rows:
        tr, te = r["random_policy"]["train"], r["random_policy"]["test"]
        lines.append(
            f"  {r['family']:<18} {r['n_train']:>11} {r['n_test']:>8}   {tr['return_mean']:>8.1f} ± {tr['return_std']:<6.1f}"
            f" {te['return_mean']:>9.1f} ± {te['return_std']:<6.1f}"
        )
    if check:
        lines += [
            "",
            f"pipeline check: PEARL trained {check['train_s']:.0f} s ({check['env_steps']} env steps), exported "
            f"(ONNX parity {check['parity_max_abs_diff']:.1e}), deployed on the virtual robot: {check['deploy']['ticks']} "
            f"ticks, {check['deploy']['late_ticks']} late, ended by {check['deploy']['reason']}",
        ]
    lines += ["", "field test (embedded RL² vs the domain-randomized baseline, same plan; speed error, m/s):"]
    lines += _field_lines(report, tuple(runner_policies), 1.0, ".2f")
    lines += ["the arm's pick-up (embedded RMA vs the domain-randomized PPO, same plan; error of the gripper tip, mm):"]
    lines += _field_lines(arm_report, tuple(arm_policies), 1000.0, ".0f")
    lines.append(
        f"reports: {field_dir / 'report.md'}, {arm_dir / 'report.md'} (plots, report.json, MCAP logs); "
        f"summary {out / 'demo.json'}"
    )
    lines.append(f"done in {summary['wall_s']:.0f} s")
    summary["text"] = "\n".join(lines)
    return summary
