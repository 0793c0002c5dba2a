"""Foxglove-ready telemetry (issue 20): every channel of a deploy's log declares a real JSON schema, every message
validates against its channel's schema, the observation is there by named slice, and the pose channel uses
Foxglove's own `foxglove.PoseInFrame`."""

import json

import jsonschema
from mcap.reader import make_reader

from deploy.control import DeployConfig, Deployment
from deploy.telemetry import TelemetryLog
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from sim_tasks import get_family


def test_every_message_validates_against_its_channels_schema(tiny_policies, tmp_path):
    fw = VirtualFirmware(get_family("planar_runner"), config=FirmwareConfig(rate_hz=20, watchdog_ms=150, arming_s=0.3))
    with VirtualRobotThread(fw) as vr:
        log = TelemetryLog(tmp_path / "run.mcap")
        try:
            cfg = DeployConfig(commands={"target_velocity": 1.5}, status=False, duration_s=1.5, stale_periods=10.0)
            Deployment(tiny_policies / "pearl", vr.port, cfg, log=log).run()
        finally:
            log.close()
    counts: dict[str, int] = {}
    with open(tmp_path / "run.mcap", "rb") as f:
        for schema, channel, message in make_reader(f).iter_messages():
            declared = json.loads(schema.data)
            assert declared != {"type": "object"}, channel.topic  # a real schema, not a placeholder
            body = json.loads(message.data)
            jsonschema.validate(body, declared)
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic == "/tick":
                assert set(body["obs_named"]) >= {"torso_velocity", "joint_pos", "target_velocity"}
                assert body["obs_named"]["target_velocity"] == [1.5]
            if channel.topic == "/pose":
                assert schema.name == "foxglove.PoseInFrame"
    assert counts["/tick"] >= 20 and counts["/pose"] == counts["/tick"] and counts["/session"] == 1
