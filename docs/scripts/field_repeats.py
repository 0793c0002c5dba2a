"""Repeated field runs of one plan: per run and over runs, the adaptive policy beside the non-adaptive one.

    python docs/scripts/field_repeats.py REPORT_DIR [REPORT_DIR ...]

Each REPORT_DIR is the --out of one `robot-meta field ADAPTIVE --compare NON_ADAPTIVE ...` run (its report.json).
Prints, per run and payload change, each policy's error before the change, its peak, its steady error after
and its adaptation time (to its own steady error), the adaptive policy's payload estimate (the manifest's read-out
of its belief) and the late control ticks; then, over the runs, the mean of each and the paired difference
adaptive - non-adaptive with a 95% t-interval. The virtual robot runs in real time, so the runs differ by thread
timing (not bit-reproducible); the spread over runs is what this script reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

KEYS = ("pre_error", "peak_error", "steady_error", "adaptation_time_s")


def load(directory: Path) -> tuple[str, str, list[dict], dict]:
    report = json.loads((directory / "report.json").read_text())
    kinds = {n: p["adaptation"] for n, p in report["policies"].items()}
    adaptive = next(n for n, k in kinds.items() if k not in (None, "none"))
    static = next(n for n, k in kinds.items() if k == "none")
    late = {n: s.get("late_ticks") for n, s in report.get("sessions", {}).items()}
    return adaptive, static, report["comparison"], late


def interval(d: np.ndarray) -> str:
    d = d[np.isfinite(d)]
    if len(d) < 2:
        return f"{d.mean():+.2f} (n={len(d)})" if len(d) else "n/a"
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return f"{d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}] (n={len(d)}, lower in {int((d < 0).sum())})"


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    rows = []
    for directory in map(Path, argv):
        adaptive, static, comparison, late = load(directory)
        for entry in comparison:
            rows.append(
                {"run": directory.name, "kg": entry["payload_kg"], "a": entry[adaptive], "s": entry[static], "late": late}
            )
    print(f"adaptive: {adaptive}, non-adaptive: {static}")
    print(
        f"| run | payload (kg) | {adaptive} before / peak / steady, adaptation | {static} before / peak / steady, "
        f"adaptation | {adaptive} payload estimate before -> after (kg) | late ticks |"
    )
    print("|---|---|---|---|---|---|")

    def cell(c: dict) -> str:
        t = c.get("adaptation_time_s")
        return " / ".join(f"{c[k]:.2f}" for k in KEYS[:3]) + f", {'never' if t is None else f'{t:.2f} s'}"

    for r in rows:
        est = r["a"].get("payload_estimate_after")
        est_cell = f"{r['a']['payload_estimate_before']:.1f} -> {est:.1f}" if est is not None else "-"
        late = ", ".join(f"{n} {v}" for n, v in r["late"].items())
        print(f"| {r['run']} | {r['kg']:g} | {cell(r['a'])} | {cell(r['s'])} | {est_cell} | {late} |")
    print()
    for k in KEYS:
        a = np.array([np.nan if r["a"].get(k) is None else r["a"][k] for r in rows], float)
        s = np.array([np.nan if r["s"].get(k) is None else r["s"][k] for r in rows], float)
        print(
            f"{k}: {adaptive} {np.nanmean(a):.2f} (sd {np.nanstd(a, ddof=1):.2f}), {static} {np.nanmean(s):.2f} "
            f"(sd {np.nanstd(s, ddof=1):.2f}); paired {adaptive} - {static}: {interval(a - s)}"
        )
    after = np.array([r["a"].get("payload_estimate_after", np.nan) for r in rows], float)
    before = np.array([r["a"].get("payload_estimate_before", np.nan) for r in rows], float)
    if np.isfinite(after).any():
        print(
            f"{adaptive}'s payload estimate: {np.nanmean(before):.1f} kg before (sd {np.nanstd(before, ddof=1):.1f}), "
            f"{np.nanmean(after):.1f} kg at the end of the hold (sd {np.nanstd(after, ddof=1):.1f})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
