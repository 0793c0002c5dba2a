"""`robot-meta bench runtime`: latency of one full adapter step, single-threaded.

One step = context update (PEARL: encoder on the new transition, O(1) window sums, posterior) or recurrent
step (RL²), the policy, and the safety filter, i.e. `adapter.act(obs, reward)`. Latency does not depend on
the weights, so the networks are freshly initialized at the default sizes (PEARL window 64, RL² GRU 256)
and exported through `robot_meta.export` like a trained run; the timing loop itself is the robot computer's
(`deploy.runtime`, no torch).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from deploy.runtime import load_adapter
from robot_meta.export import export_algorithm
from robot_meta.pearl import PEARL, PearlConfig
from robot_meta.rl2 import RL2, RL2Config
from robot_meta.train import make_batched_env
from sim_tasks import get_family


def _policy_dirs(root: Path, task: str) -> dict[str, Path]:
    import torch

    family = get_family(task)
    split = family.split()
    cpu = torch.device("cpu")
    pearl = PEARL(make_batched_env(family), list(split.train), PearlConfig(window=64), seed=0, device=cpu)
    rl2 = RL2(make_batched_env(family), list(split.train), RL2Config(hidden=256, eval_every=0), seed=0, device=cpu)
    out = {}
    for name, algo in (("pearl", pearl), ("rl2", rl2)):
        out[name] = root / name
        export_algorithm(algo, {"algo": name, "task": task, "seed": 0, "git_sha": "bench"}, out[name], readout=False)
    return out


def bench_runtime(
    task: str = "quadruped", steps: int = 5000, seed: int = 0, policy_dirs: dict[str, Path] | None = None
) -> list[dict[str, Any]]:
    """p50/p99 per algorithm; `policy_dirs` ({"pearl": dir, "rl2": dir}) skips building fresh ones."""

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for algo, path in (policy_dirs or _policy_dirs(Path(tmp), task)).items():
            ad = load_adapter(path, threads=1)
            rng = np.random.default_rng(seed)
            obs = rng.normal(size=(steps + 200, ad.obs_dim)).astype(np.float32)
            rewards = rng.normal(size=steps + 200)
            for t in range(200):  # warm-up, and fill PEARL's window
                ad.act(obs[t], float(rewards[t]))
            lat = np.empty(steps)
            for t in range(steps):
                start = time.perf_counter_ns()
                ad.act(obs[200 + t], float(rewards[200 + t]))
                lat[t] = (time.perf_counter_ns() - start) / 1e3
            entry = {
                "algo": algo,
                "task": task,
                "p50_us": round(float(np.percentile(lat, 50)), 1),
                "p99_us": round(float(np.percentile(lat, 99)), 1),
                "max_us": round(float(lat.max()), 1),
                "steps": steps,
                "threads": 1,
            }
            entry.update({"window": ad.window, "latent_dim": ad.latent} if algo == "pearl" else {"hidden": ad.hidden})
            results.append(entry)
    return results
