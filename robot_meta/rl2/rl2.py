"""RL²: a recurrent policy meta-trained with PPO over trials (Duan et al. 2016; Wang et al. 2016).

A trial is K episodes of one task; the GRU's hidden state persists across episode boundaries inside a
trial and is reset between trials, so the policy adapts in context with no weight update. Its input per
step is [obs, previous action, previous reward, done flag] (done = an episode of the trial just ended).
PPO (Schulman et al. 2017) with GAE (Schulman et al. 2016) over whole trials (episode ends inside a
trial do not cut the return), truncated backpropagation through time over chunks of `bptt` steps.

A compact GRU-PPO rather than sb3-contrib's RecurrentPPO: RecurrentPPO's recurrent core is an LSTM only,
and the deploy contract needs one exportable step (obs, prev_action, prev_reward, done, h_in) ->
(action, h_out), which `RL2Policy.step` is.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_meta.algorithm import MetaAlgorithm
from robot_meta.belief import DynamicsDecoder, TaskHead, task_targets
from robot_meta.collector import CollectorState, collect
from robot_meta.config import MAX_UNITS, ConfigError, MetaConfig, ranged
from robot_meta.export_spec import ActorRecorder, ExportSpec, GraphSpec, ParityCheck, record_online_rollout
from robot_meta.torch_utils import RunningNorm, clipped_surrogate, gae, gaussian_log_prob, scale_by_return_std


@dataclass(frozen=True)
class RL2Config(MetaConfig):
    """RL² hyperparameters (Meta-World's RL² table and varibad's RL² configs where they agree).

    Attributes:
        hidden: GRU size (Meta-World 256).
        embed: width of the input layer before the GRU.
        episodes_per_trial: K (varibad 2; garage 4-10).
        num_envs: tasks collected in parallel per iteration.
        lr, gamma, gae_lambda, clip, epochs, minibatches, vf_coef, ent_coef, max_grad_norm: PPO. 10 epochs x 16
            minibatches (of bptt-step sequences) = 160 updates per iteration, near SB3's MuJoCo PPO in updates
            per sample; a tenth of that does not learn the runner (docs/rl2.md).
        target_kl: PPO early stopping (as SB3's `target_kl`): the update of an iteration stops at the first
            minibatch whose approximate KL to the collecting policy exceeds 1.5 x target_kl; 0 disables it. It
            keeps many updates per sample from drifting the policy away from the one that collected.
        bptt: truncation length of backpropagation through time, steps. Sequences start every `bptt` steps of
            the rollout; when it divides the episode length (100 for 200-step episodes) every sequence starts
            at an episode start and no gradient crosses an episode boundary (docs/configs/rl2_planar_runner.yaml
            uses 150).
        init_log_std: initial log standard deviation of the Gaussian policy.
        fresh_tasks: every trial draws a new task from the family's training ranges (held-out regions
            excluded, as in Duan et al.'s sampling of MDPs per trial) instead of one of the split's fixed
            training tasks, so that the memory carried across episodes cannot learn a fixed set of tasks by
            heart (docs/rl2.md measures it on the arm).
        task_supervision: weight of the task-parameter regression from the hidden state at every step
            (`robot_meta.belief`; 0: off). Its gradient trains a training-only head and, through the hidden
            state, the GRU and its input layer (the memory the policy reads), not the action or value heads.
        dynamics_prediction: weight of a decoder's prediction of the next observation and the reward from
            (obs, action, hidden state) at every step (`robot_meta.belief`; 0: off); its gradient reaches the
            memory as the task supervision's does. The run's rhythm and threads: `MetaConfig`.
    """

    hidden: int = ranged(256, 1, MAX_UNITS)
    embed: int = ranged(128, 1, MAX_UNITS)
    episodes_per_trial: int = ranged(2, 1, 1000)
    num_envs: int = ranged(16, 1, 4096)
    lr: float = ranged(3e-4, 0, 1, open_lo=True)
    gamma: float = ranged(0.99, 0, 1, open_lo=True)
    gae_lambda: float = ranged(0.95, 0, 1)
    clip: float = ranged(0.2, 0, 1, open_lo=True)
    epochs: int = ranged(10, 1)
    minibatches: int = ranged(16, 1)
    bptt: int = ranged(100, 1)
    target_kl: float = ranged(0.02, 0)
    vf_coef: float = ranged(0.5, 0)
    ent_coef: float = ranged(0.0, 0)
    max_grad_norm: float = ranged(0.5, 0, open_lo=True)
    init_log_std: float = ranged(-0.5, -20, 5)
    fresh_tasks: bool = False
    task_supervision: float = ranged(0.0, 0)
    dynamics_prediction: float = ranged(0.0, 0)

    def validate(self) -> None:
        super().validate()
        if self.minibatches > self.num_envs:
            raise ConfigError(f"config minibatches={self.minibatches} must be <= num_envs={self.num_envs}")


class RL2Policy(nn.Module):
    """GRU policy with the normalizer inside. Shapes: obs (N, O), prev_action (N, A), prev_reward (N,),
    done (N,), h (N, H)."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: RL2Config) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, cfg.hidden
        self.norm = RunningNorm(obs_dim)
        self.embed = nn.Sequential(nn.Linear(obs_dim + act_dim + 2, cfg.embed), nn.Tanh())
        self.core = nn.GRU(cfg.embed, cfg.hidden)  # one layer; a single step is a sequence of length 1
        self.pi = nn.Linear(cfg.hidden, act_dim)
        self.v = nn.Linear(cfg.hidden, 1)
        self.log_std = nn.Parameter(torch.full((act_dim,), cfg.init_log_std))
        nn.init.orthogonal_(self.pi.weight, 0.01)
        nn.init.zeros_(self.pi.bias)

    def step(self, obs, prev_action, prev_reward, done, h) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: (action mean (N, A), value (N,), h_out (N, H)). The exported graph is this."""
        x = torch.cat([self.norm(obs), prev_action, prev_reward[..., None], done[..., None]], -1)
        _, h = self.core(self.embed(x)[None], h[None])
        h = h[0]
        return self.pi(h), self.v(h).squeeze(-1), h

    def sequence(self, obs, prev_action, prev_reward, done, h0, reset) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Unroll over (T, N, ...) from h0 (N, H), zeroing h before step t where `reset[t]` (a trial starts).
        Returns (action mean (T, N, A), value (T, N), hidden state after each step (T, N, H)).

        Without a reset after the first step the whole sequence is one fused GRU call; otherwise it is
        stepped, which gives the same numbers.
        """
        h0 = h0 * (1.0 - reset[0])[:, None]
        e = self.embed(torch.cat([self.norm(obs), prev_action, prev_reward[..., None], done[..., None]], -1))
        if not bool(reset[1:].any()):
            out, _ = self.core(e, h0[None])
        else:
            outs, h = [], h0[None]
            for t in range(e.shape[0]):
                h = h * (1.0 - reset[t])[None, :, None]
                o, h = self.core(e[t : t + 1], h)
                outs.append(o[0])
            out = torch.stack(outs)
        return self.pi(out), self.v(out).squeeze(-1), out


class TrialSchedule:
    """Which sub-env starts a new trial, and its task: a new task every K episodes (the trial wrapper).

    `on_episode_end` is the batched env's hook; `trial_start[i]` tells the actor to reset env i's memory.
    With `tasks` None the task never changes (evaluation: the trial is the env's task); `draw(rng)`, when
    given, makes the new task instead of picking one of `tasks` (RL2Config.fresh_tasks).
    """

    def __init__(
        self,
        num_envs: int,
        k: int,
        tasks: list[Any] | None = None,
        rng: np.random.Generator | None = None,
        draw: Callable[[np.random.Generator], Any] | None = None,
    ) -> None:
        self.k, self.tasks, self.rng, self.draw = k, tasks, rng, draw
        self.episodes = np.zeros(num_envs, dtype=np.int64)
        self.trial_start = np.ones(num_envs, dtype=bool)

    def on_episode_end(self, i: int) -> Any:
        self.episodes[i] += 1
        if self.episodes[i] % self.k == 0:
            self.trial_start[i] = True
            if self.tasks is not None:
                return self.new_tasks(1)[0]
        return None

    def new_tasks(self, n: int) -> list[Any]:
        """`n` tasks for new trials: drawn by `draw`, or picked uniformly from `tasks`."""
        if self.draw is not None:
            return [self.draw(self.rng) for _ in range(n)]
        return [self.tasks[int(i)] for i in self.rng.integers(len(self.tasks), size=n)]


class RL2Actor:
    """RL² as an `Actor` of the collector; with `record` it keeps what PPO needs from the collection.

    Memory resets: at a trial start (per `schedule.trial_start`, or at an actor's first episode when there
    is no schedule). With `reset_every_episode` memory is dropped at every episode (the no-adaptation
    baseline).
    """

    def __init__(
        self,
        policy: RL2Policy,
        num_envs: int,
        generator: torch.Generator,
        schedule: TrialSchedule | None = None,
        deterministic: bool = False,
        record: bool = False,
        reset_every_episode: bool = False,
    ) -> None:
        self.p, self.n, self.gen, self.schedule = policy, num_envs, generator, schedule
        self.deterministic, self.record, self.reset_every_episode = deterministic, record, reset_every_episode
        a = policy.act_dim
        dev = self.device = policy.log_std.device
        self.h = torch.zeros(num_envs, policy.hidden, device=dev)
        self.prev_a = torch.zeros(num_envs, a, device=dev)
        self.prev_r, self.done = torch.zeros(num_envs, device=dev), torch.zeros(num_envs, device=dev)
        self.first = np.ones(num_envs, dtype=bool)
        self.reset_flag = np.zeros(num_envs, dtype=bool)
        self.log: dict[str, list] = {
            k: [] for k in ("obs", "prev_a", "prev_r", "done", "h", "reset", "action", "logp", "value", "trial_end")
        }

    def reset(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            new_trial = (
                self.first[i] or self.reset_every_episode or (self.schedule is not None and self.schedule.trial_start[i])
            )
            if new_trial:
                self.h[i] = 0.0
                self.prev_a[i], self.prev_r[i], self.done[i] = 0.0, 0.0, 0.0
                if self.schedule is not None:
                    self.schedule.trial_start[i] = False
                self.reset_flag[i] = True
            else:
                self.done[i] = 1.0  # an episode of this trial just ended; memory carries on
            self.first[i] = False

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32, device=self.device)
        h_before = self.h.clone()
        mean, value, self.h = self.p.step(o, self.prev_a, self.prev_r, self.done, self.h)
        if self.deterministic:
            action = mean
        else:  # noise drawn on the CPU generator, so a run's randomness does not depend on the device
            action = mean + self.p.log_std.exp() * torch.randn(mean.shape, generator=self.gen).to(self.device)
        if self.record:
            logp = gaussian_log_prob(action, mean, self.p.log_std)
            for k, v in (
                ("obs", o),
                ("prev_a", self.prev_a.clone()),
                ("prev_r", self.prev_r.clone()),
                ("done", self.done.clone()),
                ("h", h_before),
                ("reset", torch.as_tensor(self.reset_flag.copy(), device=self.device)),
                ("action", action),
                ("logp", logp),
                ("value", value),
            ):
                self.log[k].append(v)
        self.reset_flag[:] = False
        self._last_action = action
        return action.clamp(-1.0, 1.0).cpu().numpy()

    def observe(self, obs, action, reward, next_obs, done) -> None:
        self.prev_a = self._last_action.clamp(-1.0, 1.0)
        self.prev_r = torch.as_tensor(reward, dtype=torch.float32, device=self.device)
        self.done = torch.zeros(self.n, device=self.device)
        if self.record:
            ended = np.zeros(self.n, dtype=bool) if self.schedule is None else (np.asarray(done) & self.schedule.trial_start)
            self.log["trial_end"].append(torch.as_tensor(ended, device=self.device))

    def belief(self) -> np.ndarray:
        """What the actor believes about the task now: its hidden state per env, (N, H)."""
        return self.h.detach().cpu().numpy().copy()

    @torch.no_grad()
    def value(self, obs: np.ndarray) -> torch.Tensor:
        """V of the next step from the current memory (bootstrap at the end of a rollout)."""
        _, v, _ = self.p.step(
            torch.as_tensor(obs, dtype=torch.float32, device=self.device), self.prev_a, self.prev_r, self.done, self.h
        )
        return v


class RL2(MetaAlgorithm):
    """The algorithm: trials over sampled training tasks, collected together, then PPO epochs."""

    name = "rl2"
    config_class = RL2Config

    def __init__(
        self,
        make_env: Any,
        train_tasks: list[Any],
        cfg: RL2Config,
        seed: int,
        device: torch.device,
        test_tasks: list[Any] | None = None,
    ) -> None:
        super().__init__(make_env, train_tasks, cfg, seed, device, test_tasks)
        self.env = make_env([self.train_tasks[i % len(self.train_tasks)] for i in range(cfg.num_envs)], seed)
        draw = self.family.sample_train_task if cfg.fresh_tasks else None
        self.schedule = TrialSchedule(cfg.num_envs, cfg.episodes_per_trial, self.train_tasks, self.rng, draw)
        self.env.on_episode_end = self.schedule.on_episode_end  # the trial wrapper
        self.state = CollectorState(self.env)
        obs_dim = self.env.single_observation_space.shape[0]
        act_dim = self.env.single_action_space.shape[0]
        self.policy = self.seeded(lambda: RL2Policy(obs_dim, act_dim, cfg).to(self.device))
        params = list(self.policy.parameters())
        if cfg.task_supervision > 0:  # training-only, never exported (the exported graph is `policy.step`)
            n_params = len(self.family.hidden_params)
            self.task_head = self.seeded(lambda: TaskHead(cfg.hidden, n_params).to(self.device))
            params += list(self.task_head.parameters())
        if cfg.dynamics_prediction > 0:
            self.decoder = self.seeded(lambda: DynamicsDecoder(obs_dim, act_dim, cfg.hidden).to(self.device))
            params += list(self.decoder.parameters())
        self.opt = torch.optim.Adam(params, lr=cfg.lr, eps=1e-5)
        self.ret_var, self.ret_count = 1.0, 1e-4  # running variance of discounted returns, for reward scaling

    @property
    def rollout_steps(self) -> int:
        return self.cfg.episodes_per_trial * self.family.episode_steps

    def _scale_rewards(self, rewards: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
        """Divide by the running std of discounted returns (as SB3's VecNormalize does for rewards)."""
        scaled, self.ret_var, self.ret_count = scale_by_return_std(rewards, cut, self.cfg.gamma, self.ret_var, self.ret_count)
        return scaled

    def _train_iteration(self) -> dict[str, float]:
        cfg = self.cfg
        t0 = time.perf_counter()
        self.env.set_tasks(self.schedule.new_tasks(cfg.num_envs))
        self.schedule.episodes[:] = 0
        self.schedule.trial_start[:] = True
        self.state.reset(seed=int(self.rng.integers(2**31)))
        actor = RL2Actor(self.policy, cfg.num_envs, self.gen, self.schedule, record=True)
        roll = collect(self.state, actor, self.rollout_steps)
        last_value = actor.value(self.state.obs)
        self.env_steps += self.rollout_steps * cfg.num_envs
        t1 = time.perf_counter()
        log = {k: torch.stack(v) for k, v in actor.log.items()}
        if cfg.task_supervision > 0:
            log["task"] = task_targets(self.family, roll.task_vector, self.device)  # (T, N, n_hidden)
        if cfg.dynamics_prediction > 0:  # what followed each step: the decoder's targets
            log["next_obs"] = torch.as_tensor(roll.next_obs, device=self.device)
            log["reward"] = torch.as_tensor(roll.reward, device=self.device)
        rewards = torch.as_tensor(roll.reward, device=self.device)
        cut = log["trial_end"]
        scaled = self._scale_rewards(rewards, cut)
        adv, ret = gae(scaled, log["value"], last_value, cut, cfg.gamma, cfg.gae_lambda)
        stats = self._ppo(log, adv, ret)
        # The normalizer moves after the update, not before: PPO's ratio must compare the collecting policy
        # with itself at the first minibatch (updating it first made the ratio != 1 before any step).
        self.policy.norm.update(torch.as_tensor(roll.obs, device=self.device))
        t2 = time.perf_counter()
        self.iteration += 1
        k = cfg.episodes_per_trial
        per_episode = _trial_episode_returns(roll, k)
        metrics = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "return_mean": float(np.mean([r for ep in per_episode for r in ep])) if per_episode[0] else float("nan"),
            "tracking_error": float(roll.tracking_error.mean()),
            "env_steps_per_s": self.rollout_steps * cfg.num_envs / max(t1 - t0, 1e-9),
            "updates_per_s": stats.pop("n_updates") / max(t2 - t1, 1e-9),
            **stats,
        }
        for j, ep in enumerate(per_episode):
            if ep:
                metrics[f"return_episode_{j + 1}"] = float(np.mean(ep))
        return metrics

    def _ppo(self, log: dict[str, torch.Tensor], adv: torch.Tensor, ret: torch.Tensor) -> dict[str, float]:
        """PPO epochs over sequences of `bptt` steps: (T, N) is cut into chunks, each chunk of each env is a
        sequence starting from the hidden state recorded when it was collected."""
        cfg = self.cfg
        t_len, n = adv.shape
        L = min(cfg.bptt, t_len)
        n_chunks = t_len // L  # a remainder shorter than bptt is dropped from the update

        def seqs(x: torch.Tensor) -> torch.Tensor:  # (T, N, ...) -> (L, n_chunks * N, ...)
            x = x[: n_chunks * L]
            return x.reshape(n_chunks, L, n, *x.shape[2:]).transpose(0, 1).reshape(L, n_chunks * n, *x.shape[2:])

        adv_n = (adv - adv.mean()) / (adv.std() + 1e-8)
        data = {
            k: seqs(log[k])
            for k in ("obs", "prev_a", "prev_r", "done", "reset", "action", "logp", "task", "next_obs", "reward")
            if k in log
        }
        data["reset"] = data["reset"].float()
        data["adv"], data["ret"] = seqs(adv_n), seqs(ret)
        h0 = log["h"][torch.arange(n_chunks, device=adv.device) * L].reshape(
            n_chunks * n, -1
        )  # hidden state at each chunk's start
        n_seq = n_chunks * n
        acc: dict[str, list[float]] = {"loss_pi": [], "loss_v": [], "entropy": [], "approx_kl": [], "clip_frac": []}
        updates, stopped = 0, False
        for _ in range(cfg.epochs):
            if stopped:
                break
            for mb in np.array_split(self.rng.permutation(n_seq), min(cfg.minibatches, n_seq)):
                idx = torch.as_tensor(mb, device=adv.device)
                d = {k: v[:, idx] for k, v in data.items()}
                mean, value, hidden = self.policy.sequence(d["obs"], d["prev_a"], d["prev_r"], d["done"], h0[idx], d["reset"])
                logp = gaussian_log_prob(d["action"], mean, self.policy.log_std)
                pi_loss, ratio = clipped_surrogate(logp, d["logp"], d["adv"], cfg.clip)
                v_loss = ((value - d["ret"]) ** 2).mean()
                entropy = (self.policy.log_std + 0.5 * np.log(2 * np.pi * np.e)).sum()
                loss = pi_loss + cfg.vf_coef * v_loss - cfg.ent_coef * entropy
                if "task" in d:
                    task_loss = self.task_head.loss(hidden, d["task"])
                    loss = loss + cfg.task_supervision * task_loss
                if "next_obs" in d:  # the action as executed (clipped), as the environment saw it
                    act = d["action"].clamp(-1.0, 1.0)
                    dyn_loss = self.decoder.loss(self.policy.norm, d["obs"], act, hidden, d["next_obs"], d["reward"])
                    loss = loss + cfg.dynamics_prediction * dyn_loss
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - ratio.log()).mean().item()  # Schulman's k3 estimator
                if cfg.target_kl > 0 and approx_kl > 1.5 * cfg.target_kl:
                    stopped = True
                    acc["approx_kl"].append(approx_kl)
                    break
                self.opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.opt.step()
                updates += 1
                with torch.no_grad():
                    acc["loss_pi"].append(pi_loss.item())
                    acc["loss_v"].append(v_loss.item())
                    acc["entropy"].append(entropy.item())
                    acc["approx_kl"].append(approx_kl)
                    if "task" in d:
                        acc.setdefault("loss_task", []).append(task_loss.item())
                    if "next_obs" in d:
                        acc.setdefault("loss_dynamics", []).append(dyn_loss.item())
                    acc["clip_frac"].append(((ratio - 1).abs() > cfg.clip).float().mean().item())
        self.updates += updates
        out = {k: float(np.mean(v)) for k, v in acc.items()}
        out["n_updates"] = updates
        out["early_stopped"] = float(stopped)
        out["log_std"] = float(self.policy.log_std.mean().item())
        return out

    # ---- evaluation ----------------------------------------------------------------------------------
    def actor(self, mode: str, num_envs: int, generator: torch.Generator, prior_episodes: int = 1) -> RL2Actor:
        """Adapted (episodic and online): memory carried across the trial's episodes and through a payload
        change; prior-only: memory dropped at every episode start (no cross-episode adaptation)."""
        return RL2Actor(
            self.policy, num_envs, generator, schedule=None, deterministic=True, reset_every_episode=mode == "prior_only"
        )

    # ---- export ----------------------------------------------------------------------------------------
    def export_spec(self) -> ExportSpec:
        """One graph, `step`: obs (N, O), prev_action (N, A), prev_reward (N,), done (N,), h_in (N, H) ->
        action (N, A) (the mean, clipped to [-1, 1]), h_out (N, H); the runtime owns the recurrent state."""
        cfg, p = self.cfg, self.policy.cpu().eval()
        inputs = ("obs", "prev_action", "prev_reward", "done", "h_in")
        example = (
            torch.zeros(2, p.obs_dim),
            torch.zeros(2, p.act_dim),
            torch.zeros(2),
            torch.zeros(2),
            torch.zeros(2, p.hidden),
        )
        adaptation = {
            "kind": "rl2",
            "hidden_size": cfg.hidden,
            "inputs": list(inputs),
            "episodes_per_trial": cfg.episodes_per_trial,
            "reset": "h_in, prev_action, prev_reward = 0 at a trial start; done = 1 on the first step after an episode end",
        }

        def record(family: Any) -> dict[str, np.ndarray]:
            gen = torch.Generator().manual_seed(0)
            return record_online_rollout(lambda env: _RL2Recorder(self.actor("online", env.num_envs, gen)), family)

        return ExportSpec(
            graphs={"step": GraphSpec("step.onnx", _StepGraph(p), example, inputs, ("action", "h_out"))},
            adaptation=adaptation,
            record=record,
            checks=(ParityCheck("action", "step", "action", "action"), ParityCheck("h_out", "step", "h_out", "h_out")),
            belief="h",  # the field report's payload estimate reads the hidden state (the runtime's h_out)
        )

    # ---- checkpoint state ----------------------------------------------------------------------------
    def _get_torch_save_params(self) -> list[str]:
        weights = (("task_head", self.cfg.task_supervision), ("decoder", self.cfg.dynamics_prediction))
        return ["policy", "opt", *(name for name, w in weights if w > 0)]

    def _get_json_save_params(self) -> list[str]:
        return [*super()._get_json_save_params(), "ret_var", "ret_count"]


class _StepGraph(nn.Module):
    def __init__(self, policy: RL2Policy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs, prev_action, prev_reward, done, h_in) -> tuple[torch.Tensor, torch.Tensor]:
        mean, _, h_out = self.policy.step(obs, prev_action, prev_reward, done, h_in)
        return mean.clamp(-1.0, 1.0), h_out


class _RL2Recorder(ActorRecorder):
    """The online actor, recording the step graph's inputs and torch's outputs at every step."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        a = self.actor
        inputs = dict(
            obs=obs,
            prev_action=a.prev_a.cpu().numpy(),
            prev_reward=a.prev_r.cpu().numpy(),
            done=a.done.cpu().numpy(),
            h_in=a.h.cpu().numpy(),
        )
        action = a.act(obs)
        self.rec.add(**inputs, action=action, h_out=a.h.cpu().numpy())
        return action


def _trial_episode_returns(roll: Any, k: int) -> list[list[float]]:
    """Returns grouped by position in the trial: [[returns of 1st episodes], ..., [of K-th episodes]]."""
    out: list[list[float]] = [[] for _ in range(k)]
    for per_env in roll.episode_returns():
        for j, r in enumerate(per_env):
            out[j % k].append(r)
    return out
