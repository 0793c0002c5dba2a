"""Where within a trial's episodes the return goes, for the adapted method and prior-only (a measurement, not
a test).

Runs the protocol's episodic trial (K = 3) on the 20 held-out tasks of the run's family (or on its first 20
training tasks with `train`), 4 runs per task (eval seeds 0-3), and prints the reward summed over steps 0-20,
20-100 and 100-T of each episode, averaged over tasks and runs, and the episode 3 - episode 1 rise with its
standard error over tasks. Used for RL² to see whether the memory carried into episodes 2 and 3 helps their
start, and whether what it learned to carry holds on tasks it was not trained on.
Usage: python docs/scripts/episode_segment_probe.py RUN_DIR [test|train]
"""

import sys
from pathlib import Path

import numpy as np
import torch

from robot_meta.collector import CollectorState, collect
from robot_meta.evaluation import eval_env
from robot_meta.train import load_run
from sim_tasks import get_family

torch.set_num_threads(1)
algorithm, record = load_run(Path(sys.argv[1]))
family = get_family(record["task"])
split = sys.argv[2] if len(sys.argv) > 2 else "test"
tasks = list(family.split().test) if split == "test" else list(family.split().train[:20])
T, K = family.episode_steps, 3
for method in algorithm.eval_methods(seed=0):
    runs = []
    for seed in range(4):
        env = eval_env(family, tasks, seed)
        state = CollectorState(env)
        state.reset(seed=seed)
        roll = collect(state, method.actor("episodic", env), K * T)
        runs.append(np.asarray(roll.reward))  # (K*T, tasks)
    per_task = np.mean(runs, 0).reshape(K, T, len(tasks))
    r = per_task.mean(2)
    rise = per_task[-1].sum(0) - per_task[0].sum(0)
    segments = ((0, 20), (20, 100), (100, T))
    print(
        split,
        method.name,
        " ".join(f"steps {a}-{b}: {np.round(r[:, a:b].sum(1), 1)}" for a, b in segments),
        f"rise {rise.mean():+.1f} ± {rise.std(ddof=1) / np.sqrt(len(rise)):.1f}",
    )
