"""Adopt a variant family's cached baselines for the family it became (issue 15, seventeenth session).

A candidate change of a family is measured on a family module first (docs/scripts/runner_variant_family.py).
When the candidate becomes the family itself, its cached DR and oracle policies were trained on exactly the
tasks and physics the family now has, but a cache is keyed by the family's name (`tasks_fingerprint`), so
`sensitivity`, `eval --baselines` and `export --baseline` would train them again (40 minutes per training
run on one core). This copies them into another cache under the new name after checking that the two
families are the same: parameters, observation layout, timing, each baseline's task list, action layout,
and bit-equal observations, rewards, tracking errors and terminations over rollouts of one sequence of
random actions on tasks from both task lists, commands resampled as in training. Each copy's meta records
the file it was adopted from (path and sha256); an oracle's record of the DR it started from is updated to
the adopted DR, so the cache stays consistent. Nothing is written when any check fails.

    RUNNER_SPEEDS=1.5,3 RUNNER_SMOOTH=0.2 PYTHONPATH=docs/scripts python docs/scripts/adopt_baselines.py \\
        --family-module runner_variant_family planar_runner_v15to30_smooth20 planar_runner \\
        /work/runs/sens_runner_v15s20/baselines_lin /work/runs/runner_baselines
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from robot_meta.baselines import read_meta
from robot_meta.checkpoint import file_sha256, load_torch
from robot_meta.eval_run import baseline_tasks, tasks_fingerprint
from robot_meta.train import family_of
from sim_tasks.envs import TaskEnv
from sim_tasks.params import TaskParams

ROLLOUT_STEPS = 120  # control steps per probe task (6 s on the runner), past a command resample
PROBE_SEED = 7


def _rollout(family: Any, task: Any, actions: np.ndarray) -> list[np.ndarray]:
    env = TaskEnv(family, task=task, resample_commands=True)
    obs, _ = env.reset(seed=PROBE_SEED)
    trace = [obs]
    for a in actions:
        obs, reward, terminated, _, info = env.step(a)
        trace.append(np.concatenate([obs, [reward, info["tracking_error"], float(terminated)]]))
        if terminated:
            break
    return trace


def _as(family: Any, task: TaskParams) -> TaskParams:
    """The same parameter values as a task of `family` (a task names its family)."""
    return TaskParams(family.name, **task.values())


def differences(src: Any, dst: Any) -> list[str]:
    """What differs between two families, as far as a trained baseline can tell; empty when they are the same."""
    found = []
    for attr in ("params", "obs_layout", "ctrl_dt", "sim_dt", "episode_steps", "command_resample_s"):
        if getattr(src, attr) != getattr(dst, attr):
            found.append(attr)
    for name in ("dr", "oracle"):  # a task names its family: compare the values
        if [t.values() for t in baseline_tasks(src, name)] != [t.values() for t in baseline_tasks(dst, name)]:
            found.append(f"the {name} baseline's tasks")
    if found:  # rollouts on other tasks or observations would only repeat it
        return found
    tasks = baseline_tasks(src, "oracle")
    heavy = max(tasks, key=lambda t: t.payload_mass) if src.payload_parent else tasks[-1]
    probes = [src.default_task(), baseline_tasks(src, "dr")[0], heavy]
    model = src.build_model(probes[0])
    la, lb = src.action_layout(model), dst.action_layout(dst.build_model(_as(dst, probes[0])))
    if (la.names, la.unit) != (lb.names, lb.unit) or not all(
        np.array_equal(getattr(la, k), getattr(lb, k)) for k in ("scale", "offset", "ctrl_low", "ctrl_high")
    ):
        return ["action layout"]
    actions = np.random.default_rng(0).uniform(-1.0, 1.0, size=(ROLLOUT_STEPS, model.nu))
    unequal = 0
    for task in probes:
        a, b = _rollout(src, task, actions), _rollout(dst, _as(dst, task), actions)
        unequal += len(a) != len(b) or any(not np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    if unequal:
        found.append(f"observations, rewards or tracking errors of the same actions ({unequal} of {len(probes)} tasks)")
    return found


def adopt(src_cache: Path, dst_cache: Path, src: Any, dst: Any) -> tuple[list[Path], list[Path]]:
    """Copies every cached DR and oracle policy of `src` in `src_cache` into `dst_cache` as `dst`'s, each oracle
    pointing at its adopted DR; a file already in `dst_cache` (adopted before: a later training run is adopted
    by running this again) is left as it is. All are checked before any is written. Returns (written, kept)."""
    fingerprints = {
        name: (tasks_fingerprint(src, baseline_tasks(src, name)), tasks_fingerprint(dst, baseline_tasks(dst, name)))
        for name in ("dr", "oracle")
    }
    adopted_dr: dict[str, Path] = {}  # sha256 of a source DR file -> its adopted copy
    for old in dst_cache.glob("dr*.pt"):
        origin = read_meta(old).get("adopted_from")
        if origin:
            adopted_dr[origin["sha256"]] = old
    todo: list[tuple[str, dict, dict, Path]] = []
    kept: list[Path] = []
    for path in sorted(src_cache.glob("*.pt"), key=lambda p: (not p.name.startswith("dr"), p.name)):  # DRs first
        state = load_torch(path)
        meta = json.loads(state["meta"])
        name = meta.get("name")
        if name not in fingerprints or meta.get("family") != src.name:
            continue  # scratch policies, another family's files
        if meta.get("tasks_sha256") != fingerprints[name][0]:
            raise SystemExit(f"{path} was not trained on {src.name}'s {name} tasks as they are now; nothing adopted")
        out = dst_cache / path.name
        sha = file_sha256(path)
        if out.exists():
            if read_meta(out).get("adopted_from", {}).get("sha256") != sha:
                raise SystemExit(f"{out} is there and is not {path}'s adopted copy; nothing adopted")
            kept.append(out)
            continue
        if name == "dr":
            adopted_dr[sha] = out
        if name == "oracle" and meta.get("init_sha256") is not None and meta["init_sha256"] not in adopted_dr:
            raise SystemExit(f"{path} started from a DR policy that is not in {src_cache}; nothing adopted")
        meta |= {"family": dst.name, "tasks_sha256": fingerprints[name][1]}
        meta["adopted_from"] = {"path": str(path), "sha256": sha, "family": src.name}
        todo.append((name, state, meta, out))
    dst_cache.mkdir(parents=True, exist_ok=True)
    for name, state, meta, out in todo:  # DRs first: an oracle records the sha256 of its DR as written
        if name == "oracle" and meta.get("init_sha256") is not None:
            meta["init_sha256"] = file_sha256(adopted_dr[meta["init_sha256"]])
        tmp = out.with_name(out.name + ".tmp")  # whole or not at all, as save_policy writes a cache file
        torch.save(state | {"meta": json.dumps(meta)}, tmp)
        os.replace(tmp, out)
    return [out for *_, out in todo], kept


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src_family", help="the variant the baselines were trained on")
    p.add_argument("dst_family", help="the family it became")
    p.add_argument("src_cache", type=Path)
    p.add_argument("dst_cache", type=Path, help="the family's cache (files already there are kept)")
    p.add_argument("--family-module", help="the module that registers src_family (on PYTHONPATH)")
    args = p.parse_args()
    src, dst = family_of(args.src_family, args.family_module), family_of(args.dst_family)
    found = differences(src, dst)
    if found:
        raise SystemExit(f"{src.name} and {dst.name} differ in {', '.join(found)}: their baselines are not the same policy's")
    written, kept = adopt(args.src_cache, args.dst_cache, src, dst)
    print(
        f"{src.name} == {dst.name}; adopted {len(written)} baselines into {args.dst_cache}: "
        + (", ".join(p.name for p in written) or "none")
        + (f" (already there, kept: {', '.join(p.name for p in kept)})" if kept else "")
    )
    return 0 if written or kept else 1


if __name__ == "__main__":
    sys.exit(main())
