"""Baselines of the evaluation protocol, stable-baselines3 SAC or PPO (`BaselineConfig.algo`) on the same tasks:

- domain-randomized (DR): one policy trained over the training distribution, no context;
- oracle: the same with the true task-parameter vector appended to the observation, each parameter
  scaled to [-1, 1] over its training range (`oracle_features`): raw units (kg, deg, steps) put inputs
  of very different sizes into an MLP without input normalization, and a payload heavier than any in
  training then lands far outside what the first layer has seen;
- from scratch: SAC trained on the single test task, with the adaptation budget and with 100x it.

SB3 trains them with its own rollout loop, with observations normalized by running statistics (SB3's
`VecNormalize`, as RL Zoo trains PPO and SAC on MuJoCo: joint velocities of 10 rad/s beside a command of
1 m/s otherwise dominate the first layer); the statistics are frozen at the end of training and become part
of the policy (`Baseline`), so evaluation, export and the robot see the same function. They are evaluated
through our collector (`SB3Actor`), like every method. Policies are saved as state_dicts (`torch.save`,
loaded with `weights_only=True`): SB3's zip format unpickles objects on load, which our checkpoints never do.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from robot_meta.checkpoint import load_torch
from sim_tasks import TaskEnv


@dataclass(frozen=True)
class BaselineConfig:
    """SB3 SAC settings for the baselines (SB3's MuJoCo defaults, except the update ratio).

    Attributes:
        steps: env steps of training for DR and oracle.
        n_envs: envs stepped together; with one gradient step per vector step this gives PEARL's ratio
            of about `n_envs` env steps per update.
        hidden: actor and critic widths.
        batch_size, lr, buffer_size, learning_starts: SB3 SAC arguments.
        algo: "sac" or "ppo": which stable-baselines3 algorithm trains the population baselines (the issue's bar
            is the stronger of the two at the same wall time).
        ppo_n_steps, ppo_batch_size, ppo_epochs: SB3 PPO arguments (per env rollout length, minibatch, epochs).
        normalize: observations (and, during training, rewards) normalized by running statistics.
        oracle_steps: env steps for the oracle (None: `steps`); an upper bound may take more than DR, whose
            budget is the one the adaptive methods are compared at.
        oracle_init: "dr": the oracle starts as the trained DR policy, its task inputs wired in with zero weights
            (`warm_start`), and trains `oracle_steps` more over its own tasks, so it starts exactly as good as DR
            where DR trained and only has to learn what knowing the task adds; "scratch": it trains from random
            weights.
        lr_schedule: "linear": the learning rate falls linearly from `lr` to 0 over the run (RL Zoo's `lin_`
            schedules), so that a policy ends settled rather than wherever a constant step size leaves its last
            update (measured: constant-rate PPO with twice the steps ended worse on both families); "constant".
        ppo_activation, ppo_log_std_init, ppo_ortho_init: SB3 PPO's policy_kwargs (hidden activation "tanh" or
            "relu", initial log std of the Gaussian, orthogonal initialization); ppo_clip, ppo_gamma,
            ppo_gae_lambda, ppo_ent_coef, ppo_vf_coef, ppo_max_grad_norm: its other arguments. SB3's defaults
            here; `PRESETS["zoo_cheetah"]` is RL Zoo's tuned HalfCheetah PPO.
    """

    steps: int = 400_000
    n_envs: int = 8
    hidden: tuple[int, ...] = (128, 128)
    batch_size: int = 256
    lr: float = 3e-4
    buffer_size: int = 500_000
    learning_starts: int = 5_000
    algo: str = "sac"
    ppo_n_steps: int = 256
    ppo_batch_size: int = 256
    ppo_epochs: int = 10
    normalize: bool = True
    oracle_steps: int | None = None
    oracle_init: str = "dr"
    lr_schedule: str = "linear"
    ppo_activation: str = "tanh"
    ppo_log_std_init: float = 0.0
    ppo_ortho_init: bool = True
    ppo_clip: float = 0.2
    ppo_gamma: float = 0.99
    ppo_gae_lambda: float = 0.95
    ppo_ent_coef: float = 0.0
    ppo_vf_coef: float = 0.5
    ppo_max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        if self.algo not in ("sac", "ppo"):
            raise ValueError(f"baseline algo {self.algo!r} is not one of sac, ppo")
        if self.lr_schedule not in ("linear", "constant"):
            raise ValueError(f"lr_schedule {self.lr_schedule!r} is not one of linear, constant")
        if self.oracle_init not in ("dr", "scratch"):
            raise ValueError(f"oracle_init {self.oracle_init!r} is not one of dr, scratch")
        if self.ppo_activation not in ACTIVATIONS:
            raise ValueError(f"ppo_activation {self.ppo_activation!r} is not one of {', '.join(ACTIVATIONS)}")
        for name in ("steps", "oracle_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"baseline {name}={value!r} must be a positive number of env steps")


ACTIVATIONS = ("tanh", "relu")  # BaselineConfig.ppo_activation
# Named sets of baseline settings (`--baseline-preset`). "zoo_cheetah": RL Zoo's tuned PPO for HalfCheetah
# (rl-baselines3-zoo hyperparams/ppo.yml; the runner is dm_control's cheetah): ReLU 256x256 without orthogonal
# initialization, initial action std e^-2, 20 epochs of minibatches of 64, clip 0.1, gamma 0.98, lambda 0.92, a
# constant rate of 2.06e-5 (the same gradient steps per sample as the zoo's 1 env, with this config's 8 envs).
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "zoo_cheetah": {
        "hidden": (256, 256),
        "ppo_activation": "relu",
        "ppo_ortho_init": False,
        "ppo_log_std_init": -2.0,
        "ppo_n_steps": 512,
        "ppo_batch_size": 64,
        "ppo_epochs": 20,
        "ppo_clip": 0.1,
        "ppo_gamma": 0.98,
        "ppo_gae_lambda": 0.92,
        "ppo_ent_coef": 0.000401762,
        "ppo_vf_coef": 0.58096,
        "ppo_max_grad_norm": 0.8,
        "lr": 2.0633e-5,
        "lr_schedule": "constant",
    },
}
# Settings that shape the network (not only its training): a cached policy is rebuilt with its own.
STRUCTURAL = ("hidden", "ppo_activation", "ppo_ortho_init", "ppo_log_std_init")

ORACLE_INPUT = "train_range_unit"  # recorded in saved oracles; a cache with another encoding is retrained


def oracle_features(family: Any, vectors: np.ndarray) -> np.ndarray:
    """Task vectors scaled so that each parameter's training range maps to [-1, 1].

    Args:
        family: the task family (its `params` give the training ranges).
        vectors: raw task vectors in declared units, shape (n_params,) or (N, n_params).

    Returns:
        float32 array of the same shape; test-only values past the training range fall outside [-1, 1]
        (not clipped: the oracle is told the truth).
    """
    lo = np.array([p.train[0] for p in family.hidden_params], dtype=np.float64)
    hi = np.array([p.train[1] for p in family.hidden_params], dtype=np.float64)
    half = np.maximum((hi - lo) / 2.0, 1e-6)
    return ((np.asarray(vectors, dtype=np.float64) - (lo + hi) / 2.0) / half).astype(np.float32)


class TaskDistributionEnv(gym.Wrapper):
    """A family env that draws a new task from `tasks` at every reset (domain randomization).

    With `oracle=True` the observation is [obs, task vector], the vector read at every step so that a
    mid-episode payload change reaches the oracle too.
    """

    def __init__(self, family: Any, tasks: list[Any], seed: int, oracle: bool = False) -> None:

        super().__init__(TaskEnv(family, tasks[0], resample_commands=True))
        self.tasks, self.oracle = list(tasks), oracle
        self._rng = np.random.default_rng(seed)
        if oracle:
            n = len(family.hidden_params)
            inner = self.env.observation_space
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(inner.shape[0] + n,), dtype=np.float32)

    def _obs(self, obs: np.ndarray) -> np.ndarray:
        if not self.oracle:
            return obs
        sim = self.env.unwrapped.sim
        return np.concatenate([obs, oracle_features(sim.family, sim.task_vector())]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        if len(self.tasks) > 1:
            self.env.unwrapped.set_task(self.tasks[int(self._rng.integers(len(self.tasks)))])
        obs, info = self.env.reset(seed=int(self._rng.integers(2**31)))
        return self._obs(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._obs(obs), reward, terminated, truncated, info


OBS_CLIP = 10.0  # normalized observations are clipped to +-this (SB3 VecNormalize's default)
OBS_EPS = 1e-8  # added to the variance before the square root (VecNormalize's default)


@dataclass(frozen=True)
class ObsNormalizer:
    """Frozen observation statistics: obs -> clip((obs - mean) / sqrt(var + eps), +-clip).

    Attributes:
        mean, var: float32 arrays of shape (obs_dim,), in the observation's units (and their squares).
        clip: bound on the normalized value.
    """

    mean: np.ndarray
    var: np.ndarray
    clip: float = OBS_CLIP

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        out = (np.asarray(obs, dtype=np.float32) - self.mean) / np.sqrt(self.var + OBS_EPS)
        return np.clip(out, -self.clip, self.clip).astype(np.float32)


class Baseline:
    """A trained SB3 model and the observation statistics it was trained with (None: raw observations).

    `predict` is the deterministic action of the policy on raw observations, shape (N, obs_dim) -> (N, act_dim);
    `graph()` is the same function as a torch module (export).
    """

    def __init__(self, model: Any, normalizer: ObsNormalizer | None, meta: dict[str, Any] | None = None) -> None:
        self.model, self.normalizer = model, normalizer
        self.meta = meta or {}  # what the cache recorded: algorithm, env steps, wall time, seed, config

    def predict(self, obs: np.ndarray) -> np.ndarray:
        if self.normalizer is not None:
            obs = self.normalizer(obs)
        action, _ = self.model.predict(obs, deterministic=True)
        return action

    def graph(self) -> torch.nn.Module:
        return SB3PolicyGraph(self.model, self.normalizer)


class SB3PolicyGraph(torch.nn.Module):
    """The deterministic action of an SB3 SAC or PPO policy on raw observations, as one module (export).

    SAC: tanh(mu(latent_pi(x))); PPO: clip(action_net(policy_net(x)), -1, 1) (SB3 clips a Gaussian policy's
    mean to the action space); x = clip((obs - mean) / sqrt(var + eps), +-clip) when normalized, else obs.
    Shapes: obs (N, obs_dim) -> action (N, act_dim) in [-1, 1].
    """

    def __init__(self, model: Any, normalizer: ObsNormalizer | None) -> None:
        super().__init__()
        policy = model.policy
        self.is_sac = hasattr(policy, "actor")
        if self.is_sac:
            self.body, self.head = policy.actor.latent_pi, policy.actor.mu
        else:
            self.body, self.head = policy.mlp_extractor.policy_net, policy.action_net
        self.normalized = normalizer is not None
        if normalizer is not None:
            self.register_buffer("mean", torch.as_tensor(normalizer.mean, dtype=torch.float32))
            self.register_buffer("inv_std", 1.0 / torch.sqrt(torch.as_tensor(normalizer.var, dtype=torch.float32) + OBS_EPS))
            self.clip = float(normalizer.clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        if self.normalized:
            x = torch.clamp((obs - self.mean) * self.inv_std, -self.clip, self.clip)
        y = self.head(self.body(x))
        return torch.tanh(y) if self.is_sac else torch.clamp(y, -1.0, 1.0)


def make_model(family: Any, tasks: list[Any], cfg: BaselineConfig, seed: int, oracle: bool, device: str = "cpu"):
    """An SB3 SAC or PPO (`cfg.algo`) on a DummyVecEnv of `TaskDistributionEnv`s (normalized when
    `cfg.normalize`)."""
    from stable_baselines3 import PPO, SAC
    from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor, VecNormalize

    def factory(i: int):
        return lambda: TaskDistributionEnv(family, tasks, seed=seed * 1000 + i, oracle=oracle)

    venv = VecMonitor(DummyVecEnv([factory(i) for i in range(cfg.n_envs)]))  # episode returns for the progress log
    if cfg.normalize:
        venv = VecNormalize(venv, norm_obs=True, norm_reward=True, clip_obs=OBS_CLIP, epsilon=OBS_EPS)
    lr = cfg.lr
    common = {
        "learning_rate": (lambda remaining: remaining * lr) if cfg.lr_schedule == "linear" else lr,
        "seed": seed,
        "device": device,
        "policy_kwargs": {"net_arch": list(cfg.hidden)},
        "verbose": 0,
    }
    if cfg.algo == "ppo":
        common["policy_kwargs"].update(
            activation_fn={"tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}[cfg.ppo_activation],
            ortho_init=cfg.ppo_ortho_init,
            log_std_init=cfg.ppo_log_std_init,
        )
        return PPO(
            "MlpPolicy",
            venv,
            n_steps=cfg.ppo_n_steps,
            batch_size=cfg.ppo_batch_size,
            n_epochs=cfg.ppo_epochs,
            clip_range=cfg.ppo_clip,
            gamma=cfg.ppo_gamma,
            gae_lambda=cfg.ppo_gae_lambda,
            ent_coef=cfg.ppo_ent_coef,
            vf_coef=cfg.ppo_vf_coef,
            max_grad_norm=cfg.ppo_max_grad_norm,
            **common,
        )
    return SAC(
        "MlpPolicy",
        venv,
        buffer_size=cfg.buffer_size,
        batch_size=cfg.batch_size,
        learning_starts=cfg.learning_starts,
        train_freq=1,
        gradient_steps=1,
        **common,
    )


def widen_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor], at: int, extra: int) -> dict:
    """`source`'s weights in `target`'s shapes, for a network whose input gained `extra` features at column `at`.

    A first-layer weight (rows equal, `extra` more columns) gets zero columns inserted at `at`: the new inputs have
    no effect until training gives them one (the columns after `at`, SAC's action inputs, keep their weights).
    Every other tensor must match in shape. Shapes: weight (out, in) -> (out, in + extra).
    """
    out = {}
    for key, new in target.items():
        old = source[key]
        if old.shape == new.shape:
            out[key] = old.clone()
        elif old.ndim == 2 and new.shape == (old.shape[0], old.shape[1] + extra):
            wide = torch.zeros_like(new)
            wide[:, :at], wide[:, at + extra :] = old[:, :at], old[:, at:]
            out[key] = wide
        else:
            raise ValueError(f"cannot warm start {key}: shape {tuple(old.shape)} -> {tuple(new.shape)}")
    return out


STATS_WARMUP_ROLLOUTS = 4  # rollouts of n_steps per env that estimate the reward scale before a warm start trains


def warm_start(model: Any, source: Baseline, family: Any, tasks: list[Any], cfg: BaselineConfig) -> None:
    """Make an oracle `model` compute what the DR policy `source` computes, its task inputs ignored.

    Weights: `widen_state_dict`. Observation statistics: DR's for the observation, the task features' exact
    mean and variance over `tasks` for the appended inputs, with DR's weight (a count of `cfg.steps`) so that
    they drift only as the oracle's own states pull them. The reward scale (SB3's running return variance, not
    saved with DR) is estimated by `STATS_WARMUP_ROLLOUTS` rollouts of the warm-started policy before training:
    a value function warm-started on one scale and trained on another would mislead the first updates.
    """
    obs_dim = source.model.observation_space.shape[0]
    extra = model.observation_space.shape[0] - obs_dim
    model.policy.load_state_dict(widen_state_dict(source.model.policy.state_dict(), model.policy.state_dict(), obs_dim, extra))
    vec_norm = model.get_vec_normalize_env()
    if (vec_norm is None) != (source.normalizer is None):
        raise ValueError("the DR policy and the oracle differ in observation normalization: train them alike")
    if vec_norm is None:
        return
    feats = oracle_features(family, np.stack([family.task_vector(t) for t in tasks]))
    mean = np.concatenate([source.normalizer.mean, feats.mean(0)]).astype(np.float64)
    var = np.concatenate([source.normalizer.var, feats.var(0) + 1e-6]).astype(np.float64)
    rms = vec_norm.obs_rms
    rms.mean, rms.var, rms.count = mean.copy(), var.copy(), float(cfg.steps)
    obs = vec_norm.reset()
    for _ in range(STATS_WARMUP_ROLLOUTS * (cfg.ppo_n_steps if cfg.algo == "ppo" else 256)):
        action, _ = model.predict(obs, deterministic=False)
        obs, _, _, _ = vec_norm.step(action)
    rms.mean, rms.var, rms.count = mean, var, float(cfg.steps)  # the warm-up only measured the reward scale


CHECKPOINT_EVERY = 100_000  # env steps between a PPO baseline's partial checkpoints (about 30-60 s on one core)


def _partial_state(model: Any, key: dict[str, Any], wall_s: float) -> dict[str, Any]:
    """What resuming a PPO baseline needs: weights, optimizer, running statistics and the env steps done."""
    state: dict[str, Any] = {
        "policy": model.policy.state_dict(),
        "optimizer": model.policy.optimizer.state_dict(),
        "num_timesteps": int(model.num_timesteps),
        "key": json.dumps(key, sort_keys=True),
        "wall_s": float(wall_s),
    }
    vec_norm = model.get_vec_normalize_env()
    if vec_norm is not None:
        state["vec_norm"] = {
            f"{name}_{field}": torch.as_tensor(np.asarray(getattr(getattr(vec_norm, name), field), dtype=np.float64))
            for name in ("obs_rms", "ret_rms")
            for field in ("mean", "var", "count")
        }
    return state


def read_partial(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The partial checkpoint at `path` if it was written for a training with the same `key`, else None."""
    if not path.exists():
        return None
    state = load_torch(path)
    return state if state.get("key") == json.dumps(key, sort_keys=True) else None


def _restore_partial(model: Any, state: dict[str, Any]) -> None:
    model.policy.load_state_dict(state["policy"])
    model.policy.optimizer.load_state_dict(state["optimizer"])
    model.num_timesteps = int(state["num_timesteps"])
    vec_norm = model.get_vec_normalize_env()
    if vec_norm is not None:
        for name in ("obs_rms", "ret_rms"):
            rms = getattr(vec_norm, name)
            rms.mean = state["vec_norm"][f"{name}_mean"].numpy().astype(np.float64)
            rms.var = state["vec_norm"][f"{name}_var"].numpy().astype(np.float64)
            rms.count = float(state["vec_norm"][f"{name}_count"])


def _checkpoint_callback(
    path: Path, every: int, key: dict[str, Any], wall_before: float, total: int, log: Callable[[str], None] | None = None
):
    """An SB3 callback that writes `_partial_state` at the start of a rollout (after the previous update) once
    `every` env steps have passed since the last one; written to a temporary file and renamed, so a kill leaves
    the previous checkpoint or the new one, never half of one. `log`, when given, gets a line of progress at each
    checkpoint (env steps of `total`, minutes so far and left, the recent training episodes' mean return): what a
    log file shows where no progress bar is drawn."""
    import os
    import time

    from stable_baselines3.common.callbacks import BaseCallback

    class Checkpointer(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.last, self.start = None, time.monotonic()

        def _on_rollout_start(self) -> None:
            done = self.model.num_timesteps
            if self.last is None:
                self.last = self.first = done
            elif done - self.last >= every:
                path.parent.mkdir(parents=True, exist_ok=True)  # a new cache dir is made by the first save
                tmp = path.with_name(path.name + ".tmp")
                wall = wall_before + time.monotonic() - self.start
                torch.save(_partial_state(self.model, key, wall), tmp)
                os.replace(tmp, path)
                if log is not None:
                    rate = (done - self.first) / max(time.monotonic() - self.start, 1e-9)  # env steps/s this process
                    episodes = [e["r"] for e in self.model.ep_info_buffer or []]
                    log(
                        f"{done}/{total} env steps, {wall / 60:.1f} min, about {(total - done) / max(rate, 1e-9) / 60:.0f} "
                        "min left" + (f", training return {np.mean(episodes):.1f}" if episodes else "")
                    )
                self.last = done

        def _on_step(self) -> bool:
            return True

    return Checkpointer()


def train_model(
    family: Any,
    tasks: list[Any],
    cfg: BaselineConfig,
    seed: int,
    oracle: bool,
    steps: int | None = None,
    progress: bool = False,
    device: str = "cpu",
    init: Baseline | None = None,
    checkpoint: Path | None = None,
    checkpoint_key: dict[str, Any] | None = None,
    checkpoint_every: int | None = None,
    resume: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
):
    """Train DR or the oracle (`oracle=True`) on `tasks`; returns the policy with its frozen statistics.

    `init`: a trained DR policy the oracle starts from (`warm_start`).
    `checkpoint` (PPO only): where a partial checkpoint is written every `checkpoint_every` env steps (None:
    `CHECKPOINT_EVERY`), stamped with `checkpoint_key` (what is trained, how, for how long). `resume`: such a
    partial checkpoint (`read_partial`, which checks the key) to continue from instead of starting over:
    weights, optimizer, normalization statistics and the learning rate schedule continue where they were, the
    environments start new episodes (with seeds drawn from the steps done), so a resumed policy is not
    bit-identical to an uninterrupted one. SAC's replay buffer is not saved, so SAC always starts over.
    The returned policy's `meta` says whether and where it resumed (`resumed_at`, env steps; `wall_s_before`).
    `log`: a line of progress at each partial checkpoint (where no progress bar is drawn, as in a log file).
    """
    import time

    start = time.monotonic()  # building the envs and the oracle's warm start are part of the training's cost
    total = steps if steps is not None else cfg.steps
    model = make_model(family, tasks, cfg, seed, oracle, device)
    # Without a logger of its own, SB3's learn() makes an empty /tmp/SB3-<time> folder at every call (1563 of
    # them here after the test suites); the progress that matters is ours (bar, `log`, the checkpoint's meta).
    from stable_baselines3.common.logger import Logger

    model.set_logger(Logger(folder=None, output_formats=[]))
    partial = resume if cfg.algo == "ppo" else None
    if partial is not None:
        _restore_partial(model, partial)
        model.set_random_seed(seed + model.num_timesteps)  # new episodes, not a replay of the first ones
    elif init is not None:
        warm_start(model, init, family, tasks, cfg)
    callback = None
    if checkpoint is not None and cfg.algo == "ppo":
        wall_before = float(partial["wall_s"]) if partial is not None else 0.0
        every = checkpoint_every if checkpoint_every is not None else CHECKPOINT_EVERY
        callback = _checkpoint_callback(checkpoint, every, checkpoint_key or {}, wall_before, total, log)
    done = model.num_timesteps
    model.learn(total_timesteps=total - done, progress_bar=progress, callback=callback, reset_num_timesteps=partial is None)
    info = {"resumed_at": done, "wall_s_before": float(partial["wall_s"])} if partial is not None else {}
    info["wall_s_this"] = round(time.monotonic() - start, 3)
    vec_norm = model.get_vec_normalize_env()
    if vec_norm is None:
        return Baseline(model, None, info)
    rms = vec_norm.obs_rms
    norm = ObsNormalizer(rms.mean.astype(np.float32), rms.var.astype(np.float32), float(vec_norm.clip_obs))
    return Baseline(model, norm, info)


def baseline_path(cache_dir: Path, name: str, algo: str, replica: int = 0) -> Path:
    """Where a cached population baseline lives: NAME.pt for SAC (the first algorithm), NAME_ALGO.pt otherwise;
    training seed `replica` > 0 (another training run of the same baseline) adds _rREPLICA."""
    stem = name if algo == "sac" else f"{name}_{algo}"
    return Path(cache_dir) / (f"{stem}.pt" if replica == 0 else f"{stem}_r{replica}.pt")


def save_policy(policy: Baseline, path: Path, meta: dict[str, Any]) -> None:
    """Weights, statistics and `meta` as one state_dict file (written whole or not at all)."""
    import json
    import os

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state: dict[str, Any] = {"policy": policy.model.policy.state_dict(), "meta": json.dumps(meta)}
    if policy.normalizer is not None:
        norm = policy.normalizer
        state["obs_norm"] = {"mean": torch.as_tensor(norm.mean), "var": torch.as_tensor(norm.var), "clip": norm.clip}
    torch.save(state, tmp)
    os.replace(tmp, path)


def read_meta(path: Path) -> dict[str, Any]:
    """What a cached baseline recorded (algorithm, steps, family, tasks' fingerprint), without rebuilding it."""
    return json.loads(load_torch(path)["meta"])


def load_policy(path: Path, family: Any, tasks: list[Any], cfg: BaselineConfig, oracle: bool) -> Baseline:
    """Rebuild an SB3 model of the same algorithm and shape and load its weights and statistics (no unpickling);
    what the cache recorded is the returned policy's `meta`."""
    state = load_torch(path)
    meta = json.loads(state["meta"])
    saved = meta.get("config", {})
    algo = saved.get("algo", "sac")  # caches from before PPO existed are SAC
    # the network it was trained with (caches from before a setting existed had its default)
    shape = {k: saved.get(k, BaselineConfig.__dataclass_fields__[k].default) for k in STRUCTURAL}
    shape["hidden"] = tuple(saved["hidden"]) if "hidden" in saved else cfg.hidden
    model = make_model(
        family,
        tasks[:1],
        BaselineConfig(**{**cfg.__dict__, **shape, "n_envs": 1, "algo": algo, "normalize": False}),
        seed=0,
        oracle=oracle,
    )
    model.policy.load_state_dict(state["policy"])
    norm = state.get("obs_norm")  # caches from before normalization have none: raw observations
    normalizer = None if norm is None else ObsNormalizer(norm["mean"].numpy(), norm["var"].numpy(), float(norm["clip"]))
    return Baseline(model, normalizer, meta)


class SB3Actor:
    """A trained baseline as an `Actor` of the collector (deterministic actions).

    With `env` given, the oracle's task vectors are read from it at every step (current payload included).
    """

    def __init__(self, policy: Baseline, env: Any = None) -> None:
        self.policy, self.env = policy, env

    def reset(self, mask: np.ndarray) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.env is not None:
            obs = np.concatenate([obs, oracle_features(self.env.family, self.env.task_vectors())], axis=1)
            obs = obs.astype(np.float32)
        return self.policy.predict(obs)

    def observe(self, obs, action, reward, next_obs, done) -> None:
        pass
