"""The eval reports kept in docs/results (compacted by docs/scripts/compact_eval.py) reproduce, through
docs/scripts/paired_evals.py, the issue-16 verdicts that docs/belief.md quotes from them."""

import json
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "results"


def _paired(capsys, monkeypatch, *argv: str) -> list[str]:
    monkeypatch.chdir(RESULTS)
    monkeypatch.setattr(sys, "argv", ["paired_evals.py", *argv])
    runpy.run_path(str(ROOT / "docs" / "scripts" / "paired_evals.py"), run_name="__main__")
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize(
    "reports, method, quoted",
    [
        # the arm's bounded parameter-student, 3 seeds each against its own pair (thirty-first session)
        ("p31_eval_affparB_x3.json", "rma", "  excess_steady: -0.004 [-0.005, -0.003] (n=90; A +0.002, B +0.012)"),
        # RL² on the runner, seeds 0 and 1 against the thirty-second session's pairs (thirty-third session)
        (
            "p33_eval_rl2_s0.json,p33_eval_rl2_s1.json",
            "rl2",
            "  excess_steady: -0.010 [-0.086, +0.065] (n=70; A +0.001, B +0.022)",
        ),
        # seeds 0-2, seed 2 against the thirty-third session's pair (thirty-fourth session)
        (
            "p33_eval_rl2_s0.json,p33_eval_rl2_s1.json,p34_eval_rl2_s2.json",
            "rl2",
            "  excess_steady: -0.007 [-0.061, +0.050] (n=105; A +0.006, B +0.027)",
        ),
        # the same runs, where the payload is on from the start
        (
            "p33_eval_rl2_s0.json,p33_eval_rl2_s1.json,p34_eval_rl2_s2.json",
            "rl2",
            "  start_excess_steady: -0.047 [-0.104, +0.005] (n=105; A +0.036, B +0.166)",
        ),
        # seeds 0-3, seed 3 against its own pair of the thirty-fourth session
        (
            "p33_eval_rl2_s0.json,p33_eval_rl2_s1.json,p34_eval_rl2_s2.json,p34_eval_rl2_s3.json",
            "rl2",
            "  excess_steady: -0.008 [-0.053, +0.036] (n=140; A +0.026, B +0.069)",
        ),
        # the arm's student trained with the bound from the start, seed 0 (thirty-fourth session)
        ("p34_eval_armBT_s0.json", "rma", "  excess_steady: +0.003 [+0.002, +0.004] (n=30; A +0.007, B +0.008)"),
    ],
    ids=[
        "arm_bounded_student",
        "runner_rl2_s01",
        "runner_rl2_s012",
        "runner_rl2_s012_from_start",
        "runner_rl2_s0123",
        "arm_bound_trained_s0",
    ],
)
def test_a_kept_report_reproduces_its_quoted_excess_verdict(capsys, monkeypatch, reports, method, quoted):
    out = _paired(capsys, monkeypatch, f"{reports}:{method}", f"{reports}:dr", "--region", "extrapolation", "--b-scale", "0.5")
    assert quoted in out, out
    summary = next(f for f in RESULTS.glob("p3[134]_paired*.txt") if quoted in f.read_text())
    assert summary.name in (
        "p31_paired_x3.txt",
        "p33_paired_rl2_runner_x2.txt",
        "p34_paired_rl2_runner_x3.txt",
        "p34_paired_rl2_runner_x4.txt",
        "p34_paired_armBT_s0.txt",
    )


def test_a_compacted_report_keeps_every_per_run_number():
    spec = runpy.run_path(str(ROOT / "docs" / "scripts" / "compact_eval.py"))
    kept = json.loads((RESULTS / "p33_eval_rl2_s0.json").read_text())
    assert spec["compact"](kept) == kept  # compacting again changes nothing
    online = kept["per_seed"][0]["online"]
    assert set(online) == {"rl2", "prior_only", "dr", "oracle"} and all("errors" not in r for r in online.values())
    assert len(online["rl2"]["excess_steady"]) == len(kept["per_seed"][0]["online_regions"]) == 45


def test_the_median_adaptation_time_has_an_interval(capsys, monkeypatch):
    """The runner's time bar (median under 1 s) over seeds 0-1 with its bootstrap interval; runs that never
    settle do not enter the median, and a resample where none settled counts as never."""
    reports = "p33_eval_rl2_s0.json,p33_eval_rl2_s1.json"
    out = _paired(capsys, monkeypatch, f"{reports}:rl2", f"{reports}:dr", "--region", "extrapolation")
    assert "  rl2 adaptation time: median 0.45 s [0.30, 0.85] (67/70 settled)" in out, out
    import numpy as np

    from robot_meta.eval_run import _median_ci

    assert _median_ci(np.array([0.5, 0.5, 0.5])) == [0.5, 0.5]
    assert _median_ci(np.array([np.nan, np.nan, 0.2])) == [0.2, None]  # some resamples never settled
