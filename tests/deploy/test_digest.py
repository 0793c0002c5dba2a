"""The policy dir's digest (issue 17): export writes SHA256SUMS for manifest.json and every graph; the robot side
refuses a dir whose files do not match it; `robot-meta seal` records a deliberate edit after checking it."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from deploy.manifest import DIGEST_FILE, PolicyDirError, PolicyManifest, read_digest
from robot_meta.cli import main

ASSET = Path(__file__).resolve().parents[2] / "robot_meta" / "assets" / "planar_runner_pearl"


def _copy(tmp_path: Path) -> Path:
    d = tmp_path / "policy"
    shutil.copytree(ASSET, d)
    return d


def test_export_seals_every_file_of_the_policy_dir(tiny_policies):
    for kind in ("pearl", "rl2", "rma", "dr"):
        d = tiny_policies / kind
        sums = read_digest(d)
        files = {p.name for p in d.iterdir()} - {DIGEST_FILE}
        assert set(sums) == files and "manifest.json" in files, (kind, sums)
        for name, digest in sums.items():
            assert hashlib.sha256((d / name).read_bytes()).hexdigest() == digest
        PolicyManifest.read(d)


def test_a_manifest_changed_after_export_is_refused(tmp_path):
    d = _copy(tmp_path)
    raw = json.loads((d / "manifest.json").read_text())
    raw["robot"]["safety"]["max_tilt_deg"] = 89.0  # a valid value: the digest alone refuses it
    (d / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(PolicyDirError, match=r"manifest\.json does not match its sha256 in SHA256SUMS"):
        PolicyManifest.read(d)
    (d / DIGEST_FILE).unlink()
    with pytest.raises(PolicyDirError, match="has no SHA256SUMS"):
        PolicyManifest.read(d)
    (d / DIGEST_FILE).write_text("not a digest line\n")
    with pytest.raises(PolicyDirError, match=r"line 1 'not a digest line' is not 'SHA256  FILE'"):
        PolicyManifest.read(d)


def test_a_digest_that_leaves_out_a_graph_is_refused(tmp_path):
    d = _copy(tmp_path)
    lines = [ln for ln in (d / DIGEST_FILE).read_text().splitlines() if not ln.endswith("encoder.onnx")]
    (d / DIGEST_FILE).write_text("".join(f"{ln}\n" for ln in lines))
    with pytest.raises(PolicyDirError, match=r"graphs\.encoder: SHA256SUMS .* does not list 'encoder.onnx'"):
        PolicyManifest.read(d)


def test_seal_checks_the_dir_before_recording_an_edit(tmp_path, capsys):
    d = _copy(tmp_path)
    raw = json.loads((d / "manifest.json").read_text())
    raw["robot"]["safety"]["max_tilt_deg"] = 60.0
    (d / "manifest.json").write_text(json.dumps(raw))
    assert main(["seal", str(d)]) == 0
    assert PolicyManifest.read(d).robot.safety.max_tilt_deg == 60.0
    before = (d / DIGEST_FILE).read_bytes()
    raw["action"]["scale"][0] = 1e308  # a bad value is refused by name, and the digest stays as it was
    (d / "manifest.json").write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["seal", str(d)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "action.scale[0]=1e+308" in err[0], err
    assert (d / DIGEST_FILE).read_bytes() == before
    raw["action"]["scale"][0] = 1.0
    (d / "manifest.json").write_text(json.dumps(raw))
    (d / "policy.onnx").write_bytes(b"replaced")
    assert main(["seal", str(d)]) == 2
    assert "graphs.policy: policy.onnx does not match the manifest's sha256" in capsys.readouterr().err
    assert (d / DIGEST_FILE).read_bytes() == before
