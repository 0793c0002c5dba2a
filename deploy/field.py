"""`robot-meta field`: a field-test session as a robotics team runs one, and its report.

For every payload of the plan: settle, a baseline period, the payload change (a simulated robot changes it
when asked; on hardware the operator is prompted and the change is marked when they press Enter), a hold
period; then the payload goes back to the base one before the next. Every tick and every mark goes to an
MCAP log per policy, and the report is built from those logs (so a report can be rebuilt from a recorded
session with `build_report`): tracking error before and after, peak error, the time to settle at the
policy's own steady error with the new payload, the latent's trajectory; `report.json`, `report.md` and PNG plots. The same
plan can be run with a non-adaptive policy (the domain-randomized baseline, exported with
`robot-meta export RUN_DIR --baseline dr`) and the report puts both side by side.

The adaptation time is `deploy.metrics.adaptation_time`, the evaluation's own definition: until the error
settles at the same policy's steady error with the new payload, which on a robot is the mean over the last
`steady_s` of the hold; the error is smoothed over `smooth_s`, as a single robot run is far noisier than the
mean over 20 simulated tasks. Which robot a session runs on is the caller's choice (a port URL, or a
`SimulatedRobot` started for the policy's family): this module never starts a simulator itself.
"""

from __future__ import annotations

import json
import math
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from deploy.control import DeployConfig, Deployment
from deploy.manifest import PolicyManifest
from deploy.metrics import SETTLE_BAND, adaptation_time, change_stats, settle_times, trailing_mean
from deploy.robot_io import Commands
from deploy.telemetry import TelemetryLog, jsonable, read_log


class PlanError(ValueError):
    """The field plan file is malformed; the message names the field."""


@dataclass
class FieldPlan:
    """What a field session does (YAML or JSON file; every field optional).

    Attributes:
        commands: what the operator sets at the start, e.g. {"target_velocity": 1.5} m/s ("targets" is its
            old name in plan files).
        command_schedule: later commands, [[t_s, {name: value}], ...], t_s from arming, applied in order
            (a planner's changing command; the payload changes stay the plan's experiment).
        payloads_kg: payloads to test, in order, kg.
        base_payload_kg: the payload before each change and between changes, kg.
        settle_s: after arming and after each restore, not scored, s.
        baseline_s: scored period before each change, s (defines the pre-change error).
        hold_s: scored period after each change, s.
        smooth_s: moving average over the error for the adaptation time, s.
        steady_s: the end of the hold whose mean error is the policy's steady error with the new payload, s
            (None: the last quarter of the hold).
    """

    commands: dict[str, float] = field(default_factory=lambda: {"target_velocity": 2.5})
    command_schedule: list[list[Any]] = field(default_factory=list)
    payloads_kg: list[float] = field(default_factory=lambda: [9.0])
    base_payload_kg: float = 0.0
    settle_s: float = 4.0
    baseline_s: float = 8.0
    hold_s: float = 16.0
    smooth_s: float = 2.0
    steady_s: float | None = None

    @classmethod
    def load(cls, path: str | Path | None, defaults: dict[str, Any] | None = None) -> FieldPlan:
        """The plan in `path` (YAML or JSON) over `defaults` (a policy's `manifest.field_plan`, the family's
        default field test), over the class defaults (the runner's); checked."""
        if path is None:
            plan = cls(**(defaults or {}))
            plan.validate("the manifest's field_plan")
            return plan
        import yaml

        try:
            text = Path(path).read_text()
            raw = yaml.safe_load(text)  # YAML 1.1 reads JSON too; safe_load constructs no Python objects
        except OSError as exc:
            raise PlanError(f"cannot read the field plan {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise PlanError(f"{path} is not UTF-8 text (byte {exc.start}): give a YAML or JSON field plan") from None
        except (yaml.YAMLError, RecursionError) as exc:
            raise PlanError(f"{path} is not a valid YAML/JSON field plan: {' '.join(str(exc).split())[:200]}") from None
        if not isinstance(raw, dict):
            raise PlanError(f"{path}: a field plan is a mapping of the fields of FieldPlan, got {type(raw).__name__}")
        if "targets" in raw and "commands" not in raw:  # the old name
            raw["commands"] = raw.pop("targets")
        if defaults and "commands" in raw:  # a plan's commands replace the defaults' (another family's names)
            defaults = {k: v for k, v in defaults.items() if k not in ("commands", "command_schedule")}
        raw = {**(defaults or {}), **raw}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(raw) - known)
        if unknown:
            raise PlanError(f"{path}: unknown field(s) {unknown}; known: {sorted(known)}")
        plan = cls(**raw)
        plan.validate(str(path))
        return plan

    def validate(self, where: str = "plan") -> None:
        for name in ("settle_s", "baseline_s", "hold_s", "smooth_s", *(("steady_s",) if self.steady_s is not None else ())):
            v = getattr(self, name)
            if not isinstance(v, int | float) or v <= 0:
                raise PlanError(f"{where}: {name}={v!r} must be a positive number of seconds")
        if not self.payloads_kg or not all(isinstance(k, int | float) and k >= 0 for k in self.payloads_kg):
            raise PlanError(f"{where}: payloads_kg={self.payloads_kg!r} must be a non-empty list of masses >= 0 kg")
        if not isinstance(self.commands, dict) or not all(
            isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) for k, v in self.commands.items()
        ):
            raise PlanError(f"{where}: commands={self.commands!r} must map command names to numbers")
        last = -1.0
        for entry in self.command_schedule:
            ok = isinstance(entry, list | tuple) and len(entry) == 2 and isinstance(entry[0], int | float)
            if not ok or not isinstance(entry[1], dict) or entry[0] < last:
                raise PlanError(
                    f"{where}: command_schedule entry {entry!r} must be [t_s, {{name: value}}] with t_s increasing"
                )
            last = entry[0]
        if self.steady_s is not None and self.steady_s > self.hold_s / 2:
            raise PlanError(f"{where}: steady_s={self.steady_s} should be at most half of hold_s={self.hold_s}")
        if self.baseline_s < 2 * self.smooth_s:
            raise PlanError(f"{where}: baseline_s={self.baseline_s} should be at least 2 x smooth_s={self.smooth_s}")

    def check_policy(self, manifest: PolicyManifest, name: str = "policy") -> None:
        """Refuse, before anything is armed, a plan this policy cannot run: a payload outside its family's
        allowed range, a command it lacks, out of range or out of its arm's reach (now or in the schedule)."""
        payload = manifest.param("payload_mass")
        if payload is not None:
            lo, hi = payload.allowed
            for kg in (*self.payloads_kg, self.base_payload_kg):
                if not lo <= kg <= hi:
                    raise PlanError(
                        f"payload {kg:g} kg is outside {manifest.family}'s allowed range [{lo:g}, {hi:g}] kg ({name})"
                    )
        commands = Commands(manifest, self.commands)
        for _, values in self.command_schedule:
            for k, v in values.items():
                commands.set(k, v)

    @property
    def steady_window_s(self) -> float:
        """The end of the hold that defines the steady error, s."""
        return self.steady_s if self.steady_s is not None else self.hold_s / 4

    @property
    def duration_s(self) -> float:
        return len(self.payloads_kg) * (self.settle_s + self.baseline_s + self.hold_s)


class SimulatedRobot(Protocol):
    """A robot whose payload the session can change itself (the virtual robot of `firmware_bridge`)."""

    port: str

    def set_payload(self, kg: float) -> None: ...

    def close(self) -> None: ...


class PlanSchedule:
    """The plan as a state machine driven by the control loop's `on_tick(k, t)`.

    A change is requested at its time; on a `SimulatedRobot` it is applied at once (between two physics
    ticks), otherwise the operator is prompted and the mark is their Enter key. Times of record are the marks.
    """

    def __init__(self, plan: FieldPlan, deployment: Deployment, robot: SimulatedRobot | None = None) -> None:
        self.p, self.d, self.robot = plan, deployment, robot
        self.i = 0
        self.next_command = 0
        self.phase = "settle"
        self.t_phase = 0.0
        self._enter = threading.Event()
        self._prompted = False

    def _change(self, kg: float, t: float, what: str) -> dict[str, Any] | None:
        if self.robot is not None:
            self.robot.set_payload(kg)
            return {"event": what, "payload_kg": kg, "index": self.i}
        if not self._prompted:
            self._prompted = True
            self._enter.clear()
            verb = "Put" if what == "payload_change" else "Restore"
            print(f"\n[field] {verb} the payload to {kg:g} kg now, then press Enter", file=sys.stderr, flush=True)
            threading.Thread(target=lambda: (sys.stdin.readline(), self._enter.set()), daemon=True).start()
        if self._enter.is_set():
            self._prompted = False
            return {"event": what, "payload_kg": kg, "index": self.i}
        return None

    def __call__(self, k: int, t: float) -> dict[str, Any] | None:
        p = self.p
        if self.next_command < len(p.command_schedule) and t >= p.command_schedule[self.next_command][0]:
            values = p.command_schedule[self.next_command][1]
            for name, value in values.items():
                self.d.set_command(name, value)
            self.next_command += 1
            return {"event": "command", **values}
        elapsed = t - self.t_phase
        if self.phase == "settle" and elapsed >= p.settle_s:
            self.phase, self.t_phase = "baseline", t
            return {"event": "baseline_start", "index": self.i}
        if self.phase == "baseline" and elapsed >= p.baseline_s:
            e = self._change(p.payloads_kg[self.i], t, "payload_change")
            if e:
                self.phase, self.t_phase = "hold", t
            return e
        if self.phase == "hold" and elapsed >= p.hold_s:
            last = self.i == len(p.payloads_kg) - 1
            if last:
                self.d.stop("stopped")
                self.phase = "done"
                return {"event": "hold_end", "index": self.i}
            e = self._change(p.base_payload_kg, t, "payload_restore")
            if e:
                self.i += 1
                self.phase, self.t_phase = "settle", t
                e["event"] = "hold_end_restore"
            return e
        return None


def run_session(
    policy_dir: Path,
    plan: FieldPlan,
    log_path: Path,
    port: str | None = None,
    robot: SimulatedRobot | None = None,
    status: bool = True,
    max_delta: float = 1.0,
) -> dict[str, Any]:
    """One policy through the whole plan, on the robot at `port` (hardware: the operator changes the payload)
    or on `robot` (a simulated robot: the session changes the payload itself)."""
    if (port is None) == (robot is None):
        raise ValueError("run_session takes a port or a simulated robot, not both")
    # The plan ends the session; on a simulated robot a cap guards against a schedule that never ends, on
    # hardware the operator's prompts set the pace, so there is no cap (Ctrl-C e-stops).
    cap = plan.duration_s + 60.0 if robot is not None else None
    # A simulated robot is served by a thread of this process: on a loaded machine the GIL can hold its STATE
    # back for a few periods, which on hardware would be a dying link. The stale guard stays, looser (10
    # periods) for it; on hardware it is the deploy default.
    stale = {"stale_periods": 10.0} if robot is not None else {}
    cfg = DeployConfig(duration_s=cap, commands=dict(plan.commands), status=status, max_delta=max_delta, **stale)
    log = TelemetryLog(log_path)
    try:
        d = Deployment(policy_dir, robot.port if robot is not None else port, cfg, log=log)
        plan.check_policy(d.manifest)  # payloads, commands and reach, later ones too, before anything is armed
        if robot is None:  # hardware: nothing arms before the operator confirms the starting payload
            print(
                f"[field] Set the payload to the base {plan.base_payload_kg:g} kg, clear the area, then press Enter to arm "
                f"{Path(policy_dir).name}",
                file=sys.stderr,
                flush=True,
            )
            sys.stdin.readline()
        log.write("/event", {"event": "plan", "t": 0.0, **asdict(plan), "policy_dir": str(policy_dir)})
        result = d.run(PlanSchedule(plan, d, robot))
    finally:
        log.close()
    return result.to_dict()


# ---- the report, from the logs ---------------------------------------------------------------------------
LATENT_VECTORS = {  # /tick latent keys that hold the adapter's belief as a vector, and what the plot calls it
    "z": "posterior mean of z (window of recent transitions)",
    "extrinsics": "extrinsics e estimated from the recent (obs, action) history",
}
LATENT_SYMBOL = {"z": "z", "extrinsics": "e"}
PAYLOAD_ESTIMATE = "payload_mass_estimate"  # /tick latent key of the manifest's payload read-out (kg)
# A session whose link fell behind ran its policy on older states than the loop's period promises, so its
# numbers say as much about the machine as about the policy: the report warns past either limit.
SLOW_LINK_LATE_SHARE = 0.01  # ticks that ran past their deadline, share of all ticks
# Round trip COMMAND -> acknowledging STATE, p99, in control periods: past one period the acknowledging STATE
# comes after the next tick, which then acts on a state that does not show the last command yet. (The arm's 61
# field sessions of the thirty-second session, 50 Hz, trainings on the same 2 cores: p99 6.0-22.4 ms, median
# 10.6 ms, at most 2 late ticks; the runner's demo, 20 Hz, loaded: 40 ms.)
SLOW_LINK_RTT_PERIODS = 1.0


def analyse_log(path: Path) -> dict[str, Any]:
    """Per payload change: pre/post/peak error, the steady error at the end of the hold, the adaptation time to
    it, and the series for the plots."""

    log = read_log(path)
    # "protocol" is what logs written before the plan had its own name call the event
    plan_ev = next((e for e in log["/event"] if e["event"] in ("plan", "protocol")), None)
    if plan_ev is None:
        raise PlanError(f"{path} is not a field-session log (no plan event)")
    plan = FieldPlan(**{k: plan_ev[k] for k in FieldPlan.__dataclass_fields__ if k in plan_ev})
    session = log["/session"][0] if log["/session"] else {}
    ticks = log["/tick"]
    t = np.array([m["t"] for m in ticks])
    err = np.array([m["tracking_error"] if m["tracking_error"] is not None else np.nan for m in ticks], dtype=float)
    # The adapter's belief as a vector: PEARL's posterior mean z, or RMA's extrinsics estimate (RL²: not logged)
    key = next((k for k in LATENT_VECTORS if ticks and k in ticks[0]["latent"]), None)
    latent = np.array([m["latent"][key] for m in ticks], dtype=float) if key else None
    # The manifest's read-out of the payload from that belief, when the policy has one (deploy.control)
    estimate = (
        np.array([m["latent"][PAYLOAD_ESTIMATE] for m in ticks], dtype=float)
        if ticks and PAYLOAD_ESTIMATE in ticks[0]["latent"]
        else None
    )
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.05
    floor = float(session.get("tracking_error_floor") or 0.0)  # logs written before the manifest had one: 0
    events = log["/event"]
    changes = []
    for ev in (e for e in events if e["event"] == "payload_change"):
        i = ev["index"]
        start = next((e["t"] for e in events if e["event"] == "baseline_start" and e["index"] == i), ev["t"] - plan.baseline_s)
        end = next(
            (e["t"] for e in events if e["event"] in ("hold_end", "hold_end_restore") and e["index"] == i),
            t[-1] if len(t) else ev["t"],
        )
        sel = (t >= start) & (t < end)
        e_seg = err[sel]
        c = int(np.searchsorted(t[sel], ev["t"]))
        if c < 2 or c >= len(e_seg) - 1:
            changes.append({"index": i, "payload_kg": ev["payload_kg"], "t_change": ev["t"], "complete": False})
            continue
        stats = change_stats(e_seg[None], c, dt, pre_window_s=plan.baseline_s)
        # The steady reference on a robot: the end of the hold (no run that starts with the payload exists)
        n_steady = max(1, round(plan.steady_window_s / dt))
        steady = np.array([float(np.nanmean(e_seg[-n_steady:]))])
        adapt = adaptation_time(e_seg[None], c, dt, steady, floor, smooth_s=plan.smooth_s)[0]
        k = max(1, round(plan.smooth_s / dt))
        post_smooth = np.convolve(e_seg[c:], np.ones(k) / k, mode="valid")
        worst = float(post_smooth.max()) if post_smooth.size else float("nan")
        changes.append(
            {
                "index": i,
                "payload_kg": ev["payload_kg"],
                "t_change": ev["t"],
                "complete": end - ev["t"] >= plan.hold_s - 2 * dt,
                "pre_error": stats["pre_error"][0],
                "post_error": stats["post_error"][0],
                "peak_error": stats["peak_error"][0],
                "steady_error": float(steady[0]),
                "adaptation_time_s": adapt,
                # Did the change hurt at all? (the smoothed error rose past 1.1 x its pre-change level)
                "degraded": bool(worst > 1.1 * stats["pre_error"][0]),
                "worst_smoothed_error": worst,
                **_latent_shift(latent, t, start, ev["t"], end),
                **_estimate_stats(estimate, t, start, ev["t"], end, ev["payload_kg"], dt, plan.smooth_s),
            }
        )
    end_ev = next((e for e in reversed(events) if e["event"] in ("estop", "disarm")), None)
    link = log["/link"][-1] if log["/link"] else {}  # the session's totals, written at shut-down
    return {
        "log": str(path),
        "policy": session.get("policy", {}),
        "adaptation": session.get("adaptation"),
        "plan": asdict(plan),
        "changes": changes,
        "end": end_ev,
        "ticks": len(ticks),
        "link": _link_quality(link, len(ticks), dt),
        "latent_key": key,
        "latent_name": LATENT_VECTORS.get(key or "", None),
        "series": {"t": t, "error": err, "latent": latent, "estimate": estimate, "dt": dt},
    }


def _link_quality(link: dict[str, Any], ticks: int, period_s: float) -> dict[str, Any]:
    """The session's link totals as the report shows them (RTT in ms, the late ticks' share) and, when it fell
    behind (`SLOW_LINK_LATE_SHARE`, `SLOW_LINK_RTT_PERIODS`), why: `slow` lists the reasons, empty when it kept up.
    Logs without link totals (a session cut short before shut-down) give {}."""
    if not link:
        return {}
    p50, p99 = (float(link.get(k, float("nan"))) / 1e3 for k in ("rtt_p50_us", "rtt_p99_us"))
    late = int(link.get("late_ticks", 0))
    share = late / ticks if ticks else 0.0
    slow = []
    if share > SLOW_LINK_LATE_SHARE:
        slow.append(f"{late} of {ticks} ticks ran late ({share:.1%}, more than {SLOW_LINK_LATE_SHARE:.0%})")
    if math.isfinite(p99) and p99 > SLOW_LINK_RTT_PERIODS * period_s * 1e3:
        slow.append(f"round trip p99 {p99:.1f} ms, more than the {period_s * 1e3:.0f} ms control period")
    return {"rtt_p50_ms": p50, "rtt_p99_ms": p99, "late_ticks": late, "late_share": share, "slow": slow}


def _estimate_stats(
    estimate: np.ndarray | None,
    t: np.ndarray,
    start: float,
    change: float,
    end: float,
    kg: float,
    dt: float,
    smooth_s: float,
) -> dict[str, Any]:
    """The payload estimate's mean over the baseline and over the last quarter of the hold, and the time from
    the change until its trailing mean over `smooth_s` (the plot's thick line) stays within `SETTLE_BAND` of the
    new payload to the end of the hold (None: it does not)."""
    if estimate is None:
        return {}
    before = estimate[(t >= start) & (t < change)]
    after = estimate[(t >= end - 0.25 * (end - change)) & (t < end)]
    if not len(before) or not len(after):
        return {}
    seg = estimate[(t >= start) & (t < end)]  # from the baseline on: the trailing mean at the change looks back
    settle = settle_times(seg[None], [kg], len(before) * dt, dt, smooth_s)[0]
    return {
        "payload_estimate_before": float(before.mean()),
        "payload_estimate_after": float(after.mean()),
        "payload_estimate_settle_s": None if math.isnan(settle) else settle,
    }


def _true_payload(analysis: dict[str, Any], t: np.ndarray) -> np.ndarray:
    """The payload on the robot at each tick time: the base, then each change's payload until it is restored."""
    kg = np.full(len(t), float(analysis["plan"]["base_payload_kg"]))
    for ch in analysis["changes"]:
        kg[t >= ch["t_change"]] = ch["payload_kg"]
        restore = ch["t_change"] + analysis["plan"]["hold_s"]
        kg[t >= restore] = analysis["plan"]["base_payload_kg"]
    return kg


def _latent_shift(latent: np.ndarray | None, t: np.ndarray, start: float, change: float, end: float) -> dict[str, Any]:
    """Mean latent over the baseline and over the last quarter of the hold, and how far it moved."""
    if latent is None or not len(t):
        return {}
    before = latent[(t >= start) & (t < change)]
    after = latent[(t >= end - 0.25 * (end - change)) & (t < end)]
    if not len(before) or not len(after):
        return {}
    b, a = before.mean(0), after.mean(0)
    return {"latent_before": b.tolist(), "latent_after": a.tolist(), "latent_shift": float(np.linalg.norm(a - b))}


def _fmt(x: Any, unit: str = "", none: str = "never") -> str:
    if x is None:
        return none
    return f"{x:.2f}{unit}"


def _steady_clause(a_name: str, s_name: str, ea: float | None, es: float | None) -> str:
    """How the two steady errors compare with the new payload: speed and accuracy are said apart, so that a
    policy that settles fast at a worse error is never ranked the better one by its speed alone."""
    if ea is None or es is None or not (np.isfinite(ea) and np.isfinite(es)) or max(ea, es) <= 0:
        return ""
    if abs(ea - es) <= 0.1 * max(ea, es):
        return "; with the new payload both hold the same error (within 10%)"
    better = a_name if ea < es else s_name
    return f"; with the new payload {better} holds the lower error ({min(ea, es):.3g} vs {max(ea, es):.3g}, {max(ea, es) / min(ea, es):.2f}x)"


def build_report(out: Path, logs: dict[str, Path]) -> dict[str, Any]:
    """report.json, report.md and the PNGs in `out`, from the session logs {policy name: MCAP path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    analyses = {name: analyse_log(path) for name, path in logs.items()}
    out.mkdir(parents=True, exist_ok=True)
    names = list(analyses)
    plan = analyses[names[0]]["plan"]
    smooth_n = max(1, round(plan["smooth_s"] / analyses[names[0]]["series"]["dt"]))

    # Tracking error vs time, smoothed, one row per payload, policies overlaid, the change marked.
    payloads = plan["payloads_kg"]
    fig, axes = plt.subplots(len(payloads), 1, figsize=(9, 3.2 * len(payloads)), squeeze=False)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for row, kg in enumerate(payloads):
        ax = axes[row][0]
        for c, name in enumerate(names):
            a = analyses[name]
            ch = next((x for x in a["changes"] if x["index"] == row), None)
            if ch is None:
                continue
            t, e = a["series"]["t"], a["series"]["error"]
            smooth = np.convolve(np.nan_to_num(e), np.ones(smooth_n) / smooth_n, mode="same")
            rel = t - ch["t_change"]
            sel = (rel >= -plan["baseline_s"]) & (rel <= plan["hold_s"])
            ax.plot(rel[sel], e[sel], color=colors[c % 4], alpha=0.2, lw=0.8)
            ax.plot(
                rel[sel],
                smooth[sel],
                color=colors[c % 4],
                lw=2,
                label=f"{name} (settles in {_fmt(ch.get('adaptation_time_s'), ' s')})",
            )
            if ch.get("steady_error") is not None:
                ax.axhline(1.1 * ch["steady_error"], color=colors[c % 4], ls=":", lw=1)
        ax.axvline(0.0, color="k", ls="--", lw=1)
        ax.text(0.0, ax.get_ylim()[1] * 0.95, f"  payload -> {kg:g} kg", va="top")
        ax.set_xlabel("time since the payload change (s)")
        ax.set_ylabel("tracking error")
        ax.legend(loc="upper right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"tracking error (thin: per tick; thick: {plan['smooth_s']:g} s mean; dotted: 1.1 x steady error)")
    fig.tight_layout()
    fig.savefig(out / "tracking_error.png", dpi=110)
    plt.close(fig)

    latent_png = None
    series = {n: analyses[n]["series"] for n in names}
    adaptive = [n for n in names if series[n]["latent"] is not None or series[n]["estimate"] is not None]
    if adaptive:  # RL² logs no belief vector (its 256-wide state), only the payload read from it
        # One panel per belief vector, and under it the payload read from it (when the manifest has a read-out)
        panels = [(n, kind) for n in adaptive for kind in ("latent", "estimate") if series[n][kind] is not None]
        fig, axes = plt.subplots(len(panels), 1, figsize=(9, 3.0 * len(panels)), squeeze=False)
        for row, (name, kind) in enumerate(panels):
            a = analyses[name]
            ax = axes[row][0]
            t = a["series"]["t"]
            if kind == "latent":
                lat = a["series"]["latent"]
                for j in range(lat.shape[1]):
                    ax.plot(t, lat[:, j], lw=1, label=f"{LATENT_SYMBOL[a['latent_key']]}[{j}]")
                ax.set_title(f"{name}: {a['latent_name']}")
                ax.legend(ncol=min(lat.shape[1], 8), fontsize=7, loc="lower right")
            else:
                est = a["series"]["estimate"]
                ax.plot(t, est, lw=0.8, alpha=0.35, color="tab:purple", label="estimate (per tick)")
                ax.plot(
                    t, trailing_mean(est, smooth_n), lw=2, color="tab:purple", label=f"mean of the last {plan['smooth_s']:g} s"
                )
                ax.plot(t, _true_payload(a, t), color="k", lw=1.5, drawstyle="steps-post", label="payload on the robot")
                ax.set_ylabel("payload (kg)")
                ax.set_title(
                    f"{name}: payload read from the belief by the manifest's linear read-out (fitted on training "
                    "tasks; extrapolates past them)",
                    fontsize=9,
                )
                ax.legend(fontsize=7, loc="upper left")
            for ch in a["changes"]:
                ax.axvline(ch["t_change"], color="k", ls="--", lw=1)
                ax.text(ch["t_change"], ax.get_ylim()[1], f" {ch['payload_kg']:g} kg", va="top")
            ax.set_xlabel("time since armed (s)")
            ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "latent.png", dpi=110)
        plt.close(fig)
        latent_png = "latent.png"

    # Side by side: adaptive vs non-adaptive, per payload.
    comparison = []
    for row, kg in enumerate(payloads):
        entry: dict[str, Any] = {"payload_kg": kg}
        for name in names:
            ch = next((x for x in analyses[name]["changes"] if x["index"] == row), None)
            entry[name] = {k: v for k, v in (ch or {}).items() if k not in ("index", "payload_kg")}
        comparison.append(entry)
    verdicts = []
    ad = [n for n in names if analyses[n]["adaptation"] not in (None, "none")]
    st = [n for n in names if analyses[n]["adaptation"] == "none"]
    for entry in comparison:
        for a_name in ad:
            for s_name in st:
                ea, es = entry[a_name], entry[s_name]
                ta, ts = ea.get("adaptation_time_s"), es.get("adaptation_time_s")
                ta_ = float("inf") if ta is None else ta
                ts_ = float("inf") if ts is None else ts
                who = (
                    f"{a_name} settled at its steady error {_fmt(ea.get('steady_error'))} in {_fmt(ta, ' s')}, "
                    f"{s_name} at {_fmt(es.get('steady_error'))} in {_fmt(ts, ' s')}"
                )
                tie = 0.25 * plan["smooth_s"]  # s: below the smoothing's resolution a difference is no ranking
                if ta_ == ts_ == float("inf"):
                    v = f"neither {a_name} nor {s_name} settled within the hold; {who}"
                elif abs(ta_ - ts_) <= tie:
                    v = f"{a_name} and {s_name} adapted equally fast (within {tie:g} s): {who}"
                elif ta_ < ts_:
                    v = f"{a_name} adapted faster than {s_name}: {who}"
                else:
                    v = f"{a_name} did NOT adapt faster than {s_name}: {who}"
                v += _steady_clause(a_name, s_name, ea.get("steady_error"), es.get("steady_error"))
                entry.setdefault("verdict", []).append(v)
                verdicts.append(f"{entry['payload_kg']:g} kg: {v}")
    warnings = [
        f"{n}: the link fell behind ({'; '.join(analyses[n]['link']['slow'])}): on some ticks the policy acted late or "
        "on a state older than one control period, so this comparison says as much about the machine as about the "
        "policies; rerun on an idle machine (a simulated robot shares this process's cores) or check the port and cable"
        for n in names
        if analyses[n]["link"].get("slow")
    ]
    report = {
        "plan": plan,
        "warnings": warnings,
        "policies": {n: {k: v for k, v in a.items() if k != "series"} for n, a in analyses.items()},
        "comparison": comparison,
        "verdicts": verdicts,
        "files": {
            "tracking_error": "tracking_error.png",
            "latent": latent_png,
            "logs": {n: str(p) for n, p in logs.items()},
            "videos": {n: f"{n}.gif" for n in names if (out / f"{n}.gif").exists()},
            "mp4": {n: f"{n}.mp4" for n in names if (out / f"{n}.mp4").exists()},
        },
        "definitions": {
            "pre_error": f"mean tracking error over the {plan['baseline_s']:g} s baseline before the change",
            "steady_error": f"mean tracking error over the last {FieldPlan(**plan).steady_window_s:g} s of the hold: the same policy's "
            "error with the new payload",
            "adaptation_time_s": f"time from the change until the {plan['smooth_s']:g} s mean error settles (stays 1 s) "
            "within 10% of the steady error plus the family's floor (never: not within the hold period)",
            "peak_error": "largest per-tick error in the hold period",
            "degraded": "the smoothed error rose above 1.1 x the pre-change error at some point in the hold period",
            "latent_shift": "distance between the mean latent (PEARL z) over the baseline and over the last quarter of the hold",
            "payload_estimate": "the payload read from the belief by the manifest's linear read-out (fitted at export on "
            "training tasks): mean over the baseline -> mean over the last quarter of the hold; it settles once its "
            f"trailing mean over the plan's smooth_s stays within {SETTLE_BAND:.0%} of the new payload to the end of "
            "the hold",
        },
    }
    report = jsonable(report)  # plain Python values: numpy's bools and floats are not JSON
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(_markdown(report, analyses))
    return report


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A field report's warnings (a slow link), then its verdicts, a line each: what `field`, `log report` and the
    demo print under their own headings."""
    return [f"warning: {w}" for w in report.get("warnings", [])] + [f"verdict: {v}" for v in report["verdicts"]]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table's lines: the header, its separator, one line per row of cells."""
    return [f"| {' | '.join(header)} |", "|" + "---|" * len(header), *(f"| {' | '.join(r)} |" for r in rows)]


def _markdown(report: dict[str, Any], analyses: dict[str, Any]) -> str:
    p = report["plan"]
    lines = [
        "# Field test report",
        "",
        f"Plan: commands {p['commands']}; per payload: settle {p['settle_s']:g} s, baseline {p['baseline_s']:g} s, "
        f"change, hold {p['hold_s']:g} s; base payload {p['base_payload_kg']:g} kg.",
        "",
    ]
    for name, a in analyses.items():
        pol = a["policy"]
        end = a["end"] or {}
        lines.append(
            f"- **{name}**: {pol.get('algo')} on {pol.get('family')} (adaptation: {a['adaptation']}), "
            f"{a['ticks']} ticks, ended by {end.get('event', '?')} ({end.get('reason', '?')}); log `{a['log']}`"
        )
    if report.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- **{w}**" for w in report["warnings"]]
    lines += ["", "## Verdict", ""] + [f"- {v}" for v in report["verdicts"] or ["(one policy only: nothing to compare)"]]

    def link_row(n: str, k: dict[str, Any]) -> list[str]:
        late = f"{k['late_ticks']} ({k['late_share']:.1%})"
        return [n, f"{k['rtt_p50_ms']:.1f}", f"{k['rtt_p99_ms']:.1f}", late, "no" if k["slow"] else "yes"]

    def error_row(n: str, c: dict[str, Any]) -> list[str]:
        errors = [_fmt(c.get(k), none="-") for k in ("pre_error", "post_error", "peak_error", "steady_error")]
        return [n, *errors, "yes" if c.get("degraded") else "no", _fmt(c.get("adaptation_time_s"), " s")]

    def estimate_row(n: str, c: dict[str, Any]) -> list[str]:
        kg = [_fmt(c["payload_estimate_before"]), _fmt(c["payload_estimate_after"])]
        return [n, *kg, _fmt(c.get("payload_estimate_settle_s"), " s")]

    links = [link_row(n, a["link"]) for n, a in analyses.items() if a["link"]]
    if links:
        lines += ["", *_md_table(["link", "round trip p50 (ms)", "p99 (ms)", "late ticks", "kept up"], links)]
    for entry in report["comparison"]:
        header = ["policy", "pre-change error", "post-change error", "peak error", "steady error", "degraded"]
        errors = [error_row(n, entry.get(n) or {}) for n in analyses]
        lines += ["", f"## Payload {entry['payload_kg']:g} kg", "", *_md_table([*header, "adaptation time"], errors)]
        estimates = [estimate_row(n, entry[n]) for n in analyses if "payload_estimate_after" in (entry.get(n) or {})]
        if estimates:
            lines += ["", *_md_table(["policy", "payload estimate before (kg)", "after (kg)", "settles"], estimates)]
    lines += ["", "![tracking error](tracking_error.png)", ""]
    if report["files"]["latent"]:
        lines += ["![latent](latent.png)", ""]
    videos = report["files"].get("videos") or {}
    if videos:  # the sessions themselves, as the virtual robot moved (recorded, rendered afterwards)
        mp4 = report["files"].get("mp4") or {}
        lines += ["## The sessions", ""] + [
            f"**{n}**" + (f" ([MP4]({mp4[n]}))" if n in mp4 else "") + f"\n\n![{n}]({f})\n" for n, f in videos.items()
        ]
    lines += ["## Definitions", ""] + [f"- {k}: {v}" for k, v in report["definitions"].items()]
    return "\n".join(lines) + "\n"


def run_field(
    policies: dict[str, Path],
    out: Path,
    plan: FieldPlan,
    port: str | None = None,
    simulated: Callable[[str], SimulatedRobot] | None = None,
    status: bool = True,
) -> dict[str, Any]:
    """Every policy through the plan (one after the other), then the report.

    Hardware: `port`. Simulation: `simulated(policy_dir)` starts a fresh simulated robot for each session
    (so that every policy starts from the same state) and the session closes it.
    """
    for name, policy_dir in policies.items():  # every policy can run the plan, or none is armed
        plan.check_policy(PolicyManifest.read(policy_dir), name)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    logs: dict[str, Path] = {}
    sessions: dict[str, Any] = {}
    for name, policy_dir in policies.items():
        logs[name] = out / f"{name}.mcap"
        print(f"[field] {name}: {policy_dir} for {plan.duration_s:.0f} s", file=sys.stderr, flush=True)
        t0 = time.monotonic()
        robot = simulated(str(policy_dir)) if simulated is not None else None
        try:
            sessions[name] = run_session(Path(policy_dir), plan, logs[name], port=port, robot=robot, status=status)
        finally:
            if robot is not None:
                robot.close()
        if robot is not None and hasattr(robot, "video"):  # a simulated robot that recorded its motion
            robot.video(out / f"{name}.mp4")  # and {name}.gif beside it, for report.md
        reason = sessions[name]["reason"]
        print(f"[field] {name}: ended by {reason} after {time.monotonic() - t0:.0f} s", file=sys.stderr)
        if reason not in ("stopped", "duration"):  # an e-stop: the session is over; report what was recorded
            print(f"[field] stopping the field test after {name}'s e-stop ({reason})", file=sys.stderr)
            break
    report = build_report(out, logs)
    report["sessions"] = jsonable(sessions)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
