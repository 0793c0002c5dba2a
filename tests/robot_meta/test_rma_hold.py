"""docs/scripts/rma_hold.py: how an RMA run holds the field test's points with no payload, per latency and noise."""

import subprocess
import sys
from pathlib import Path

from robot_meta.cli import main
from tests.tiny import RMA_SETS

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "scripts" / "rma_hold.py"


def _train(out: Path, *extra: str) -> str:
    args = ["train", "--algo", "rma", "--task", "planar_arm", "--out", str(out), "--steps", "160", "--seed", "0"]
    assert main([*args, "--json", *(a for s in (*RMA_SETS, *extra) for a in ("--set", s))]) == 0
    return str(out)


def test_a_student_run_gives_its_three_methods_and_a_dr_run_its_teacher_named_dr(tmp_path):
    student = _train(tmp_path / "rma")
    dr = _train(tmp_path / "dr", "privileged=false", "teacher_iterations=100000")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), student, dr, "--latency", "0", "1", "--noise", "0"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split(" | ") for line in done.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("rma", m, lat) for m in ("rma", "prior_only", "teacher") for lat in ("0", "1")
    ] + [("dr", "dr", "0"), ("dr", "dr", "1")]
    errors = [[float(v) for v in r[4].split()] for r in rows]
    assert all(len(e) == 5 and all(0.0 < v < 1e4 for v in e) for e in errors)
    # one step of action latency changes what the same policy does from the same starts
    assert errors[0] != errors[1]
