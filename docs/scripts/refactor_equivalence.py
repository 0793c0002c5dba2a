"""Same seeds, same numbers: tiny PEARL, RL² and MAML runs through the public CLI, fingerprinted.

A refactor that means "behaviour unchanged" is checked by this script, run before and after: each algorithm
trains a few iterations on the planar runner with a tiny config (`--set`), is exported (parity numbers of
ONNX vs torch), evaluated through the protocol (`eval --json`) and run through the torch-free runtime in
the simulator (`sim2sim --json`). Wall-clock fields are dropped; every other number is kept as it is
printed. It only goes through the command line, whose flags the refactor keeps, so the same script runs on
both sides.

    python docs/scripts/refactor_equivalence.py --out /tmp/eq_before.json      # on the old commit
    python docs/scripts/refactor_equivalence.py --check docs/scripts/refactor_equivalence_777f76c.json

`--check` runs the same jobs and exits 1 naming every field that differs (bit for bit: floats compare with
==), 0 when all are identical.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

TASK = "planar_runner"
STEPS = {"pearl": 400, "rl2": 800, "maml": 1200}
SETS = {
    "pearl": (
        "initial_steps=30",
        "steps_prior=30",
        "steps_posterior=30",
        "updates_per_iteration=3",
        "tasks_per_iteration=2",
        "hidden=16",
        "encoder_hidden=16",
        "meta_batch=2",
        "batch_size=8",
        "context_batch=6",
        "eval_every=2",
        "eval_tasks=2",
        "window=8",
        "threads=1",
    ),
    "rl2": ("num_envs=2", "minibatches=2", "hidden=16", "embed=8", "epochs=1", "eval_every=1", "eval_tasks=2", "threads=1"),
    "maml": ("hidden=[8]", "meta_batch=2", "outer_epochs=2", "eval_every=2", "eval_tasks=2", "threads=1"),
}
# Before 2026-12 every task carried the union of all families' parameters; now a task holds only its family's.
# A task dict in a report (MAML's manifest records the task it adapted on) therefore lost the fields its family
# never varied, all at these values: they are dropped from both sides before comparing, nothing else is.
LEGACY_UNION_DEFAULTS = {
    "payload_mass": 0.0,
    "payload_com_x": 0.0,
    "payload_com_y": 0.0,
    "payload_com_z": 0.0,
    "slope": 0.0,
    "roughness": 0.0,
    "terrain_seed": 0,
    "friction": 1.0,
    "target_velocity": 0.0,
    "target_heading": 0.0,
    "goal_x": 0.0,
    "goal_z": 0.0,
    "motor_strength": 1.0,
    "action_latency": 0,
    "obs_noise": 0.0,
}
TIMING = {"wall_s", "env_steps_per_s", "updates_per_s", "time", "timestamp", "seconds", "elapsed_s"}
PATHS = {"run_dir", "policy_dir", "files", "log", "source", "git_sha", "project_version", "command", "run_dirs"}


def cli(*args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "robot_meta.cli", *args, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"robot-meta {' '.join(args)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(out.stdout)


def scrub(x: Any) -> Any:
    """Drop wall-clock and path fields (they differ run to run and dir to dir); keep every other number."""
    if isinstance(x, dict):
        if "family" in x and set(x) - {"family"} <= set(LEGACY_UNION_DEFAULTS):  # a task
            x = {"family": x["family"], **{k: v for k, v in x.items() if k != "family" and LEGACY_UNION_DEFAULTS.get(k) != v}}
        return {k: scrub(v) for k, v in sorted(x.items()) if k not in TIMING and k not in PATHS}
    if isinstance(x, list):
        return [scrub(v) for v in x]
    return x


def run_algo(algo: str, root: Path) -> dict[str, Any]:
    run, pol = root / f"{algo}_run", root / f"{algo}_policy"
    sets = [a for s in SETS[algo] for a in ("--set", s)]
    cli("train", "--algo", algo, "--task", TASK, "--out", str(run), "--steps", str(STEPS[algo]), "--seed", "3", *sets)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    export_args = ["--adapt-task", "1"] if algo == "maml" else []
    manifest = cli("export", str(run), "--out", str(pol), *export_args)["manifest"]
    ev = cli("eval", str(run), "--episodes", "2", "--repeats", "1", "--seed", "1")
    s2s = cli("sim2sim", str(pol), "--tasks", "2", "--seed", "1")
    return {
        "metrics": scrub(metrics),
        "export_parity": scrub(manifest["parity"]),
        "manifest_adaptation": scrub(manifest["adaptation"]),
        "eval": scrub({k: v for k, v in ev.items() if k != "per_seed"}),
        "sim2sim": scrub(s2s),
    }


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in reference" for k in a.keys() - b.keys()]
        out += [f"{path}/{k}: only in this run" for k in b.keys() - a.keys()]
        for k in sorted(a.keys() & b.keys()):
            out += diff(a[k], b[k], f"{path}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in diff(x, y, f"{path}[{i}]")]
    return [] if a == b or (a != a and b != b) else [f"{path}: reference {a!r}, this run {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="write this run's fingerprint here")
    ap.add_argument("--check", help="compare with a stored fingerprint; exit 1 on any difference")
    ap.add_argument("--algo", action="append", choices=sorted(SETS), help="only these algorithms (default all)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {algo: run_algo(algo, Path(tmp)) for algo in args.algo or sorted(SETS)}
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1, sort_keys=True))
    if args.check:
        ref = scrub(json.loads(Path(args.check).read_text()))
        problems = diff({k: ref[k] for k in result}, json.loads(json.dumps(result)))
        for p in problems:
            print(p)
        n = sum(len(json.dumps(v)) for v in result.values())
        print(f"{len(problems)} differences over {', '.join(result)} ({n} characters of numbers compared)")
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
