"""Issue 17's bad-input suite on the robot side: `robot-meta deploy` given a policy dir or flags a careless or
hostile user could give it, against a virtual robot on a pty. Each case: exit 2, one stderr line naming the value,
the robot never armed (no ARM frame reached it), and no file written or changed anywhere under the test's dir
(the policy dir included; the log asked for is not created).

The whole list of classes, run through the CLI in subprocesses before and after issue 17, is
docs/scripts/bad_input_audit.py; the classes on the training side are in tests/robot_meta/test_cli.py,
tests/robot_meta/test_config.py and tests/deploy/test_manifest_bounds.py."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from firmware_bridge import protocol as p
from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
from firmware_bridge.virtual_robot_server import VirtualRobotThread
from robot_meta.cli import main
from sim_tasks import get_family
from tests.policy_edit import write_manifest


def _edit(path: str, value):
    def edit(d: Path) -> None:
        raw = json.loads((d / "manifest.json").read_text())
        keys = path.split(".")
        node = raw
        for k in keys[:-1]:
            node = node[k]
        if value is KeyError:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
        write_manifest(d, raw)  # its digest updated: the value checks must refuse it on their own

    return edit


def _unsealed(d: Path) -> None:
    raw = json.loads((d / "manifest.json").read_text())
    raw["robot"]["safety"]["max_tilt_deg"] = 179.0
    (d / "manifest.json").write_text(json.dumps(raw))  # SHA256SUMS not updated


def _graph(file: str, make=None):
    def edit(d: Path) -> None:
        if make is not None:
            make(d)
        _edit("graphs.policy.file", file)(d)

    return edit


NAN = float("nan")
CASES = {
    # name: (policy dir edit, extra flags, what the one line must contain)
    "scale 1e308": (_edit("action.scale", [1e308] * 6), [], "action.scale[0]=1e+308"),
    "scale NaN": (_edit("action.scale", [NAN] * 6), [], "action.scale[0]=nan"),
    "ctrl_dt NaN": (_edit("ctrl_dt", NAN), [], "ctrl_dt=nan"),
    "ctrl_dt 0": (_edit("ctrl_dt", 0.0), [], "ctrl_dt=0.0"),
    "ctrl_dt 1e308": (_edit("ctrl_dt", 1e308), [], "ctrl_dt=1e+308"),
    "ctrl_high 1e30": (_edit("action.ctrl_high", [1e30] * 6), [], "action.ctrl_high[0]=1e+30"),
    "window 1e9": (_edit("adaptation.window", 10**9), [], "adaptation.window=1000000000"),
    "joints missing": (_edit("joints", KeyError), [], "manifest.joints is missing"),
    "action null": (_edit("action", None), [], "manifest.action: expected an object"),
    "edited after export": (_unsealed, [], "does not match its sha256 in SHA256SUMS"),
    "graph out of the dir": (_graph("../../etc/passwd"), [], "'../../etc/passwd' must be a file name inside"),
    "graph symlink": (_graph("l.onnx", lambda d: os.symlink("/etc/passwd", d / "l.onnx")), [], "is a symbolic link"),
    "graph FIFO": (_graph("f.onnx", lambda d: os.mkfifo(d / "f.onnx")), [], "f.onnx is not a regular file"),
    "graph /dev/zero": (_graph("/dev/zero"), [], "'/dev/zero' must be a file name inside"),
    "command NaN": (None, ["--command", "target_velocity=nan"], "target_velocity=nan must be a finite number"),
    "command out of range": (None, ["--command", "target_velocity=99"], "target_velocity=99 is outside its allowed range"),
    "unknown command": (None, ["--command", "nope=1"], "'nope': this policy takes no such command"),
    "max-delta NaN": (None, ["--max-delta", "nan"], "--max-delta: nan must be a finite number > 0"),
    "max-delta -1": (None, ["--max-delta", "-1"], "--max-delta: -1 must be a finite number > 0"),
    "duration NaN": (None, ["--duration", "nan"], "--duration: nan must be a finite number > 0"),
}


def _tree(root: Path) -> dict[str, str]:
    """Every path under root with a digest of what it is (content for files), without following links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            q = Path(dirpath) / n
            if q.is_symlink() or not q.is_file():
                out[str(q)] = "link" if q.is_symlink() else "other"
            else:
                out[str(q)] = hashlib.sha256(q.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_deploy_refuses_bad_input_by_name_and_never_arms(tiny_policies, tmp_path, capsys, case):
    edit, flags, named = CASES[case]
    policy = tmp_path / "policy"
    shutil.copytree(tiny_policies / "pearl", policy)
    if edit is not None:
        edit(policy)
    before = _tree(tmp_path)
    fam = get_family("planar_runner")
    fw = VirtualFirmware(fam, config=FirmwareConfig(rate_hz=20, watchdog_ms=150, arming_s=0.3))
    command = [] if "--command" in flags else ["--command", "target_velocity=1.5"]
    argv = ["deploy", str(policy), "--port", "", "--duration", "1", "--log", str(tmp_path / "run.mcap"), *command, *flags]
    capsys.readouterr()
    with VirtualRobotThread(fw) as vr:
        argv[3] = vr.port
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
    assert code == 2, case
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert fw.arm_requests == 0 and fw.commands_applied == 0 and fw.state == p.FirmwareState.DISARMED
    assert _tree(tmp_path) == before  # nothing written (no log), nothing changed
