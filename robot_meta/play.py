"""`robot-meta play`: watch a policy. An exported policy dir (or a run, exported first) through the torch-free
runtime in the simulator, one task, an optional payload schedule, rendered from the family's camera with an
overlay of time, commands, payload and the adapter's belief, written as MP4 (and GIF for reports).

RL Zoo's `record_video` and legged_gym's `play.py` do this for their policies; here the policy is the one that
would run on the robot (the policy dir), so what is watched is what would be deployed. The rollout is the
collector's (as in `sim2sim`), recorded by `video.MotionRecorder` and rendered afterwards.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deploy.runtime import read_manifest
from robot_meta.collector import CollectorState, collect
from robot_meta.evaluation import eval_env
from robot_meta.sim2sim import RuntimeActor
from robot_meta.video import MotionRecorder, MotionRenderer, write_video
from sim_tasks import get_family
from sim_tasks.sim import TaskSim


def _belief(summary: dict[str, Any]) -> str:
    """The adapter's belief in one short line: its latent vector's first entries (PEARL's z, RMA's extrinsics,
    named as in field reports) or RL²'s |h|."""
    from deploy.field import LATENT_SYMBOL

    for key, name in LATENT_SYMBOL.items():
        if key in summary:
            v = np.asarray(summary[key], float)
            return f"{name} = [{', '.join(f'{x:+.2f}' for x in v[:4])}{', ...' if v.size > 4 else ''}]"
    if "h_norm" in summary:
        return f"|h| = {summary['h_norm']:.2f}"
    return "no adaptation (static policy)"


def play(
    policy: Path,
    video: Path,
    commands: dict[str, float] | None = None,
    schedule: list[tuple[float, float]] | None = None,
    seconds: float | None = None,
    seed: int = 0,
    width: int = 480,
    height: int = 360,
    gif: bool = True,
) -> dict[str, Any]:
    """Roll the policy for `seconds` (default one episode of its family) and write the video.

    Args:
        policy: a policy dir, or a run dir (exported to a temporary policy dir first).
        video: the MP4 to write; with `gif`, a GIF beside it (half the frame rate, for report.md).
        commands: the operator's commands (default: the manifest's field plan, else the family's nominal task).
        schedule: payload changes [(t_s, kg), ...] in episode time; a change at t = 0 is the starting payload.

    Returns: {"video", "gif", "frames", "return", "mean_error", "family", "algo"}.
    """
    policy = Path(policy)
    if (policy / "config.json").exists() and not (policy / "manifest.json").exists():  # a run: export it first
        from robot_meta.export import export_run

        with tempfile.TemporaryDirectory(prefix="play_") as tmp:
            export_run(policy, Path(tmp) / "policy")
            return play(Path(tmp) / "policy", video, commands, schedule, seconds, seed, width, height, gif)
    manifest = read_manifest(policy)
    family = get_family(manifest.family)
    task = family.default_task()
    defaults = (manifest.field_plan or {}).get("commands", {})
    task = task.replace(**{k: float(v) for k, v in {**defaults, **(commands or {})}.items()})
    schedule = list(schedule or [])
    if schedule and schedule[0][0] == 0:
        task = task.replace(payload_mass=schedule.pop(0)[1])
    family.validate(task)
    steps = round((seconds if seconds is not None else family.episode_steps * family.ctrl_dt) / family.ctrl_dt)
    env = eval_env(family, [task], seed, [schedule] if schedule else None)
    state = CollectorState(env)
    state.reset(seed=seed)
    actor = RuntimeActor(policy, 1)
    recorder = MotionRecorder(actor, env, note=lambda: _belief(actor.adapters[0].summary()))
    roll = collect(state, recorder, steps)
    errors = roll.tracking_error[:, 0].astype(float)
    motion = recorder.motion
    command = "  ".join(f"{c.name} = {getattr(task, c.name):g}" for c in manifest.commands)  # fixed for the rollout
    renderer = MotionRenderer(TaskSim(family, task), width, height)
    frames = []
    try:
        for k in range(steps):
            t = (k + 1) * family.ctrl_dt
            lines = [
                f"{manifest.algo} on {family.name}   t = {t:5.2f} s   payload {motion.payload[k]:.2f} kg",
                f"{command}   error {errors[k]:.3f} {family.error_unit}",
                motion.notes[k],
            ]
            frames.append(renderer.frame(motion.qpos[k], motion.payload[k], lines))
    finally:
        renderer.close()
    out = write_video(frames, Path(video), fps=round(1.0 / family.ctrl_dt), gif=gif)
    return {
        "video": out["mp4"],
        "gif": out["gif"],
        "frames": steps,
        "return": float(roll.reward[:, 0].sum()),
        "mean_error": float(np.nanmean(errors)) if steps else float("nan"),
        "family": family.name,
        "algo": manifest.algo,
    }
