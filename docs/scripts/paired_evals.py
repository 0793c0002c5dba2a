"""Paired comparison of two methods from two `robot-meta eval` reports (the same family, split and --repeats):
per seed present in both, the last episode's return, the online steady error and the online excess over the
oracle (steady part), method A minus method B on the same tasks and starts, with eval's 95% bootstrap interval
(`_paired_ci`); and each method's median adaptation time with a 95% bootstrap interval over runs.

`excess_steady` is the excess over the oracle after the payload changes mid-episode (the steady part, past the
first 2 s); `start_excess_steady` the excess over the oracle of the steady error, in the runs that carry the
payload from the start (eval's `steady` runs, from the change time on): there too the policy was never told the
payload and had the first part of the episode to infer it.

    python docs/scripts/paired_evals.py A.json:METHOD B.json:METHOD [--seeds 0,1] [--region extrapolation]
        [--b-scale 0.5]

A side may join reports of seeds evaluated separately with commas: `A_x2.json,A_s2.json:rl2`.

`--region` keeps the tasks whose held-out payload is in that region ("extrapolation": heavier than training).
`--b-scale s` compares A with s x B: with 0.5 on the excess over the oracle, an interval below zero says A's excess
is at most half of B's (issue 16's bar against DR). Used for docs/belief.md's rows that compare methods evaluated
in different runs of `eval`; within one report `summary.vs_dr` gives the same return and steady-error numbers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from deploy.metrics import interval_text
from robot_meta.eval_run import _median_ci, _paired_ci


def _rows(paths: str, method: str, seeds: list[int] | None, region: str | None) -> dict[int, dict]:
    """`paths`: one report, or several joined by commas (seeds evaluated in separate runs of `eval`)."""
    entries = [(path, e) for path in paths.split(",") for e in json.loads(open(path).read())["per_seed"]]
    out = {}
    for path, entry in entries:
        if seeds is not None and entry["seed"] not in seeds:
            continue
        if method not in entry["episodic"]:
            raise SystemExit(f"{path}: no method {method!r} (has {', '.join(entry['episodic'])})")
        keep = np.array([region is None or g.get("payload_mass") == region for g in entry["regions"]])
        keep_online = np.array([region is None or g.get("payload_mass") == region for g in entry["online_regions"]])
        online = entry["online"][method]
        rows = {
            "return": np.array(entry["episodic"][method])[keep, -1],
            "steady_error": np.array(online["steady_error"], float)[keep_online],
            "adaptation_time_s": np.array(online["adaptation_time_s"], float)[keep_online],
        }
        if "excess_steady" in online:  # the oracle has none: it is the reference
            rows["excess_steady"] = np.array(online["excess_steady"], float)[keep_online]
            # the same excess where the payload is on from the start (eval's `steady` runs, after the change time)
            oracle = np.array(entry["online"]["oracle"]["steady_error"], float)[keep_online]
            rows["start_excess_steady"] = rows["steady_error"] - oracle
        out[entry["seed"]] = rows
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", metavar="A.json:METHOD")
    p.add_argument("b", metavar="B.json:METHOD")
    p.add_argument("--seeds", help="comma-separated seeds (default: every seed in both)")
    p.add_argument("--region", help="only tasks whose payload is in this held-out region (extrapolation, interpolation)")
    p.add_argument("--b-scale", type=float, default=1.0, help="compare A with this multiple of B (default 1)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    (pa, ma), (pb, mb) = (x.rsplit(":", 1) for x in (args.a, args.b))
    a, b = _rows(pa, ma, seeds, args.region), _rows(pb, mb, seeds, args.region)
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit(f"no seed in both ({sorted(a)} and {sorted(b)})")
    scale = "" if args.b_scale == 1.0 else f"{args.b_scale:g} x "
    print(f"{ma} ({pa}) minus {scale}{mb} ({pb}), seeds {common}" + (f", payload {args.region}" if args.region else ""))
    for key in ("return", "steady_error", "excess_steady", "start_excess_steady"):
        if not all(key in a[s] and key in b[s] for s in common):
            continue
        means = f"A {np.mean(np.concatenate([a[s][key] for s in common])):+.3f}, B {np.mean(np.concatenate([b[s][key] for s in common])):+.3f}"
        diff = np.concatenate([a[s][key] - args.b_scale * b[s][key] for s in common])
        ci = _paired_ci(diff)
        print(f"  {key}: {ci['mean']:+.3f} [{ci['ci95'][0]:+.3f}, {ci['ci95'][1]:+.3f}] (n={ci['n']}; {means})")
    for name, rows in ((ma, a), (mb, b)):
        times = np.concatenate([rows[s]["adaptation_time_s"] for s in common])
        print(
            f"  {name} adaptation time: median {np.nanmedian(times):.2f} s {interval_text(_median_ci(times))} "
            f"({np.isfinite(times).sum()}/{times.size} settled)"
        )


if __name__ == "__main__":
    main()
