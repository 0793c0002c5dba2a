"""`robot-meta field`: the plan on the virtual robot, the report, and the report rebuilt from the logs."""

import json
import shutil

import pytest

from deploy.field import FieldPlan, PlanError, build_report, run_field
from deploy.manifest import PolicyManifest
from deploy.telemetry import read_log
from robot_meta.cli import main
from robot_meta.robots import virtual_robots

SHORT = dict(settle_s=0.5, baseline_s=2.0, hold_s=2.5, smooth_s=0.5, payloads_kg=[9.0])


@pytest.mark.realtime
def test_field_session_with_an_adaptive_and_a_non_adaptive_policy(tiny_policies, tmp_path, capsys):
    out = tmp_path / "report"
    plan = FieldPlan(**SHORT)
    policies = {"pearl": tiny_policies / "pearl", "dr": tiny_policies / "dr"}
    report = run_field(policies, out, plan, simulated=virtual_robots(plan.base_payload_kg), status=False)
    for f in ("report.json", "report.md", "tracking_error.png", "latent.png", "pearl.mcap", "dr.mcap"):
        assert (out / f).exists(), f
    (entry,) = report["comparison"]
    assert entry["payload_kg"] == 9.0
    for name in ("pearl", "dr"):
        c = entry[name]
        assert c["complete"] and c["pre_error"] > 0 and c["peak_error"] >= c["post_error"]
        assert c["adaptation_time_s"] is None or 0 <= c["adaptation_time_s"] <= plan.hold_s
        assert c["steady_error"] > 0
        assert report["sessions"][name]["reason"] == "stopped"
    assert "latent_shift" in entry["pearl"] and "latent_shift" not in entry["dr"]
    # PEARL's payload read-out (the manifest's): logged each tick from z, summarized per change, plotted
    manifest = PolicyManifest.read(tiny_policies / "pearl")
    ticks = read_log(out / "pearl.mcap")["/tick"]
    assert all(
        m["latent"]["payload_mass_estimate"] == pytest.approx(manifest.belief_readout.estimate(m["latent"]["z"]))
        for m in ticks
    )
    assert {"payload_estimate_before", "payload_estimate_after", "payload_estimate_settle_s"} <= set(entry["pearl"])
    assert (
        "payload_estimate_before" not in entry["dr"]
        and "payload_mass_estimate" not in read_log(out / "dr.mcap")["/tick"][0]["latent"]
    )
    assert f"| pearl | {entry['pearl']['payload_estimate_before']:.2f} |" in (out / "report.md").read_text()
    assert len(report["verdicts"]) == 1 and report["verdicts"][0].startswith("9 kg: ")
    events = [e["event"] for e in read_log(out / "pearl.mcap")["/event"]]
    assert events[:5] == ["plan", "armed", "baseline_start", "payload_change", "hold_end"]
    assert "## Payload 9 kg" in (out / "report.md").read_text()
    # the link's totals per session, and a warning in report.md for each one that fell behind
    for name in ("pearl", "dr"):
        link = report["policies"][name]["link"]
        assert 0 < link["rtt_p50_ms"] <= link["rtt_p99_ms"] and 0 <= link["late_share"] <= 1
        assert f"| {name} | {link['rtt_p50_ms']:.1f} | {link['rtt_p99_ms']:.1f} |" in (out / "report.md").read_text()
        assert any(w.startswith(f"{name}: the link fell behind") for w in report["warnings"]) == bool(link["slow"])
    # the sessions as the virtual robot moved: recorded between ticks, rendered afterwards, in report.md
    from PIL import Image

    assert Image.open(out / "pearl.gif").n_frames >= 40 and report["files"]["videos"] == {"pearl": "pearl.gif", "dr": "dr.gif"}
    assert "![pearl](pearl.gif)" in (out / "report.md").read_text()
    import imageio.v2 as iio  # and as MP4, linked from report.md, one frame per GIF frame

    assert iio.get_reader(out / "pearl.mp4").count_frames() == Image.open(out / "pearl.gif").n_frames
    assert report["files"]["mp4"]["pearl"] == "pearl.mp4" and "([MP4](pearl.mp4))" in (out / "report.md").read_text()

    # The same report from the recorded logs alone (copied elsewhere): identical numbers.
    again = tmp_path / "again"
    again.mkdir()
    logs = {n: shutil.copy(out / f"{n}.mcap", again / f"{n}.mcap") for n in ("pearl", "dr")}
    rebuilt = build_report(again, logs)
    assert rebuilt["comparison"] == json.loads(json.dumps(report["comparison"]))

    # A kill cuts the pearl log short (no footer, a torn last record): `log recover` rewrites it and `log report`
    # rebuilds the report from the recovered log and the whole one, with the ticks the kill left.
    data = (out / "pearl.mcap").read_bytes()
    killed = tmp_path / "killed" / "pearl.mcap"
    killed.parent.mkdir()
    killed.write_bytes(data[: int(len(data) * 0.8)])
    assert main(["log", "recover", str(killed)]) == 0
    capsys.readouterr()
    recovered = killed.with_name("pearl.recovered.mcap")
    assert main(["log", "report", str(recovered), f"dr={out / 'dr.mcap'}", "--out", str(tmp_path / "r2"), "--json"]) == 0
    r2 = json.loads(capsys.readouterr().out)
    assert set(r2["policies"]) == {"pearl", "dr"} and (tmp_path / "r2" / "report.md").exists()
    assert 0 < r2["policies"]["pearl"]["ticks"] < report["policies"]["pearl"]["ticks"]
    assert r2["policies"]["dr"] == {**report["policies"]["dr"], "log": str(out / "dr.mcap")}


def test_plan_files_are_checked_by_field(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("hold_s: -3\n")
    with pytest.raises(PlanError, match=r"hold_s=-3 must be a positive number of seconds"):
        FieldPlan.load(bad)
    bad.write_text("payload: 9\n")
    with pytest.raises(PlanError, match=r"unknown field\(s\) \['payload'\]"):
        FieldPlan.load(bad)
    good = tmp_path / "g.yaml"
    good.write_text("payloads_kg: [3.0, 9.0]\ntargets: {target_velocity: 2.0}\n")
    plan = FieldPlan.load(good)
    assert plan.payloads_kg == [3.0, 9.0] and plan.duration_s == 2 * (4 + 8 + 16)


def test_field_cli_refuses_a_bad_plan_before_touching_the_robot(tiny_policies, tmp_path, capsys):
    bad = tmp_path / "p.yaml"
    bad.write_text("baseline_s: 0\n")
    code = main(["field", str(tiny_policies / "pearl"), "--port", "virtual", "--out", str(tmp_path / "r"), "--plan", str(bad)])
    assert code == 2 and "baseline_s=0 must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.realtime
def test_on_hardware_the_operator_marks_the_change(tiny_policies, tmp_path, monkeypatch, capsys):
    """A real port (not 'virtual'): the field test prompts, keeps controlling, and marks the change at Enter."""
    import io

    from deploy.field import run_session
    from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware
    from firmware_bridge.virtual_robot_server import VirtualRobotThread
    from sim_tasks import get_family

    monkeypatch.setattr("sys.stdin", io.StringIO("\n\n"))  # confirm the starting payload, then the change
    fw = VirtualFirmware(get_family("planar_runner"), config=FirmwareConfig(rate_hz=20, watchdog_ms=150, arming_s=0.3))
    plan = FieldPlan(**{**SHORT, "hold_s": 1.0})
    with VirtualRobotThread(fw) as vr:
        res = run_session(tiny_policies / "pearl", plan, tmp_path / "hw.mcap", port=vr.port, status=False)
    assert res["reason"] == "stopped"
    err = capsys.readouterr().err
    assert "Set the payload to the base 0 kg, clear the area, then press Enter to arm" in err
    assert "Put the payload to 9 kg now, then press Enter" in err
    ev = {e["event"]: e for e in read_log(tmp_path / "hw.mcap")["/event"]}
    assert ev["payload_change"]["payload_kg"] == 9.0 and ev["payload_change"]["t"] >= plan.settle_s + plan.baseline_s


def test_a_command_schedule_is_checked_and_applied_at_its_times(tmp_path):
    from deploy.field import PlanSchedule

    bad = tmp_path / "p.yaml"
    bad.write_text("command_schedule: [[5, {target_velocity: 2.0}], [3, {target_velocity: 1.0}]]\n")
    with pytest.raises(PlanError, match="t_s increasing"):
        FieldPlan.load(bad)
    old = tmp_path / "old.yaml"
    old.write_text("targets: {target_velocity: 2.5}\n")  # the old name of commands
    assert FieldPlan.load(old).commands == {"target_velocity": 2.5}

    class Deployment:  # what PlanSchedule asks of a deployment: commands and a stop
        def __init__(self):
            self.set, self.stopped = [], None

        def set_command(self, name, value):
            self.set.append((name, value))

        def stop(self, reason):
            self.stopped = reason

    plan = FieldPlan(**{**SHORT, "command_schedule": [[1.0, {"target_velocity": 2.0}], [1.5, {"target_velocity": 1.0}]]})
    d = Deployment()
    schedule = PlanSchedule(plan, d, robot=None)
    events = [schedule(k, k * 0.05) for k in range(40)]
    commands = [e for e in events if e and e["event"] == "command"]
    assert commands == [{"event": "command", "target_velocity": 2.0}, {"event": "command", "target_velocity": 1.0}]
    assert d.set == [("target_velocity", 2.0), ("target_velocity", 1.0)]


def test_the_verdict_says_speed_and_steady_error_apart():
    """A policy that settles fast at a worse error is not the better one by its speed alone: the verdict names
    the lower steady error separately (the fair online metric)."""
    from deploy.field import _steady_clause

    assert _steady_clause("rma", "dr", 0.01, 0.03) == "; with the new payload rma holds the lower error (0.01 vs 0.03, 3.00x)"
    assert _steady_clause("rma", "dr", 0.05, 0.02).startswith("; with the new payload dr holds the lower error")
    assert _steady_clause("rma", "dr", 0.030, 0.031) == "; with the new payload both hold the same error (within 10%)"
    assert _steady_clause("rma", "dr", None, 0.03) == ""


def test_a_slow_link_is_named_with_its_reasons():
    """A session whose ticks ran late or whose round trip exceeded the control period is flagged, each reason with
    its number; one that kept up is not; a log cut short before its link totals has none."""
    from deploy.field import _link_quality

    ok = _link_quality({"rtt_p50_us": 3000.0, "rtt_p99_us": 9000.0, "late_ticks": 3}, 1000, 0.05)
    assert ok == {"rtt_p50_ms": 3.0, "rtt_p99_ms": 9.0, "late_ticks": 3, "late_share": 0.003, "slow": []}
    late = _link_quality({"rtt_p50_us": 3000.0, "rtt_p99_us": 9000.0, "late_ticks": 30}, 1000, 0.05)
    assert late["slow"] == ["30 of 1000 ticks ran late (3.0%, more than 1%)"]
    rtt = _link_quality({"rtt_p50_us": 20000.0, "rtt_p99_us": 61000.0, "late_ticks": 0}, 1000, 0.05)
    assert rtt["slow"] == ["round trip p99 61.0 ms, more than the 50 ms control period"]
    assert _link_quality({"rtt_p50_us": 900.0, "rtt_p99_us": 10500.0, "late_ticks": 1}, 1000, 0.02)["slow"] == []
    assert _link_quality({"rtt_p50_us": float("nan"), "rtt_p99_us": float("nan"), "late_ticks": 0}, 10, 0.05)["slow"] == []
    assert _link_quality({}, 1000, 0.05) == {}


def test_warnings_print_above_the_verdicts():
    """`field`, `log report` and the demo print one summary: each slow link's warning, then each verdict."""
    from deploy.field import summary_lines

    report = {"warnings": ["dr: the link fell behind (x)"], "verdicts": ["9 kg: a", "12 kg: b"]}
    assert summary_lines(report) == ["warning: dr: the link fell behind (x)", "verdict: 9 kg: a", "verdict: 12 kg: b"]
    assert summary_lines({"verdicts": ["9 kg: a"]}) == ["verdict: 9 kg: a"]
