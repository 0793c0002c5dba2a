"""docs/scripts/pool_sensitivity.py: issue 15's verdict at the heaviest payload over pooled training pairs."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "scripts" / "pool_sensitivity.py"
PAIRS_0_3 = ["--pair", "0.522,0.179", "--pair", "0.743,0.276", "--pair", "0.364,0.152", "--pair", "0.307,0.236"]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)


def _verdict(*args: str) -> dict:
    """The pooled verdict: the script's last line of output, JSON."""
    out = _run(*args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_documented_pairs_reproduce_their_interval_and_pool_with_a_report(tmp_path):
    v = _verdict("--kg", "10", *PAIRS_0_3)
    assert v["training_seeds"] == 4 and v["status"] == "inconclusive"
    assert [round(x, 3) for x in v["margin_at_heaviest_ci95"]] == [-0.093, 0.428]  # docs/commands.md, 4 pairs
    # a report's pairs join them: its last payload is the heaviest, its per-seed rows the pairs
    report = {
        "family": "planar_runner",
        "payloads_kg": [0.0, 10.0],
        "steady_error_per_training_seed": {"dr": [[0.3, 0.9], [0.3, 0.8]], "oracle": [[0.2, 0.2], [0.2, 0.1]]},
        "verdict": {"text": "made by hand"},
    }
    (tmp_path / "r.json").write_text(json.dumps(report))
    pooled = _verdict(str(tmp_path / "r.json"), *PAIRS_0_3)
    assert pooled["training_seeds"] == 6
    dr = [0.9, 0.8, 0.522, 0.743, 0.364, 0.307]
    oracle = [0.2, 0.1, 0.179, 0.276, 0.152, 0.236]
    assert abs(pooled["ratio_at_heaviest"] - sum(dr) / sum(oracle)) < 1e-9


def test_the_committed_report_and_pairs_0_3_reproduce_the_documented_8_pair_verdict():
    """docs/commands.md and the README quote this pooled verdict; the report is the committed one."""
    v = _verdict(str(ROOT / "docs" / "results" / "p24_sensitivity_rma_runner_x4.json"), *PAIRS_0_3)
    assert v["training_seeds"] == 8 and v["status"] == "passes" and round(v["ratio_at_heaviest"], 2) == 2.38
    assert [round(x, 3) for x in v["margin_at_heaviest_ci95"]] == [0.004, 0.310]


def test_bad_input_is_named():
    assert "--kg" in _run("--pair", "0.5,0.2").stderr
    assert "'0.5'" in _run("--kg", "10", "--pair", "0.5").stderr
    assert "no pairs" in _run().stderr


def test_the_committed_reports_reproduce_the_documented_11_pair_verdict():
    """The thirty-second and thirty-third sessions' pairs (seeds 0-2, 14-19M env steps) joined to the 8 above:
    docs/commands.md and the README quote this verdict."""
    reports = ["p24_sensitivity_rma_runner_x4.json", "p32_sensitivity_runner_x2.json", "p33_sensitivity_runner_s2.json"]
    v = _verdict(*(str(ROOT / "docs" / "results" / r) for r in reports), *PAIRS_0_3)
    assert v["training_seeds"] == 11 and v["status"] == "passes" and round(v["ratio_at_heaviest"], 2) == 2.29
    assert [round(x, 3) for x in v["margin_at_heaviest_ci95"]] == [0.021, 0.269]


def test_seed_3s_pair_leaves_the_verdict_passing_over_12():
    """The thirty-fourth session's pair (seed 3, 19.4M and 19.7M env steps, 1.76x at 10 kg) joined to the 11."""
    reports = [
        "p24_sensitivity_rma_runner_x4.json",
        "p32_sensitivity_runner_x2.json",
        "p33_sensitivity_runner_s2.json",
        "p34_sensitivity_runner_s3.json",
    ]
    v = _verdict(*(str(ROOT / "docs" / "results" / r) for r in reports), *PAIRS_0_3)
    assert v["training_seeds"] == 12 and v["status"] == "passes" and round(v["ratio_at_heaviest"], 2) == 2.26
    assert [round(x, 3) for x in v["margin_at_heaviest_ci95"]] == [0.021, 0.249]
