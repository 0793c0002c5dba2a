"""Copy a `robot-meta eval` report without its per-tick error series, so that it can be kept in docs/results.

A report holds every online run's error at every tick (about 1 MB a seed on the runner), which only the report's
own plot draws. Everything else stays (`robot-meta compare` reads a compacted report): the per-run online numbers
(steady error, excess over the oracle, adaptation time), episodic returns, regions, the belief probe and the
summary, which is what docs/scripts/paired_evals.py reads, so reports of runs that are later lost can still be
pooled with new ones.

    python docs/scripts/compact_eval.py REPORT.json OUT.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SERIES = ("error_mean", "error_std")  # the pooled online curves, per tick


def compact(report: dict) -> dict:
    """The report without the pooled online curves and each method's per-run `errors` series; the online
    summaries (what `robot-meta compare` reads) stay."""
    out = dict(report)
    if "online" in report:
        out["online"] = {m: {k: v for k, v in o.items() if k not in SERIES} for m, o in report["online"].items()}
    out["per_seed"] = [
        {**e, "online": {m: {k: v for k, v in r.items() if k != "errors"} for m, r in e["online"].items()}}
        for e in report["per_seed"]
    ]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("report", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args()
    args.out.write_text(json.dumps(compact(json.loads(args.report.read_text())), separators=(",", ":")))


if __name__ == "__main__":
    main()
