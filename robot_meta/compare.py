"""`robot-meta compare`: several algorithms' `eval.json` reports in one table and one figure.

Each report comes from `robot-meta eval` (the shared protocol, same held-out tasks); the table gives, per
algorithm, the return of episode 1 and episode K (mean ± spread over tasks, seeds counted), prior-only,
what the carried memory is worth (episode K minus prior-only's, paired), and the online adaptation after the
mid-episode payload change (median time with its interval, excess over the oracle in the first 2 s and after);
baselines (DR, oracle) come from whichever report has them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from deploy.metrics import interval_text


def load_reports(paths: list[Path]) -> list[dict[str, Any]]:
    reports = []
    for p in paths:
        r = json.loads(Path(p).read_text())
        if "episodic" not in r or "algo" not in r:
            raise ValueError(f"{p} is not a robot-meta eval report (no 'episodic'/'algo'); make one with robot-meta eval")
        reports.append(r)
    tasks = {r["task"] for r in reports}
    if len(tasks) > 1:
        raise ValueError(f"the reports are on different task families {sorted(tasks)}; compare one family at a time")
    return reports


def comparison(reports: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    baselines: dict[str, Any] = {}
    for r in reports:
        ep = r["episodic"][r["algo"]]
        on = r.get("online", {}).get(r["algo"], {})
        rows.append(
            {
                "algo": r["algo"],
                "seeds": r.get("seeds"),
                "by_episode": ep["by_episode"]["mean"],
                "by_episode_std": ep["by_episode"]["std"],
                "first": ep["by_episode"]["mean"][0],
                "last": ep["last_episode"]["mean"],
                "last_std": ep["last_episode"]["std"],
                "rise": ep.get("rise"),  # episode K - episode 1 in the same task (reports before --repeats lack it)
                # episode K - prior-only's episode K in the same task and starts: what the carried memory/context
                # is worth (reports before it existed lack it)
                "vs_prior_only": ep.get("vs_prior_only"),
                "repeats": r.get("repeats", 1),
                "prior_only": r["episodic"].get("prior_only", {}).get("last_episode", {}).get("mean"),
                "online_pre_error": _mean(on.get("pre_error")),
                "online_post_error": _mean(on.get("post_error")),
                # reports written before the adaptation time existed have none: shown as "-"
                "online_adapted": on.get("adapted"),
                "online_adaptation_median_s": (on.get("adaptation_time_s") or {}).get("median"),
                # its 95% bootstrap interval over runs ([lo, None]: some resamples never settled); older reports lack it
                "online_adaptation_ci95": (on.get("adaptation_time_s") or {}).get("median_ci95"),
                "online_excess_first": _mean(on.get("excess_first")),
                "online_excess_steady": _mean(on.get("excess_steady")),
            }
        )
        for b in ("dr", "oracle", "scratch_1x", "scratch_100x"):
            if b in r["episodic"] and b not in baselines:
                baselines[b] = {
                    "last": r["episodic"][b]["last_episode"]["mean"],
                    "std": r["episodic"][b]["last_episode"]["std"],
                }
    return {"task": reports[0]["task"], "episodes": reports[0]["episodes"], "algorithms": rows, "baselines": baselines}


def _mean(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, dict):
        return x.get("mean")
    v = np.asarray(x, dtype=float)
    return float(np.nanmean(v)) if v.size else None


def _num(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None or not np.isfinite(x) else format(x, fmt)


def _adapt(r: dict[str, Any]) -> str:
    """The median adaptation time (s) with its interval when the report has one: `0.80 [0.35, 1.05]`."""
    ci = r.get("online_adaptation_ci95")
    if ci is None:
        return _num(r["online_adaptation_median_s"])
    return f"{_num(r['online_adaptation_median_s'])} {interval_text(ci)}"


def _paired(diff: dict[str, float] | None) -> str:
    """A paired difference (the rise, or the gain over prior-only) as mean ± s.e."""
    return f"{diff['mean']:+.1f} ± {diff['se']:.1f}" if diff else "-"


def table(c: dict[str, Any]) -> str:
    lines = [
        f"{c['task']}: return by episode on the held-out tasks (mean ± std over tasks), online = mid-episode payload change",
        f"{'method':<14} {'seeds':>5} {'episode 1':>10} {'episode ' + str(c['episodes']):>16} {'prior-only':>11} "
        f"{'online err pre/post':>20} {'settled':>8} {'adapt s [95%]':>18} {'excess 2s':>9} {'excess after':>12} "
        f"{'rise K-1 ± s.e.':>16} "
        f"{'K vs prior-only':>16} {'runs/task':>9}",
    ]
    for r in c["algorithms"]:
        pre, post = r["online_pre_error"], r["online_post_error"]
        online = f"{pre:.2f}/{post:.2f}" if pre is not None and post is not None else "-"
        prior = f"{r['prior_only']:.1f}" if r["prior_only"] is not None else "-"
        lines.append(
            f"{r['algo']:<14} {len(r['seeds'] or []):>5} {r['first']:>10.1f} {r['last']:>9.1f} ± {r['last_std']:<5.1f}"
            f" {prior:>11} {online:>20} {r['online_adapted'] or '-':>8} {_adapt(r):>18}"
            f" {_num(r['online_excess_first'], '+.3f'):>9} {_num(r['online_excess_steady'], '+.3f'):>12}"
            f" {_paired(r.get('rise')):>16} {_paired(r.get('vs_prior_only')):>16} {r.get('repeats', 1):>9}"
        )
    for name, b in c["baselines"].items():
        lines.append(f"{name:<14} {'':>5} {'':>10} {b['last']:>9.1f} ± {b['std']:<5.1f}")
    return "\n".join(lines)


def plot(c: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for r in c["algorithms"]:
        k = np.arange(1, len(r["by_episode"]) + 1)
        m, s = np.array(r["by_episode"]), np.array(r["by_episode_std"])
        ax.plot(k, m, marker="o", label=r["algo"])
        ax.fill_between(k, m - s / 2, m + s / 2, alpha=0.12)
    styles = {"dr": ("k", "--"), "oracle": ("tab:green", ":"), "scratch_100x": ("tab:gray", "-.")}
    for name, b in c["baselines"].items():
        if name in styles:
            col, ls = styles[name]
            ax.axhline(b["last"], color=col, ls=ls, lw=1, label=name)
    ax.set_xlabel("episode in the new task (context / memory / inner steps carried)")
    ax.set_ylabel("return (mean over held-out tasks; band: ±std/2)")
    ax.set_xticks(range(1, c["episodes"] + 1))
    ax.set_title(f"{c['task']}: meta-RL methods on the shared evaluation protocol")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
