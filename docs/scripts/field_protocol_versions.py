"""The arm's default pick-up with the embedded RMA alone, the client held to one protocol version.

    python docs/scripts/field_protocol_versions.py VERSION RUN_NAME

prints the tip error before the change, its peak and its steady value (mm) of one field session on a fresh
virtual robot (docs/deploy.md, "Protocol version 2 on the virtual robot").
"""

import sys
from pathlib import Path

from deploy.field import FieldPlan, run_field
from deploy.manifest import PolicyManifest
from firmware_bridge import client as c
from robot_meta.robots import virtual_robots

version, name = int(sys.argv[1]), sys.argv[2]
_connect = c.RobotClient.connect
c.RobotClient.connect = lambda self, timeout=2.0, versions=(version,): _connect(self, timeout, versions)
policy = Path(__file__).resolve().parents[2] / "robot_meta" / "assets" / "planar_arm_rma"
plan = FieldPlan.load(None, PolicyManifest.read(policy).field_plan)
report = run_field(
    {"rma": policy},
    Path(f"/tmp/field_v{version}_{name}"),
    plan,
    simulated=virtual_robots(plan.base_payload_kg, 0),
    status=False,
)
e = report["comparison"][0]["rma"]
print(version, name, {k: round(1e3 * e[k], 1) for k in ("pre_error", "peak_error", "steady_error")})
