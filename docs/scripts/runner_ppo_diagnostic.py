"""Why were the runner's SB3 baselines weak? PPO with and without observation normalization (issue 15).

Trains SB3 PPO directly (not through the baseline cache) on the training split of a family, then measures its
steady error with `robot_meta.sensitivity.steady_errors` (the same grid as `robot-meta sensitivity`), and, for
one seed, splits the runner's per-step error into the error of the mean speed and the speed's oscillation
within the gait. Variants are words joined by `_`: `norm` (VecNormalize), `16` (16 envs, else 8), `ep` (one
command per episode instead of every `command_resample_s`), `clean` (training tasks without action latency and
sensor noise).

    python docs/scripts/runner_ppo_diagnostic.py norm16ep 2500000 planar_runner OUT.json

Numbers it produced are in docs/commands.md ("Baselines with normalized observations").
"""

import json
import sys
import time

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from robot_meta.baselines import TaskDistributionEnv
from robot_meta.collector import CollectorState, collect
from robot_meta.evaluation import eval_env
from robot_meta.sensitivity import command_grid, payload_grid, steady_errors
from robot_meta.train import family_of


def main(variant: str, steps: int, family_name: str, out: str) -> None:
    torch.set_num_threads(1)
    family = family_of(family_name, None)
    if "ep" in variant:
        family.command_resample_s = 1e9
    tasks = list(family.split().train)
    if "clean" in variant:  # no action latency and no sensor noise in training
        tasks = [t.replace(obs_noise=0.0, action_latency=0) for t in tasks]
    norm = "norm" in variant
    venv = DummyVecEnv([(lambda i=i: TaskDistributionEnv(family, tasks, seed=i)) for i in range(16 if "16" in variant else 8)])
    if norm:
        venv = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=10.0)
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=256,
        batch_size=256,
        n_epochs=10,
        policy_kwargs={"net_arch": [128, 128]},
        seed=0,
        verbose=0,
        device="cpu",
    )
    t0 = time.time()
    model.learn(steps)
    wall = time.time() - t0

    class Actor:
        def reset(self, mask):
            pass

        def observe(self, *args):
            pass

        def act(self, obs):
            return model.predict(venv.normalize_obs(obs) if norm else obs, deterministic=True)[0]

    payloads, commands = payload_grid(family), command_grid(family)
    err = steady_errors({"ppo": lambda env: Actor()}, family, payloads, commands, [0, 1])["ppo"]
    report = {
        "variant": variant,
        "steps": steps,
        "wall_s": wall,
        "payloads": payloads,
        "commands": commands,
        "steady_error_per_payload": err.mean((1, 2)).tolist(),
        "steady_error_per_command": err.mean((0, 2)).tolist(),
    }
    if family_name == "planar_runner":
        eval_tasks = [family.task(payload_mass=kg, **c) for kg in payloads for c in commands]
        state = CollectorState(eval_env(family, eval_tasks, 0))
        state.reset(seed=0)
        roll = collect(state, Actor(), family.episode_steps)
        speed = np.asarray(roll.obs)[family.episode_steps // 2 :, :, 3]  # torso_velocity, second half
        target = np.array([t.target_velocity for t in eval_tasks])
        report["mean_speed_error"] = np.abs(speed.mean(0) - target).tolist()
        report["speed_std_within_gait"] = speed.std(0).tolist()
    print(json.dumps(report))
    with open(out, "w") as f:
        json.dump(report, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
