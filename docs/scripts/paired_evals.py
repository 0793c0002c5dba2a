"""Paired comparison of two methods from two `robot-meta eval` reports (the same family, split and --repeats):
per seed present in both, the last episode's return and the online steady error, method A minus method B on the
same tasks and starts, with eval's 95% bootstrap interval (`_paired_ci`).

    python docs/scripts/paired_evals.py A.json:METHOD B.json:METHOD [--seeds 0,1]

Used for docs/belief.md's rows that compare methods evaluated in different runs of `eval` (RL² against a DR
trained by RMA's PPO, for instance); within one report `summary.vs_dr` gives the same numbers.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from robot_meta.eval_run import _paired_ci


def _rows(path: str, method: str, seeds: list[int] | None) -> dict[int, dict]:
    report = json.loads(open(path).read())
    out = {}
    for entry in report["per_seed"]:
        if seeds is not None and entry["seed"] not in seeds:
            continue
        if method not in entry["episodic"]:
            raise SystemExit(f"{path}: no method {method!r} (has {', '.join(entry['episodic'])})")
        out[entry["seed"]] = {
            "return": np.array(entry["episodic"][method])[:, -1],
            "steady_error": np.array(entry["online"][method]["steady_error"], float),
        }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", metavar="A.json:METHOD")
    p.add_argument("b", metavar="B.json:METHOD")
    p.add_argument("--seeds", help="comma-separated seeds (default: every seed in both)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    (pa, ma), (pb, mb) = (x.rsplit(":", 1) for x in (args.a, args.b))
    a, b = _rows(pa, ma, seeds), _rows(pb, mb, seeds)
    common = sorted(set(a) & set(b))
    if not common:
        raise SystemExit(f"no seed in both ({sorted(a)} and {sorted(b)})")
    print(f"{ma} ({pa}) minus {mb} ({pb}), seeds {common}")
    for key in ("return", "steady_error"):
        diff = np.concatenate([a[s][key] - b[s][key] for s in common])
        ci = _paired_ci(diff)
        print(f"  {key}: {ci['mean']:+.3f} [{ci['ci95'][0]:+.3f}, {ci['ci95'][1]:+.3f}] (n={ci['n']})")


if __name__ == "__main__":
    main()
