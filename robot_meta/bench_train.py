"""`robot-meta bench train`: throughput of meta-training, measured inside one run.

For each configuration: env steps/s of PEARL's collection (batched env + the actor's encoder and policy
on every step) and gradient updates/s (one update = critic, encoder, policy and temperature steps on a
meta-batch), on the chosen device. The CPU default and oyster's reference sizes are both measured,
because the reference sizes are the GPU configuration.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import torch

from robot_meta.config import to_dict
from robot_meta.pearl import PEARL, REFERENCE, PearlConfig
from robot_meta.rl2 import RL2, RL2Config
from robot_meta.train import make_batched_env
from sim_tasks import get_family


def bench_pearl(
    task: str, device: torch.device, seconds: float = 5.0, seed: int = 0, configs: dict[str, Any] | None = None
) -> list[dict[str, Any]]:

    family = get_family(task)
    tasks = list(family.split().train)
    configs = configs or {
        "cpu_default": PearlConfig(),
        "cpu_default+task_supervision": PearlConfig(task_supervision=1.0),  # the belief objectives' cost (issue 16)
        "cpu_default+dynamics_prediction": PearlConfig(dynamics_prediction=1.0),
        "reference": REFERENCE,
    }
    results = []
    for label, cfg in configs.items():
        cfg = replace(cfg, initial_steps=family.episode_steps, updates_per_iteration=0, steps_prior=0, steps_posterior=0)
        algo = PEARL(
            make_batched_env(family), tasks[: max(cfg.meta_batch, cfg.tasks_per_iteration)], cfg, seed=seed, device=device
        )
        algo._initial_collection()  # fills both buffers of the benchmark's tasks
        ids = list(range(cfg.tasks_per_iteration))
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            algo._collect(ids, family.episode_steps, "posterior", to_encoder=False)
            steps += family.episode_steps * len(ids)
        env_rate = steps / (time.perf_counter() - start)
        algo.update()  # warm-up (allocations, lazy init)
        if device.type == "cuda":
            torch.cuda.synchronize()
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 2:
            algo.update()
            n += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        results.append(
            {
                "algo": "pearl",
                "task": task,
                "config": label,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "env_steps_per_s": round(env_rate, 1),
                "updates_per_s": round(n / (time.perf_counter() - start), 2),
                "sizes": {
                    k: v
                    for k, v in to_dict(cfg).items()
                    if k in ("hidden", "encoder_hidden", "meta_batch", "batch_size", "context_batch")
                },
            }
        )
    return results


def bench_rl2(
    task: str, device: torch.device, seconds: float = 5.0, seed: int = 0, configs: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """RL²: env steps/s of collection (GRU step per env step) and PPO minibatch updates/s (a `bptt`-step unroll
    over a minibatch of sequences, forward and backward), from whole training iterations; `seconds` per config
    (default: RL²'s defaults, and the same with each belief objective)."""

    family = get_family(task)
    configs = configs or {
        "default": RL2Config(eval_every=0),
        "default+task_supervision": RL2Config(eval_every=0, task_supervision=1.0),
        "default+dynamics_prediction": RL2Config(eval_every=0, dynamics_prediction=1.0),
    }
    results = []
    for label, cfg in configs.items():
        algo = RL2(make_batched_env(family), list(family.split().train), cfg, seed=seed, device=device)
        steps = updates = 0
        t_collect = t_update = 0.0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds or steps == 0:
            before = algo.updates
            m = algo.train_iteration()
            n_steps = algo.rollout_steps * cfg.num_envs
            t_collect += n_steps / m["env_steps_per_s"]
            n_upd = algo.updates - before  # minibatch updates made (PPO's early stop may end an iteration early)
            t_update += n_upd / m["updates_per_s"] if n_upd else 0.0
            steps, updates = steps + n_steps, updates + n_upd
        results.append(
            {
                "algo": "rl2",
                "task": task,
                "config": label,
                "device": str(device),
                "threads": torch.get_num_threads(),
                "env_steps_per_s": round(steps / t_collect, 1),
                "updates_per_s": round(updates / t_update, 2),
                "overall_env_steps_per_s": round(steps / (t_collect + t_update), 1),
                "sizes": {"hidden": cfg.hidden, "num_envs": cfg.num_envs, "bptt": cfg.bptt, "rollout": algo.rollout_steps},
            }
        )
    return results
