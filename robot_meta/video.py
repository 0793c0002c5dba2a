"""Videos of rollouts, one path for every command that writes one (`play`, `eval --video`, the field report's
virtual-robot sessions).

The motion is recorded while the policy runs (joint positions and payload after every step: a copy, no
rendering in the loop) and rendered afterwards from the family's camera with a text overlay; the frames go to an
MP4 through imageio's ffmpeg plugin and, for markdown reports, to a GIF beside it. Recording through the
collector (`MotionRecorder` is an actor wrapper) keeps one rollout loop: what is watched is what was measured.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robot_meta.collector import ActorWrapper, CollectorState, collect


@dataclass
class Motion:
    """A recorded rollout of one sub-env: per step (after it) the joint positions, the payload (kg) and a note
    (the belief, or empty); the tracking error per step comes from the collector's rollout."""

    qpos: list[np.ndarray] = field(default_factory=list)
    payload: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: np.ndarray | None = None


class MotionRecorder(ActorWrapper):
    """Records sub-env `index` of `env` (a `BatchedTaskEnv`) after every step into `self.motion`.

    Args:
        actor: the actor under watch.
        env: the env the collector steps.
        index: which sub-env to record.
        note: called after each step for the overlay's last line (e.g. the adapter's belief); None for none.
    """

    def __init__(self, actor: Any, env: Any, index: int = 0, note: Callable[[], str] | None = None) -> None:
        super().__init__(actor)
        self.env, self.index, self.note = env, index, note
        self.motion = Motion()

    def observe(self, obs, action, reward, next_obs, done) -> None:
        super().observe(obs, action, reward, next_obs, done)
        sim = self.env.sims[self.index]
        self.motion.qpos.append(sim.data.qpos.copy())
        self.motion.payload.append(float(sim.payload_mass))
        self.motion.notes.append(self.note() if self.note else "")


class MotionRenderer:
    """Renders recorded states of a `TaskSim`'s model from the family's camera (`render_camera`, else the model's
    first camera). The sim must not be stepping meanwhile: its data is overwritten.

    Raises:
        sim_tasks.render.RenderError: no OpenGL backend (one line saying what to install).
    """

    def __init__(self, sim: Any, width: int = 320, height: int = 240) -> None:
        from sim_tasks.render import FrameRenderer

        model = sim.model
        camera = sim.family.render_camera or (model.camera(0).name if model.ncam else -1)
        self.sim = sim
        self._renderer = FrameRenderer(model, camera, width, height)
        self._payload: float | None = None

    def frame(self, qpos: np.ndarray, payload_kg: float, lines: Sequence[str] = ()) -> np.ndarray:
        """(height, width, 3) uint8 of the robot at `qpos` carrying `payload_kg`, with `lines` written on it."""
        import mujoco

        sim = self.sim
        if sim.family.payload_parent is not None and payload_kg != self._payload:
            sim.set_payload(payload_kg)  # the payload's body is drawn at its mass's size
            self._payload = payload_kg
        sim.data.qpos[:] = qpos
        mujoco.mj_forward(sim.model, sim.data)
        img = self._renderer.render(sim.data)
        return overlay_text(img, list(lines)) if lines else img

    def close(self) -> None:
        self._renderer.close()


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


def write_video(
    frames: Sequence[np.ndarray], path: Path, fps: float, gif: bool = True, gif_every: int = 2, gif_scale: float = 0.5
) -> dict[str, str | None]:
    """Write `frames` as an MP4 at `path` (H.264 through imageio-ffmpeg) and, with `gif`, a looping GIF beside it
    (by default every second frame at half size: small enough for a markdown report).

    Returns: {"mp4": path, "gif": path or None}.
    """
    import imageio.v2 as iio
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with iio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=8) as writer:
        for f in frames:
            writer.append_data(f)
    gif_path = None
    if gif and len(frames):
        gif_path = path.with_suffix(".gif")
        images = [Image.fromarray(f) for f in frames[::gif_every]]
        if gif_scale != 1:
            images = [im.resize((round(im.width * gif_scale), round(im.height * gif_scale))) for im in images]
        images[0].save(gif_path, save_all=True, append_images=images[1:], duration=round(1000 * gif_every / fps), loop=0)
    return {"mp4": str(path), "gif": str(gif_path) if gif_path else None}


def online_video(
    methods: Sequence[Any],
    family: Any,
    task: Any,
    change_time_s: float,
    seed: int,
    path: Path,
    first: int = 0,
    width: int = 256,
    height: int = 192,
    gif: bool = True,
) -> dict[str, Any]:
    """The online protocol's episode for one task, one panel per method side by side: every method starts from
    the same state with the same sensor noise (`evaluation.eval_env`, sub-env stream `first`), without the
    payload, which switches to the task's at `change_time_s`.

    Args:
        methods: `evaluation.Method`s that hold one policy for all tasks (per-task ones are skipped).
        path: the MP4 (a GIF beside it with `gif`).

    Returns: {"mp4", "gif", "methods", "frames", "task_payload_kg", "change_time_s"}.
    """
    from robot_meta.evaluation import eval_env, online_protocol
    from sim_tasks.sim import TaskSim

    methods = [m for m in methods if not m.per_task]
    starts, schedules = online_protocol([task], change_time_s)
    motions = []
    for m in methods:
        env = eval_env(family, starts, seed, schedules, first=first)
        state = CollectorState(env)
        state.reset(seed=seed)
        recorder = MotionRecorder(m.actor("online", env), env)
        roll = collect(state, recorder, family.episode_steps)
        recorder.motion.error = roll.tracking_error[:, 0]
        motions.append(recorder.motion)
    renderer = MotionRenderer(TaskSim(family, starts[0]), width, height)
    frames = []
    try:
        for k in range(family.episode_steps):
            t = (k + 1) * family.ctrl_dt
            panels = [
                renderer.frame(
                    mo.qpos[k],
                    mo.payload[k],
                    [
                        f"{m.name}",
                        f"t {t:4.1f} s  payload {mo.payload[k]:.1f} kg",
                        f"error {mo.error[k]:.3f} {family.error_unit}",
                    ],
                )
                for m, mo in zip(methods, motions, strict=True)
            ]
            frames.append(np.concatenate(panels, axis=1))
    finally:
        renderer.close()
    out = write_video(frames, path, fps=1.0 / family.ctrl_dt, gif=gif)
    return {
        **out,
        "methods": [m.name for m in methods],
        "frames": len(frames),
        "task_payload_kg": float(task.payload_mass),
        "change_time_s": float(change_time_s),
    }
