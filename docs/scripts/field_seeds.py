"""Field pick-ups over training seeds: RMA vs DR per commanded point and seed, and the paired differences.

    python docs/scripts/field_seeds.py DIR PREFIX [PREFIX ...]

reads DIR/PREFIX_plan_*.json (the `robot-meta field ... --json` reports of one training seed each, e.g. `h8` for
seed 0 and `h8s1`, `h8s2` for seeds 1 and 2, as /work/runs/arm_field/run_h8_seed.sh writes them) and prints, per
report, the tip error before the change, its peak, its steady value (mm) and the time to the policy's own steady
error, then RMA minus DR over all (seed, point) pairs with a 95% t-interval.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from scipy import stats

KEYS = ("pre_error", "peak_error", "steady_error", "adaptation_time_s")


def rows(directory: Path, prefix: str) -> list[dict]:
    out = []
    for path in sorted(directory.glob(f"{prefix}_plan_*.json")):
        report = json.loads(path.read_text())
        (entry,) = report["comparison"]
        point = path.stem.removeprefix(f"{prefix}_plan_")
        out.append({"seed": prefix, "point": point, "rma": entry["rma"], "dr": entry["dr"]})
    return out


def main(argv: list[str]) -> None:
    directory, prefixes = Path(argv[0]), argv[1:]
    table = [r for p in prefixes for r in rows(directory, p)]
    print("| seed | point (x, z) m | RMA pre / peak / steady mm, time | DR pre / peak / steady mm, time |")
    print("|---|---|---|---|")
    for r in table:
        cells = [
            " / ".join(f"{1e3 * r[m][k]:.1f}" for k in KEYS[:3]) + f" / {r[m]['adaptation_time_s'] or float('nan'):.2f} s"
            for m in ("rma", "dr")
        ]
        print(f"| {r['seed']} | {r['point'].replace('_', ', ')} | {cells[0]} | {cells[1]} |")
    print()
    for k in KEYS:
        d = np.array([(r["rma"][k] or np.nan) - (r["dr"][k] or np.nan) for r in table], float)
        d = d[np.isfinite(d)]
        scale = 1.0 if k == "adaptation_time_s" else 1e3
        mean, se = d.mean(), d.std(ddof=1) / np.sqrt(len(d))
        half = stats.t.ppf(0.975, len(d) - 1) * se
        unit = "s" if k == "adaptation_time_s" else "mm"
        print(
            f"RMA - DR {k}: {scale * mean:+.2f} {unit} [{scale * (mean - half):+.2f}, {scale * (mean + half):+.2f}] "
            f"(n={len(d)}, RMA lower in {int((d < 0).sum())})"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
