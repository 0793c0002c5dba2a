"""`robot-meta bench sim`: the batched env's throughput against raw `mujoco.mj_step` of the same model.

Both are measured in the same process, one after the other, on the same core, because the machines are
shared and noisy: the ratio is meaningful where absolute numbers are not. One env step is
`substeps` physics steps, so the ratio compares physics steps per second:
`ratio = env_steps_per_s * substeps / raw_steps_per_s`. The raw loop is the C stepping loop
(`mj_step(..., nstep=episode)`) with the same controls as the env's trivial policy (zero action, i.e.
the rest pose), reset every episode as the env is: the ceiling that any Python env could reach.
"""

from __future__ import annotations

import time
from typing import Any

import mujoco
import numpy as np

from sim_tasks.registry import get_family
from sim_tasks.sim import TaskSim
from sim_tasks.vector import BatchedTaskEnv


def _time_env(env: BatchedTaskEnv, seconds: float) -> float:
    """Env steps per second (summed over sub-envs) of zero actions for about `seconds`."""
    env.reset(seed=0)
    actions = np.zeros(env.action_space.shape)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            env.step(actions)
        steps += 20 * env.num_envs
    return steps / (time.perf_counter() - start)


def _time_raw(sims: list[TaskSim], seconds: float) -> float:
    """Physics steps per second of the C loop on the same models (the env's tasks in turn), same controls,
    reset every episode."""
    fam = sims[0].family
    rest = sims[0].actions.to_ctrl(np.zeros(sims[0].actions.dim))
    chunk = fam.episode_steps * fam.substeps
    rng = np.random.default_rng(0)
    steps, k, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sim = sims[k % len(sims)]
        mujoco.mj_resetData(sim.model, sim.data)
        fam.reset_state(sim.model, sim.data, sim.task, rng)
        sim.data.ctrl[:] = rest
        mujoco.mj_step(sim.model, sim.data, nstep=chunk)
        steps += chunk
        k += 1
    return steps / (time.perf_counter() - start)


def bench_sim(families: list[str], n_envs: int = 8, seconds: float = 3.0, seed: int = 0) -> list[dict[str, Any]]:
    """One entry per family: `task`, `env_steps_per_s`, `raw_steps_per_s`, `ratio`, and context keys."""
    results = []
    for name in families:
        fam = get_family(name)
        tasks = list(fam.split(seed=seed).train[:n_envs])
        env = BatchedTaskEnv(fam, tasks, seed=seed)
        env_rate = _time_env(env, seconds)
        raw_rate = _time_raw(env.sims, seconds)
        results.append(
            {
                "task": name,
                "env_steps_per_s": round(env_rate, 1),
                "raw_steps_per_s": round(raw_rate, 1),
                "ratio": round(env_rate * fam.substeps / raw_rate, 3),
                "substeps": fam.substeps,
                "physics_steps_per_s": round(env_rate * fam.substeps, 1),
                "num_envs": n_envs,
                "threads": 1,
            }
        )
    return results
