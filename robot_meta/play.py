"""`robot-meta play`: watch a policy. An exported policy dir (or a run, exported first) through the torch-free
runtime in the simulator, one task, an optional payload schedule, rendered from the family's camera with an
overlay of time, commands, payload and the adapter's belief, written as MP4 (and GIF for reports).

RL Zoo's `record_video` and legged_gym's `play.py` do this for their policies; here the policy is the one that
would run on the robot (the policy dir), so what is watched is what would be deployed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from deploy.runtime import load_adapter, read_manifest
from sim_tasks import TaskEnv, get_family


def overlay_text(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """The frame with `lines` of text in its top-left corner, on a dark band (PIL's default font)."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    height = 12 * len(lines) + 6
    draw.rectangle([0, 0, img.width, height], fill=(0, 0, 0))
    for i, line in enumerate(lines):
        draw.text((6, 3 + 12 * i), line, fill=(255, 255, 255))
    return np.asarray(img)


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
        schedule: payload changes [(t_s, kg), ...]; a change at t = 0 is the starting payload.

    Returns: {"video", "gif", "frames", "return", "mean_error", "family", "algo"}.
    """
    policy = Path(policy)
    if (policy / "config.json").exists() and not (policy / "manifest.json").exists():  # a run: export it first
        from robot_meta.export import export_run

        with tempfile.TemporaryDirectory(prefix="play_") as tmp:
            export_run(policy, Path(tmp) / "policy")
            return play(Path(tmp) / "policy", video, commands, schedule, seconds, seed, width, height, gif)
    import imageio.v2 as iio

    manifest = read_manifest(policy)
    family = get_family(manifest.family)
    task = family.default_task()
    defaults = (manifest.field_plan or {}).get("commands", {})
    task = task.replace(**{k: float(v) for k, v in {**defaults, **(commands or {})}.items()})
    schedule = list(schedule or [])
    if schedule and schedule[0][0] == 0:
        task = task.replace(payload_mass=schedule.pop(0)[1])
    family.validate(task)
    env = TaskEnv(family, task=task, payload_schedule=schedule or None, render_mode="rgb_array", width=width, height=height)
    adapter = load_adapter(policy)
    steps = round((seconds if seconds is not None else family.episode_steps * family.ctrl_dt) / family.ctrl_dt)
    obs, _ = env.reset(seed=seed)
    adapter.reset()
    reward, total, errors, frames = 0.0, 0.0, [], []
    names = [p.name for p in manifest.commands]
    video = Path(video)
    video.parent.mkdir(parents=True, exist_ok=True)
    fps = round(1.0 / family.ctrl_dt)
    writer = iio.get_writer(video, fps=fps, codec="libx264", quality=7, macro_block_size=8)
    try:
        for k in range(steps):
            action = adapter.act(obs, reward)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            errors.append(float(info.get("tracking_error", np.nan)))
            t = (k + 1) * family.ctrl_dt
            lines = [
                f"{manifest.algo} on {family.name}   t = {t:5.2f} s   payload {env.sim.payload_mass:.2f} kg",
                "  ".join(f"{n} = {getattr(env.task, n):g}" for n in names) + f"   error {errors[-1]:.3f} {family.error_unit}",
                _belief(adapter.summary()),
            ]
            frame = overlay_text(env.render(), lines)
            writer.append_data(frame)
            if gif and k % 2 == 0:
                frames.append(frame)
            if terminated or truncated:
                obs, _ = env.reset()
                adapter.reset(keep_context=True)
    finally:
        writer.close()
        env.close()
    gif_path = None
    if gif and frames:
        from PIL import Image

        gif_path = video.with_suffix(".gif")
        images = [Image.fromarray(f).resize((width // 2, height // 2)) for f in frames]
        images[0].save(gif_path, save_all=True, append_images=images[1:], duration=round(2000 / fps), loop=0)
    return {
        "video": str(video),
        "gif": str(gif_path) if gif_path else None,
        "frames": steps,
        "return": total,
        "mean_error": float(np.nanmean(errors)) if errors else float("nan"),
        "family": family.name,
        "algo": manifest.algo,
    }
