"""Virtual robots for a policy dir: the wiring between the robot computer's field sessions (`deploy.field`)
and the simulator behind the bridge (`firmware_bridge.virtual_robot_server`), which `deploy` may not import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploy.field import SimulatedRobot
from deploy.runtime import read_manifest
from firmware_bridge.virtual_robot_server import start_virtual_robot


class RecordingVirtualRobot:
    """A virtual robot that keeps its motion (joint positions and payload, `fps` times a second, copied between
    ticks: no rendering while the session runs) and renders it afterwards as a video of the session itself."""

    def __init__(self, family: str, rate_hz: int, payload_kg: float, fps: int = 10) -> None:
        self._robot = start_virtual_robot(family, rate_hz, payload_kg)
        self.firmware = self._robot.firmware
        self.firmware.record_every = max(1, round(rate_hz / fps))
        self.port = self._robot.port
        self.fps = rate_hz / self.firmware.record_every

    def set_payload(self, kg: float) -> None:
        self._robot.set_payload(kg)

    def close(self) -> None:
        self._robot.close()

    def video(self, path: Path, width: int = 320, height: int = 240) -> dict[str, str | None] | None:
        """The session as an MP4 at `path` and a GIF beside it (after `close`: the physics is this object's
        alone again), with the time and the payload written on each frame; None if nothing was recorded or
        nothing can render."""
        from robot_meta.video import MotionRenderer, write_video
        from sim_tasks.render import RenderError

        fw = self.firmware
        if not fw.trajectory:
            return None
        try:
            renderer = MotionRenderer(fw.sim, width, height)
        except RenderError:
            return None
        t0 = fw.trajectory[0][0]
        try:
            frames = [
                renderer.frame(qpos, kg, [f"t = {(t_us - t0) * 1e-6:5.1f} s   payload {kg:.1f} kg"])
                for t_us, qpos, kg in fw.trajectory
            ]
        finally:
            renderer.close()
        return write_video(frames, Path(path), fps=self.fps, gif_every=1, gif_scale=1)  # already 10 frames/s, small


def virtual_robots(base_payload_kg: float, record_fps: int = 10) -> Callable[[str], SimulatedRobot]:
    """A factory for `deploy.field.run_field`: a fresh virtual robot of the policy's family, at the policy's
    control rate, holding `base_payload_kg`, for each session; it records its motion `record_fps` times a
    second for the report's video (0: no recording)."""

    def start(policy_dir: str) -> SimulatedRobot:
        manifest = read_manifest(Path(policy_dir))
        rate_hz = manifest.robot.rate_hz if manifest.robot else round(1.0 / manifest.ctrl_dt)
        if record_fps:
            return RecordingVirtualRobot(manifest.family, rate_hz, base_payload_kg, record_fps)
        return start_virtual_robot(manifest.family, rate_hz, base_payload_kg)

    return start
