"""PEARL: off-policy meta-RL with a probabilistic context variable (Rakelly et al., ICML 2019).

SAC conditioned on a latent task variable z, with a context encoder q(z | c) trained through the critic's
loss plus `kl_lambda` * KL(q(z | c) || N(0, I)), as oyster's `PEARLSoftActorCritic`. Two changes from
oyster, both standard SAC since Haarnoja et al. 2018b: twin Q targets instead of a V network, and an
entropy temperature tuned automatically to a target entropy of -|A|, because our families' rewards
differ in scale (oyster fixes the temperature at 1 and tunes `reward_scale` per environment instead).

Collection follows oyster's schedule, vectorized over the tasks of an iteration: `initial_steps` per
training task with z from the prior; then per iteration, for `tasks_per_iteration` tasks, the encoder
buffer of each is cleared, `steps_prior` steps with z ~ prior go to both buffers, and `steps_posterior`
steps with z ~ q(z | context from the encoder buffer) go to the RL buffer only.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from deploy.manifest import MAX_CONTEXT  # the runtime refuses a longer window: training does too
from robot_meta.algorithm import MetaAlgorithm
from robot_meta.belief import DynamicsDecoder, TaskHead, task_targets
from robot_meta.buffers import MultiTaskReplayBuffer, TransitionBatch
from robot_meta.collector import CollectorState, collect
from robot_meta.config import MAX_UNITS, ConfigError, MetaConfig, ranged
from robot_meta.evaluation import episodic_returns
from robot_meta.export_spec import ActorRecorder, ExportSpec, GraphSpec, ParityCheck, record_online_rollout
from robot_meta.pearl.networks import ContextEncoder, TanhGaussianPolicy, TwinQ, kl_to_standard_normal, product_of_gaussians
from robot_meta.torch_utils import RunningNorm, polyak

CONTEXT_SOURCES = ("buffer", "windows")  # PearlConfig.context_source


@dataclass(frozen=True)
class PearlConfig(MetaConfig):
    """PEARL hyperparameters. Defaults are sized for 2 CPU cores; `REFERENCE` is oyster's (GPU) sizes.

    Attributes:
        latent_dim: size of z (oyster 5).
        encoder_hidden: context encoder MLP (oyster 3x200).
        hidden: actor and critic MLPs (oyster 3x300).
        meta_batch: tasks per gradient step (oyster 16).
        batch_size: RL transitions per task per gradient step (oyster 256).
        context_batch: context transitions per task per gradient step (oyster cheetah-vel 100).
        kl_lambda: weight of the KL term (oyster 0.1).
        reward_scale: multiplies rewards in the Bellman target (1: the auto temperature absorbs scale).
        lr: Adam learning rate of every network and the temperature (oyster 3e-4).
        gamma: discount. tau: Polyak rate of the target critics.
        initial_steps: steps per training task before training, z from the prior (oyster 2000).
        tasks_per_iteration: tasks collected per iteration, stepped together (oyster 5).
        steps_prior: steps per task with z ~ prior, into both buffers (oyster 400).
        steps_posterior: steps per task with z ~ posterior, into the RL buffer only (oyster 600).
        updates_per_iteration: gradient steps per iteration (oyster 2000).
        buffer_capacity: transitions kept per task in each buffer.
        use_next_obs: include s' in the context (oyster does for dynamics tasks; payload is one).
        window: context window of the online mode, transitions (the runtime's window).
        eval_prior_episodes: leading episodes of the held-out check's trial with z from the prior (PEARL's
            paper protocol: 3 episodes, 2 of them prior).
        task_supervision: weight of the task-parameter regression from the posterior mean (`robot_meta.belief`;
            0: off, oyster's PEARL). Its gradient trains the encoder and a training-only head, not the policy or
            the critics.
        dynamics_prediction: weight of the decoder's next-observation and reward prediction from (s, a, z) on
            the task's RL transitions, z drawn from the posterior (`robot_meta.belief`; 0: off). Its gradient
            trains the encoder and a training-only decoder.
        context_source: where the encoder's training contexts come from: "buffer" (oyster: `context_batch`
            transitions drawn at random from the encoder buffer, prior-collected) or "windows" (`window`
            consecutive transitions from the RL buffer, prior and posterior collections: the context the online
            mode infers from on the robot, a sliding window of the last steps). The run's rhythm and threads:
            `MetaConfig`.
    """

    latent_dim: int = ranged(5, 1, 4096)
    encoder_hidden: tuple[int, ...] = ranged((128, 128, 128), 1, MAX_UNITS)
    hidden: tuple[int, ...] = ranged((128, 128), 1, MAX_UNITS)
    meta_batch: int = ranged(8, 1)
    batch_size: int = ranged(128, 1)
    context_batch: int = ranged(100, 1)
    kl_lambda: float = ranged(0.1, 0)
    reward_scale: float = ranged(1.0, 0, open_lo=True)
    lr: float = ranged(3e-4, 0, 1, open_lo=True)
    gamma: float = ranged(0.99, 0, 1, open_lo=True)
    tau: float = ranged(0.005, 0, 1, open_lo=True)
    initial_steps: int = ranged(1000, 0)
    tasks_per_iteration: int = ranged(5, 1)
    steps_prior: int = ranged(400, 0)
    steps_posterior: int = ranged(600, 0)
    updates_per_iteration: int = ranged(500, 0)
    buffer_capacity: int = ranged(50_000, 1)
    use_next_obs: bool = True
    window: int = ranged(64, 1, MAX_CONTEXT)
    eval_prior_episodes: int = ranged(1, 0)
    task_supervision: float = ranged(0.0, 0)
    dynamics_prediction: float = ranged(0.0, 0)
    context_source: str = "buffer"

    def validate(self) -> None:
        super().validate()
        if self.context_source not in CONTEXT_SOURCES:
            raise ConfigError(f"config context_source={self.context_source!r} is not one of {', '.join(CONTEXT_SOURCES)}")


REFERENCE = PearlConfig(
    encoder_hidden=(200, 200, 200),
    hidden=(300, 300, 300),
    meta_batch=16,
    batch_size=256,
    initial_steps=2000,
    updates_per_iteration=2000,
    buffer_capacity=1_000_000,
)


class PearlNetworks(torch.nn.Module):
    """Everything PEARL learns, in one module so that one state_dict holds it."""

    def __init__(self, obs_dim: int, act_dim: int, cfg: PearlConfig, n_task_params: int = 0) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.latent_dim = obs_dim, act_dim, cfg.latent_dim
        # training-only, never exported; present only when the config asks for it (older checkpoints load as before)
        self.task_head = TaskHead(cfg.latent_dim, n_task_params) if cfg.task_supervision > 0 else None
        self.decoder = DynamicsDecoder(obs_dim, act_dim, cfg.latent_dim) if cfg.dynamics_prediction > 0 else None
        self.norm = RunningNorm(obs_dim)
        self.encoder = ContextEncoder(obs_dim, act_dim, cfg.latent_dim, cfg.encoder_hidden, self.norm)
        self.policy = TanhGaussianPolicy(obs_dim, cfg.latent_dim, act_dim, cfg.hidden, self.norm)
        self.q = TwinQ(obs_dim, cfg.latent_dim, act_dim, cfg.hidden, self.norm)
        self.q_target = copy.deepcopy(self.q)
        self.q_target.norm = self.norm  # the target critics see the same normalization as the live ones
        self.q_target.requires_grad_(False)
        self.log_alpha = torch.nn.Parameter(torch.zeros(()))

    def context(self, batch: TransitionBatch, use_next_obs: bool) -> torch.Tensor:
        """Transitions as encoder input (T, N, transition_dim); s' zeroed when the config leaves it out."""
        next_obs = batch.next_obs if use_next_obs else np.zeros_like(batch.next_obs)
        return torch.as_tensor(np.concatenate([batch.obs, batch.action, batch.reward, next_obs], -1))


class PearlActor:
    """PEARL as an `Actor` of the collector, in one of its adaptation modes.

    Modes:
        "prior": z ~ N(0, I), drawn anew each episode.
        "posterior": z ~ q(z | c) with c sampled from the task's encoder buffer at each episode start
            (training collection; needs `context_fn`).
        "episodic": context carried across episodes; episodes before `prior_episodes` use a prior draw,
            later ones a posterior draw from all transitions so far (the paper's protocol).
        "online": z = mean of q(z | last `window` transitions), re-inferred every `infer_every` steps;
            an empty window is the prior (what runs on the robot).

    Args:
        nets: the networks. mode: as above. num_envs: N. deterministic: act with tanh(mean).
        generator: torch generator for z draws and action noise.
    """

    def __init__(
        self,
        nets: PearlNetworks,
        mode: str,
        num_envs: int,
        cfg: PearlConfig,
        generator: torch.Generator,
        deterministic: bool = False,
        context_fn: Any = None,
        prior_episodes: int = 1,
        infer_every: int = 1,
        device: torch.device | None = None,
    ) -> None:
        if mode not in ("prior", "posterior", "episodic", "online"):
            raise ValueError(f"unknown PEARL actor mode {mode!r}")
        self.nets, self.mode, self.n, self.cfg, self.gen = nets, mode, num_envs, cfg, generator
        self.deterministic, self.context_fn, self.prior_episodes, self.infer_every = (
            deterministic,
            context_fn,
            prior_episodes,
            infer_every,
        )
        self.device = device or torch.device("cpu")
        latent = cfg.latent_dim
        self.z = torch.zeros(num_envs, latent)
        self.episode = np.zeros(num_envs, dtype=np.int64)  # episodes started in the current trial
        cap = cfg.window if mode == "online" else 4096
        self._prec = torch.zeros(num_envs, cap, latent)  # ring of factor precisions
        self._eta = torch.zeros(num_envs, cap, latent)  # ring of precision * mean
        self._count = np.zeros(num_envs, dtype=np.int64)
        self._steps = np.zeros(num_envs, dtype=np.int64)
        self.started = np.zeros(num_envs, dtype=bool)

    def new_trial(self, mask: np.ndarray | None = None) -> None:
        """Forget the context (a new task): the next episode is episode 1 of a trial."""
        mask = np.ones(self.n, bool) if mask is None else mask
        self._count[mask] = 0
        self._prec[torch.as_tensor(mask)] = 0.0
        self._eta[torch.as_tensor(mask)] = 0.0
        self.episode[mask] = 0
        self.started[mask] = False

    def belief(self) -> np.ndarray:
        """What the actor believes about the task now: the posterior mean of z per env, (N, L)."""
        return self.posterior()[0].numpy().copy()

    def posterior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Current q(z | context) per env, (N, L) each; the prior where there is no context."""
        prec = self._prec.sum(1)
        eta = self._eta.sum(1)
        empty = torch.as_tensor(self._count == 0)[:, None].float()
        var = 1.0 / (prec + empty)
        return var * eta, var

    def _draw(self, idx: np.ndarray, from_posterior: bool) -> None:
        latent = self.cfg.latent_dim
        eps = torch.randn(len(idx), latent, generator=self.gen)
        if from_posterior:
            mu, var = self.posterior()
            self.z[idx] = mu[idx] + var[idx].sqrt() * eps
        else:
            self.z[idx] = eps

    def reset(self, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if self.mode == "prior":
            if self.deterministic:
                self.z[idx] = 0.0  # the prior's mean: the no-adaptation baseline
            else:
                self._draw(idx, from_posterior=False)
        elif self.mode == "posterior":
            with torch.no_grad():
                ctx = self.context_fn(idx)  # (len(idx), C, transition_dim)
                mu, var = self.nets.encoder(ctx.to(self.device))
                mu_p, var_p = product_of_gaussians(mu, var)
            eps = torch.randn(len(idx), self.cfg.latent_dim, generator=self.gen)
            self.z[idx] = (mu_p + var_p.sqrt() * eps.to(mu_p.device)).cpu()
        elif self.mode == "episodic":
            late = self.episode[idx] >= self.prior_episodes
            self._draw(idx[~late], from_posterior=False)
            if late.any():
                self._draw(idx[late], from_posterior=True)
                if self.deterministic:
                    mu, _ = self.posterior()
                    self.z[idx[late]] = mu[idx[late]]
        else:  # online: the window's posterior mean, refreshed in observe
            mu, _ = self.posterior()
            self.z[idx] = mu[idx]
        self.episode[idx] += 1
        self.started[idx] = True

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        o = torch.as_tensor(obs, device=self.device)
        z = self.z.to(self.device)
        if self.deterministic:
            a = self.nets.policy(o, z)
        else:
            a, _ = self.nets.policy.sample(o, z, generator=self.gen)
        return a.cpu().numpy()

    @torch.no_grad()
    def observe(self, obs, action, reward, next_obs, done) -> None:
        if self.mode not in ("episodic", "online"):
            return
        next_obs_ctx = next_obs if self.cfg.use_next_obs else np.zeros_like(next_obs)
        tr = torch.as_tensor(
            np.concatenate([obs, action, np.asarray(reward, np.float32)[:, None], next_obs_ctx], -1), dtype=torch.float32
        )
        mu, var = self.nets.encoder(tr.to(self.device))
        mu, var = mu.cpu(), var.cpu()
        cap = self._prec.shape[1]
        slot = torch.as_tensor(self._count % cap)
        rows = torch.arange(self.n)
        self._prec[rows, slot] = 1.0 / var
        self._eta[rows, slot] = mu / var
        self._count += 1
        self._steps += 1
        if self.mode == "online":
            refresh = (self._steps % self.infer_every) == 0
            if refresh.any():
                post_mu, _ = self.posterior()
                self.z[refresh] = post_mu[refresh]


class PEARL(MetaAlgorithm):
    """The algorithm: buffers, networks, optimizers, the collection schedule and the update.

    Constructed as every `MetaAlgorithm` (env factory, training tasks, config, seed, device, held-out tasks).
    """

    name = "pearl"
    config_class = PearlConfig

    def __init__(
        self,
        make_env: Any,
        train_tasks: list[Any],
        cfg: PearlConfig,
        seed: int,
        device: torch.device,
        test_tasks: list[Any] | None = None,
    ) -> None:
        super().__init__(make_env, train_tasks, cfg, seed, device, test_tasks)
        self.env = make_env(self.train_tasks[: cfg.tasks_per_iteration], seed)
        self.state = CollectorState(self.env)
        obs_dim = self.env.single_observation_space.shape[0]
        act_dim = self.env.single_action_space.shape[0]
        n_params = len(self.family.hidden_params)
        self.nets = self.seeded(lambda: PearlNetworks(obs_dim, act_dim, cfg, n_params).to(self.device))
        # each training task's supervision target, (n_tasks, n_hidden): the parameters it was declared with
        self.task_targets = task_targets(self.family, np.stack([self.family.task_vector(t) for t in self.train_tasks]))
        n = len(self.train_tasks)
        self.rl_buffer = MultiTaskReplayBuffer(n, cfg.buffer_capacity, obs_dim, act_dim)
        self.enc_buffer = MultiTaskReplayBuffer(n, cfg.buffer_capacity, obs_dim, act_dim)
        nets = self.nets
        self.opt_q = torch.optim.Adam(nets.q.parameters(), lr=cfg.lr, foreach=True)
        enc_params = list(nets.encoder.parameters())
        for head in (nets.task_head, nets.decoder):  # the belief objectives' modules train with the encoder
            enc_params += list(head.parameters()) if head is not None else []
        self.opt_enc = torch.optim.Adam(enc_params, lr=cfg.lr, foreach=True)
        self.opt_pi = torch.optim.Adam(nets.policy.parameters(), lr=cfg.lr, foreach=True)
        self.opt_alpha = torch.optim.Adam([nets.log_alpha], lr=cfg.lr)
        self.target_entropy = -float(act_dim)
        self.initialized = False

    # ---- collection ------------------------------------------------------------------------------
    def _context_for(self, task_ids: list[int]):
        def fn(env_idx: np.ndarray) -> torch.Tensor:
            ids = [task_ids[i] for i in env_idx]
            batch = self.enc_buffer.sample(ids, self.cfg.context_batch, self.rng)
            return self.nets.context(batch, self.cfg.use_next_obs)

        return fn

    def _collect(self, task_ids: list[int], steps: int, mode: str, to_encoder: bool) -> dict[str, float]:
        if steps <= 0:
            return {}
        tasks = [self.train_tasks[i] for i in task_ids]
        if len(tasks) != self.env.num_envs:
            self.env = self.make_env(tasks, int(self.rng.integers(2**31)))
            self.state = CollectorState(self.env)
        else:
            self.env.set_tasks(tasks)
        self.state.reset(seed=int(self.rng.integers(2**31)))
        actor = PearlActor(
            self.nets,
            mode,
            len(tasks),
            self.cfg,
            self.gen,
            context_fn=self._context_for(task_ids) if mode == "posterior" else None,
            device=self.device,
        )
        roll = collect(self.state, actor, steps)
        self.env_steps += steps * len(tasks)
        self.nets.norm.update(torch.as_tensor(roll.obs, device=self.device))
        for i, t in enumerate(task_ids):
            args = (
                roll.obs[:, i],
                roll.action[:, i],
                roll.reward[:, i],
                roll.next_obs[:, i],
                roll.terminated[:, i].astype(np.float32),
            )
            self.rl_buffer.add(t, *args)
            if to_encoder:
                self.enc_buffer.add(t, *args)
        rets = [r for per_env in roll.episode_returns() for r in per_env]
        return {
            f"return_{mode}": float(np.mean(rets)) if rets else float("nan"),
            f"tracking_error_{mode}": float(roll.tracking_error.mean()),
        }

    def next_iteration_steps(self) -> tuple[int, str] | None:
        cfg = self.cfg
        per_iteration = cfg.tasks_per_iteration * (cfg.steps_prior + cfg.steps_posterior)
        if self.initialized:
            return per_iteration, "tasks_per_iteration x (steps_prior + steps_posterior)"
        first = len(self.train_tasks) * cfg.initial_steps + per_iteration
        return (
            first,
            f"initial_steps={cfg.initial_steps} on each of the {len(self.train_tasks)} training tasks, then one iteration",
        )

    def _initial_collection(self) -> None:
        n, k = len(self.train_tasks), self.cfg.tasks_per_iteration
        for start in range(0, n, k):
            ids = list(range(start, min(start + k, n)))
            self._collect(ids, self.cfg.initial_steps, "prior", to_encoder=True)
        self.initialized = True

    # ---- the update --------------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        """One gradient step on a meta-batch of tasks."""
        cfg, nets, dev = self.cfg, self.nets, self.device
        ready = [t for t in range(len(self.train_tasks)) if self.enc_buffer.size(t) > 0 and self.rl_buffer.size(t) > 0]
        ids = self.rng.choice(ready, size=cfg.meta_batch, replace=len(ready) < cfg.meta_batch)
        if cfg.context_source == "windows":
            context = self.rl_buffer.sample_windows(ids, cfg.window, self.rng)
        else:
            context = self.enc_buffer.sample(ids, cfg.context_batch, self.rng)
        ctx = nets.context(context, cfg.use_next_obs).to(dev)
        b = self.rl_buffer.sample(ids, cfg.batch_size, self.rng)
        obs, act, rew, nobs, term = (torch.as_tensor(x, device=dev).flatten(0, 1) for x in b)
        rew, term = rew.squeeze(-1), term.squeeze(-1)

        mu, var = nets.encoder(ctx)  # (T, C, L)
        post_mu, post_var = product_of_gaussians(mu, var)  # (T, L)
        eps = torch.randn(post_mu.shape, generator=self.gen).to(dev)
        z_task = post_mu + post_var.sqrt() * eps
        z = z_task[:, None, :].expand(-1, cfg.batch_size, -1).flatten(0, 1)  # (T*B, L)
        kl = kl_to_standard_normal(post_mu, post_var).sum()
        alpha = nets.log_alpha.exp().detach()

        with torch.no_grad():
            a2, logp2 = nets.policy.sample(nobs, z, generator=self.gen)
            q1t, q2t = nets.q_target(nobs, a2, z)
            target = cfg.reward_scale * rew + cfg.gamma * (1.0 - term) * (torch.min(q1t, q2t) - alpha * logp2)
        q1, q2 = nets.q(obs, act, z)  # the encoder learns through the critic, as in oyster
        q_loss = ((q1 - target) ** 2).mean() + ((q2 - target) ** 2).mean()
        enc_loss = cfg.kl_lambda * kl
        extra = {}
        if nets.task_head is not None:  # and through the task parameters, when asked to
            task_loss = nets.task_head.loss(post_mu, self.task_targets[torch.as_tensor(ids)].to(dev))
            enc_loss = enc_loss + cfg.task_supervision * task_loss
            extra["loss_task"] = task_loss.item()
        if nets.decoder is not None:  # z as the critic sees it (a posterior draw), on the same RL transitions
            dyn_loss = nets.decoder.loss(nets.norm, obs, act, z, nobs, rew)
            enc_loss = enc_loss + cfg.dynamics_prediction * dyn_loss
            extra["loss_dynamics"] = dyn_loss.item()
        self.opt_q.zero_grad()
        self.opt_enc.zero_grad()
        (q_loss + enc_loss).backward()
        self.opt_q.step()
        self.opt_enc.step()

        zd = z.detach()
        a_new, logp = nets.policy.sample(obs, zd, generator=self.gen)
        nets.q.requires_grad_(False)  # the policy step needs dQ/da, not gradients of the critics' weights
        q1n, q2n = nets.q(obs, a_new, zd)
        pi_loss = (alpha * logp - torch.min(q1n, q2n)).mean()
        self.opt_pi.zero_grad()
        pi_loss.backward()
        self.opt_pi.step()
        nets.q.requires_grad_(True)
        alpha_loss = -(nets.log_alpha * (logp.detach() + self.target_entropy)).mean()
        self.opt_alpha.zero_grad()
        alpha_loss.backward()
        self.opt_alpha.step()
        polyak(nets.q_target, nets.q, cfg.tau)
        self.updates += 1
        return {
            "loss_q": q_loss.item(),
            "loss_pi": pi_loss.item(),
            "kl": kl.item() / cfg.meta_batch,
            "alpha": alpha.item(),
            "z_mean_abs": post_mu.abs().mean().item(),
            "z_var": post_var.mean().item(),
            "q_mean": q1.mean().item(),
            **extra,
        }

    def _train_iteration(self) -> dict[str, float]:
        """Collect (oyster's schedule), then `updates_per_iteration` gradient steps. Returns metrics."""
        cfg = self.cfg
        t0 = time.perf_counter()
        metrics: dict[str, float] = {}
        steps0 = self.env_steps
        if not self.initialized:
            self._initial_collection()
        ids = [
            int(i)
            for i in self.rng.choice(
                len(self.train_tasks), size=min(cfg.tasks_per_iteration, len(self.train_tasks)), replace=False
            )
        ]
        for t in ids:
            self.enc_buffer.clear(t)  # keep context near on-policy, as oyster does
        metrics.update(self._collect(ids, cfg.steps_prior, "prior", to_encoder=True))
        metrics.update(self._collect(ids, cfg.steps_posterior, "posterior", to_encoder=False))
        t1 = time.perf_counter()
        acc: dict[str, list[float]] = {}
        for _ in range(cfg.updates_per_iteration):
            for k, v in self.update().items():
                acc.setdefault(k, []).append(v)
        t2 = time.perf_counter()
        metrics.update({k: float(np.mean(v)) for k, v in acc.items()})
        self.iteration += 1
        metrics.update(
            {
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "updates": self.updates,
                "env_steps_per_s": (self.env_steps - steps0) / max(t1 - t0, 1e-9),
                "updates_per_s": cfg.updates_per_iteration / max(t2 - t1, 1e-9),
            }
        )
        return metrics

    def evaluate_test(self) -> dict[str, float]:
        """The paper's episodic trial on held-out tasks (`eval_prior_episodes` prior episodes first) and the
        prior-only return; own generators, so training is not perturbed."""

        cfg = self.cfg
        adapted, prior = self.eval_methods(seed=0, prior_episodes=cfg.eval_prior_episodes)
        ret = episodic_returns(adapted, self.family, self.test_tasks, cfg.eval_episodes, seed=0)
        ret_prior = episodic_returns(prior, self.family, self.test_tasks, 1, seed=0)
        return {
            "test_return_last": float(ret[:, -1].mean()),
            "test_return_first": float(ret[:, 0].mean()),
            "test_return_prior_only": float(ret_prior.mean()),
        }

    # ---- adaptation for evaluation -------------------------------------------------------------------
    def make_actor(self, mode: str, num_envs: int, generator: torch.Generator, **kwargs: Any) -> PearlActor:
        return PearlActor(self.nets, mode, num_envs, self.cfg, generator, device=self.device, **kwargs)

    def actor(self, mode: str, num_envs: int, generator: torch.Generator, prior_episodes: int = 1) -> PearlActor:
        """Episodic: a prior draw for the first `prior_episodes`, then the posterior mean; online: the sliding
        window of `window` transitions (what runs on the robot); prior-only: z = 0, the prior's mean. Actions
        are the policy's mean."""
        if mode == "prior_only":
            return self.make_actor("prior", num_envs, generator, deterministic=True)
        return self.make_actor(
            "episodic" if mode == "episodic" else "online",
            num_envs,
            generator,
            deterministic=True,
            prior_episodes=prior_episodes,
        )

    # ---- export ----------------------------------------------------------------------------------------
    def export_spec(self) -> ExportSpec:
        """Two graphs: `encoder` transitions (N, 2 O + A + 1) -> mu, var (N, L), one Gaussian factor per
        transition (the runtime multiplies them over its window), and `policy` obs (N, O), z (N, L) -> action
        (N, A), the deterministic tanh(mean)."""
        cfg, nets = self.cfg, self.nets.cpu().eval()
        o, a, lat = nets.obs_dim, nets.act_dim, nets.latent_dim
        adaptation = {
            "kind": "pearl",
            "latent_dim": cfg.latent_dim,
            "window": cfg.window,
            "infer_every": 1,
            "transition": [
                {"name": "obs", "size": o},
                {"name": "action", "size": a},
                {"name": "reward", "size": 1},
                {"name": "next_obs", "size": o, "zeroed": not cfg.use_next_obs},
            ],
            "posterior": "product of the per-transition Gaussians over the window; the prior N(0, I) when empty",
            "min_var": 1e-7,
        }

        def record(family: Any) -> dict[str, np.ndarray]:
            gen = torch.Generator().manual_seed(0)
            rows = record_online_rollout(lambda env: _PearlRecorder(self.actor("online", env.num_envs, gen)), family)
            with torch.no_grad():
                mu, var = nets.encoder(torch.as_tensor(rows["transitions"]))
            rows["mu"], rows["var"] = mu.numpy(), var.numpy()
            return rows

        return ExportSpec(
            graphs={
                "encoder": GraphSpec(
                    "encoder.onnx",
                    _EncoderGraph(nets.encoder),
                    (torch.zeros(2, 2 * o + a + 1),),
                    ("transitions",),
                    ("mu", "var"),
                ),
                "policy": GraphSpec(
                    "policy.onnx",
                    _PolicyGraph(nets.policy),
                    (torch.zeros(2, o), torch.zeros(2, lat)),
                    ("obs", "z"),
                    ("action",),
                ),
            },
            adaptation=adaptation,
            record=record,
            checks=(
                ParityCheck("action", "policy", "action", "action"),
                ParityCheck("encoder_mu", "encoder", "mu", "mu"),
                ParityCheck("encoder_var", "encoder", "var", "var", relative=True),
            ),
            belief="z",
        )

    # ---- checkpoint state ----------------------------------------------------------------------------
    def _get_torch_save_params(self) -> list[str]:
        return ["nets", "opt_q", "opt_enc", "opt_pi", "opt_alpha"]

    def _get_json_save_params(self) -> list[str]:
        return [*super()._get_json_save_params(), "initialized"]

    def _get_array_state(self) -> dict[str, np.ndarray]:
        arrays = {f"rl/{k}": v for k, v in self.rl_buffer.state_dict().items()}
        arrays.update({f"enc/{k}": v for k, v in self.enc_buffer.state_dict().items()})
        return arrays

    def _set_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.rl_buffer.load_state_dict({k[3:]: v for k, v in arrays.items() if k.startswith("rl/")})
        self.enc_buffer.load_state_dict({k[4:]: v for k, v in arrays.items() if k.startswith("enc/")})


class _EncoderGraph(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, transitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(transitions)


class _PolicyGraph(nn.Module):
    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.policy(obs, z)


class _PearlRecorder(ActorRecorder):
    """The online actor, recording each graph's inputs and torch's outputs: obs, z -> action per step, and
    the transitions the encoder sees."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        z = self.actor.z.clone().cpu().numpy()
        action = self.actor.act(obs)
        self.rec.add(obs=obs, z=z, action=action)
        return action

    def observe(self, obs, action, reward, next_obs, done) -> None:
        nxt = next_obs if self.actor.cfg.use_next_obs else np.zeros_like(next_obs)
        self.rec.add(transitions=np.concatenate([obs, action, np.asarray(reward, np.float32)[:, None], nxt], -1))
        self.actor.observe(obs, action, reward, next_obs, done)
