"""Issue 15's verdict at the heaviest payload over training pairs from several `robot-meta sensitivity` reports,
plus pairs whose reports are gone and whose numbers the docs keep (`--pair DR,ORACLE`, steady errors at the
heaviest payload in the report's unit).

    python docs/scripts/pool_sensitivity.py REPORT.json [REPORT.json ...] [--pair 0.522,0.179 ...] [--kg 10]

Each report's `steady_error_per_training_seed` gives one pair per training seed. The reports must be of one family
with one payload grid. The verdict is `robot_meta.sensitivity.verdict` on the heaviest payload alone (ratio of the
means, 95% t interval of DR k - 1.5 x oracle k over pairs, and whether the oracle is worse there); whether the
oracle is worse at a lighter payload is in each report's own verdict, printed beside it.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from robot_meta.sensitivity import verdict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("reports", nargs="*", help="robot-meta sensitivity --out files")
    ap.add_argument("--pair", action="append", default=[], help="DR,ORACLE steady errors at the heaviest payload")
    ap.add_argument("--kg", type=float, help="the heaviest payload, when no report gives it")
    args = ap.parse_args()
    dr, oracle, heaviest, family = [], [], args.kg, None
    for path in args.reports:
        r = json.loads(open(path).read())
        if family not in (None, r["family"]) or heaviest not in (None, r["payloads_kg"][-1]):
            raise SystemExit(f"{path}: family {r['family']} to {r['payloads_kg'][-1]} kg, the others {family} to {heaviest}")
        family, heaviest = r["family"], r["payloads_kg"][-1]
        per = r["steady_error_per_training_seed"]
        dr += [row[-1] for row in per["dr"]]
        oracle += [row[-1] for row in per["oracle"]]
        print(f"{path}: {len(per['dr'])} pairs; its own verdict: {r['verdict']['text']}")
    for text in args.pair:
        try:
            d, o = (float(v) for v in text.split(","))
        except ValueError:
            raise SystemExit(f"--pair {text!r}: give DR,ORACLE, two numbers") from None
        dr.append(d)
        oracle.append(o)
    if not dr:
        raise SystemExit("no pairs: give reports or --pair")
    if heaviest is None:
        raise SystemExit("--pair alone: give the payload they were measured at with --kg")
    v = verdict([heaviest], np.array(dr)[:, None], np.array(oracle)[:, None])
    print(
        "pairs (DR / oracle / ratio):", ", ".join(f"{d:.3f} / {o:.3f} / {d / o:.2f}x" for d, o in zip(dr, oracle, strict=True))
    )
    print(f"{len(dr)} pairs: {v['text']}")
    print(json.dumps({k: v[k] for k in ("ratio_at_heaviest", "margin_at_heaviest_ci95", "training_seeds", "status")}))


if __name__ == "__main__":
    main()
