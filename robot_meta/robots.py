"""Virtual robots for a policy dir: the wiring between the robot computer's field sessions (`deploy.field`)
and the simulator behind the bridge (`firmware_bridge.virtual_robot_server`), which `deploy` may not import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from deploy.field import SimulatedRobot
from deploy.runtime import read_manifest
from firmware_bridge.virtual_robot_server import start_virtual_robot


def virtual_robots(base_payload_kg: float) -> Callable[[str], SimulatedRobot]:
    """A factory for `deploy.field.run_field`: a fresh virtual robot of the policy's family, at the policy's
    control rate, holding `base_payload_kg`, for each session."""

    def start(policy_dir: str) -> SimulatedRobot:
        manifest = read_manifest(Path(policy_dir))
        rate_hz = manifest.robot.rate_hz if manifest.robot else round(1.0 / manifest.ctrl_dt)
        return start_virtual_robot(manifest.family, rate_hz, base_payload_kg)

    return start
