"""What an online adaptation time is made of: each method's mean error after the payload change, less its own
steady error on that payload, per seed, from `robot-meta eval` reports; and each method's median adaptation time
beside the oracle's.

    python docs/scripts/online_transients.py REPORT.json[,REPORT.json] [--methods rl2,dr,oracle]
        [--region extrapolation] [--plot PATH]

The oracle is told the payload, so it has nothing to infer: its adaptation time is what the metric reads for a
policy that needs no adaptation (the gait's own fluctuation of the smoothed error about the band), and a time near
it is not a slow belief. The curve is the mean over the online runs of `error(t) - steady`, with `steady` each run's
own steady error (the runs that start with the new payload): above zero the policy is still worse than it will be.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def load(paths: str, methods: list[str], region: str | None) -> list[dict]:
    """Per seed: its change step, ctrl_dt and, per method, the (runs, T) error after the change less own steady,
    and the adaptation times (NaN: never settled)."""
    out = []
    for path in paths.split(","):
        report = json.loads(Path(path).read_text())
        dt = report["ctrl_dt"]
        for entry in report["per_seed"]:
            change = round(entry["online_change_time_s"] / dt)
            keep = np.array([region is None or g.get("payload_mass") == region for g in entry["online_regions"]])
            seed = {"seed": entry["seed"], "dt": dt, "methods": {}}
            for m in methods:
                if m not in entry["online"]:
                    raise SystemExit(f"{path}: no online method {m!r} (has {', '.join(entry['online'])})")
                o = entry["online"][m]
                err = np.array(o["errors"], float)[keep, change:]
                steady = np.array(o["steady_error"], float)[keep]
                times = np.array([np.nan if t is None else t for t in o["adaptation_time_s"]], float)[keep]
                seed["methods"][m] = {"rel": err - steady[:, None], "times": times}
            out.append(seed)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("reports", metavar="REPORT.json[,REPORT.json]")
    p.add_argument("--methods", default="rl2,dr,oracle", help="comma-separated online methods (default rl2,dr,oracle)")
    p.add_argument("--region", help="only runs whose payload is in this held-out region (extrapolation, interpolation)")
    p.add_argument("--plot", help="write the per-seed curves to this PNG")
    args = p.parse_args()
    methods = args.methods.split(",")
    seeds = load(args.reports, methods, args.region)
    pooled: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    for s in seeds:
        cells = []
        for m, d in s["methods"].items():
            pooled[m].append(d["times"])
            first2 = d["rel"][:, : round(2.0 / s["dt"])].mean()
            cells.append(
                f"{m} {np.nanmedian(d['times']):.2f} s (at 0 s: {np.mean(d['times'] == 0):.0%}; "
                f"mean error over own steady in the first 2 s {first2:+.3f})"
            )
        print(f"seed {s['seed']}: " + " | ".join(cells))
    for m, ts in pooled.items():
        t = np.concatenate(ts)
        print(f"pooled {m}: adaptation median {np.nanmedian(t):.2f} s ({np.isfinite(t).sum()}/{t.size} settled)")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, len(seeds), figsize=(3.2 * len(seeds), 3.0), sharey=True, squeeze=False)
        for ax, s in zip(axes[0], seeds, strict=True):
            for m, d in s["methods"].items():
                t = np.arange(d["rel"].shape[1]) * s["dt"]
                ax.plot(t, d["rel"].mean(0), label=f"{m} ({np.nanmedian(d['times']):.2f} s)", lw=1.2)
            ax.axhline(0, color="k", lw=0.6)
            ax.set_xlim(0, 4)
            ax.set_title(f"seed {s['seed']}", fontsize=9)
            ax.set_xlabel("time after the change (s)")
            ax.legend(fontsize=7)
        axes[0][0].set_ylabel("mean error - own steady")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
