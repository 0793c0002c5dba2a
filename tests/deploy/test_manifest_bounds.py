"""A corrupted or hand-edited manifest is refused by name before anything arms (issue 17): values out of any
real robot's range, reversed ranges, inconsistent sizes. Each case edits the embedded PEARL manifest."""

import copy
import json
from pathlib import Path

import pytest

from deploy.manifest import PolicyDirError, PolicyManifest
from tests.policy_edit import write_manifest

ASSET = Path(__file__).resolve().parents[2] / "robot_meta" / "assets" / "planar_runner_pearl" / "manifest.json"


def _set(raw: dict, path: str, value) -> None:
    keys = path.split(".")
    node = raw
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


CASES = [
    ("action.scale.0", 1e308, "action.scale[0]"),
    ("action.scale.0", -1.0, "action.scale[0]"),
    ("action.scale.0", 0.0, "action.scale[0]"),
    ("action.ctrl_high.0", 1e30, "action.ctrl_high[0]"),
    ("action.ctrl_low.1", 5.0, "action.ctrl_low[1]"),
    ("action.clip", [-2.0, 1.0], "action.clip"),
    ("sim_dt", 1.0, "sim_dt"),
    ("sim_dt", 0.0, "sim_dt"),
    ("ctrl_dt", 0.0, "ctrl_dt"),
    ("ctrl_dt", 1e308, "ctrl_dt"),
    ("adaptation.window", 10**9, "adaptation.window"),
    ("adaptation.window", 0, "adaptation.window"),
    ("robot.rate_hz", 0, "robot.rate_hz"),
    ("robot.rate_hz", 70_000, "robot.rate_hz"),
    ("robot.safety.max_tilt_deg", -5.0, "max_tilt_deg"),
    ("robot.command.kd.0", -1.0, "robot.command.kd[0]"),
    ("task_params.0.train", [6.0, 0.0], "reversed"),
    ("tracking_error_floor", -0.1, "tracking_error_floor"),
]


@pytest.mark.parametrize(("path", "value", "named"), CASES, ids=[f"{p}={v}" for p, v, _ in CASES])
def test_a_value_no_robot_has_is_refused_by_name(path, value, named):
    raw = json.loads(ASSET.read_text())
    PolicyManifest.from_dict(copy.deepcopy(raw))  # the asset itself is valid
    if path.startswith("robot.") and raw.get("robot") is None:
        pytest.skip("the asset has no robot section")
    _set(raw, path, value)
    with pytest.raises(PolicyDirError, match=named.replace("[", r"\[").replace("]", r"\]")):
        PolicyManifest.from_dict(raw)


def test_joints_must_match_the_actions():
    raw = json.loads(ASSET.read_text())
    raw["joints"] = raw["joints"][:-1]
    with pytest.raises(PolicyDirError, match=r"joints has 5 entries, action\.names 6"):
        PolicyManifest.from_dict(raw)


def _policy_copy(tmp_path):
    import shutil

    dst = tmp_path / "p"
    shutil.copytree(ASSET.parent, dst)
    return dst


@pytest.mark.parametrize(
    ("file", "named"),
    [
        ("../../etc/passwd", "must be a file name inside the policy dir"),
        ("/etc/passwd", "must be a file name inside the policy dir"),
        ("sub/policy.onnx", "must be a file name inside the policy dir"),
        ("link.onnx", "symbolic link"),
        ("fifo.onnx", "not a regular file"),
        ("nothing.onnx", "missing"),
    ],
)
def test_graph_files_stay_inside_the_policy_dir(tmp_path, file, named):
    import os

    from deploy.runtime import load_adapter

    d = _policy_copy(tmp_path)
    os.symlink(d / "policy.onnx", d / "link.onnx")
    os.mkfifo(d / "fifo.onnx")
    raw = json.loads((d / "manifest.json").read_text())
    raw["graphs"]["policy"]["file"] = file
    write_manifest(d, raw)
    with pytest.raises(PolicyDirError, match=named):
        load_adapter(d)  # refused before anything is read from the file (a FIFO would hang here)


def test_a_manifest_that_is_a_fifo_is_refused_not_read(tmp_path):
    import os

    d = _policy_copy(tmp_path)
    (d / "manifest.json").unlink()
    os.mkfifo(d / "manifest.json")
    with pytest.raises(PolicyDirError, match="not a regular file"):
        PolicyManifest.read(d)
