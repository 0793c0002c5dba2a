"""MAML on the MuJoCo task families, through the one collector and the shared evaluation protocol.

An iteration: draw `meta_batch` training tasks; collect `episodes_per_task` episodes of each with the
current initial parameters (one env per episode, all stepped together by the collector); take
`inner_steps` inner updates per task (each on fresh episodes of the adapted policy); collect the
post-update episodes; then `outer_epochs` PPO-style outer steps on the meta-objective (robot_meta.maml.core).

Evaluation (shared protocol): the adapted method samples its actions (a deterministic policy has no
policy gradient to adapt with) and takes one inner step per task at the end of each episode, on that
episode: the episodic curve is the return after 0, 1, ... inner steps. Within an episode MAML does not
adapt (it needs whole trajectories and a gradient step), so its online numbers equal its prior's; on a robot
the torch-free runtime takes no gradient steps, so a MAML policy is exported after adapting in simulation
(docs/maml.md).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_meta.algorithm import MetaAlgorithm
from robot_meta.collector import CollectorState, collect
from robot_meta.config import MAX_UNITS, MetaConfig, ranged
from robot_meta.export_spec import ExportError, ExportSpec, static_policy_spec
from robot_meta.maml.core import MAMLPolicy, TaskBatch, adapt, meta_objective, params_of, whitened_returns_to_go
from sim_tasks import BatchedTaskEnv


@dataclass(frozen=True)
class MAMLConfig(MetaConfig):
    """MAML hyperparameters (garage's MAML defaults where they apply: one inner step, 64x64 tanh policy).

    Attributes:
        hidden: policy widths (tanh).
        inner_lr: inner policy-gradient step size (garage 0.1).
        inner_steps: inner updates during meta-training.
        first_order: FOMAML (no gradient through the inner update).
        meta_batch: tasks per iteration (garage 20-40).
        episodes_per_task: episodes per task per inner step; 1 matches the evaluation protocol, whose adaptation
            budget is one episode per inner step.
        outer_lr, outer_epochs, clip: the PPO-style outer step (Adam).
        gamma: discount of the return-to-go.
        init_log_std: initial log std of the Gaussian policy.
        The run's rhythm and threads: `MetaConfig`.
    """

    hidden: tuple[int, ...] = ranged((64, 64), 1, MAX_UNITS)
    inner_lr: float = ranged(0.1, 0, 10, open_lo=True)
    inner_steps: int = ranged(1, 1, 1000)
    first_order: bool = False
    meta_batch: int = ranged(20, 1)
    episodes_per_task: int = ranged(1, 1)
    outer_lr: float = ranged(1e-3, 0, 1, open_lo=True)
    outer_epochs: int = ranged(5, 1)
    clip: float = ranged(0.2, 0, 1, open_lo=True)
    gamma: float = ranged(0.99, 0, 1, open_lo=True)
    init_log_std: float = ranged(-0.5, -20, 5)


class MAMLActor:
    """The collector's actor: env i acts with `params[group[i]]` (a Gaussian sample), logs log-probs, and with
    `adapt_lr` takes an inner step for env i at the end of each of its episodes (evaluation)."""

    def __init__(
        self,
        policy: MAMLPolicy,
        params: list[dict[str, torch.Tensor]],
        group: np.ndarray,
        gen: torch.Generator,
        adapt_lr: float | None = None,
        gamma: float = 0.99,
    ) -> None:
        self.policy, self.params, self.group, self.gen = policy, params, np.asarray(group), gen
        self.adapt_lr, self.gamma = adapt_lr, gamma
        self.logp: list[np.ndarray] = []
        n = len(self.group)
        self._ep: list[list[tuple[np.ndarray, np.ndarray, float, float]]] = [[] for _ in range(n)]
        self._last_logp = np.zeros(n, np.float32)

    def reset(self, mask: np.ndarray) -> None:
        for i in np.flatnonzero(mask):
            self._ep[i] = []

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32)
        actions = torch.empty(len(o), self.policy.act_dim)
        logp = torch.empty(len(o))
        for g in np.unique(self.group):
            idx = torch.as_tensor(np.flatnonzero(self.group == g))
            p = self.params[g]
            mean = torch.func.functional_call(self.policy, p, (o[idx],))
            std = p["log_std"].exp()
            a = mean + std * torch.randn(mean.shape, generator=self.gen)
            actions[idx] = a
            logp[idx] = torch.distributions.Normal(mean, std).log_prob(a).sum(-1)
        self._last_logp = logp.numpy()
        self.logp.append(self._last_logp)
        return actions.numpy()

    def observe(self, obs, action, reward, next_obs, done) -> None:
        if self.adapt_lr is None:
            return
        for i in range(len(self.group)):
            self._ep[i].append((obs[i], action[i], float(reward[i]), float(self._last_logp[i])))
        for i in np.flatnonzero(done):
            ep = self._ep[i]
            rewards = np.array([[e[2]] for e in ep])
            adv = whitened_returns_to_go(rewards, np.ones_like(rewards, dtype=bool), self.gamma)[:, 0]
            batch = TaskBatch(
                torch.as_tensor(np.stack([e[0] for e in ep]), dtype=torch.float32),
                torch.as_tensor(np.stack([e[1] for e in ep]), dtype=torch.float32),
                torch.as_tensor(adv, dtype=torch.float32),
                torch.as_tensor([e[3] for e in ep]),
                torch.as_tensor([rewards.sum()]),
            )
            g = int(self.group[i])
            p = {k: v.detach().requires_grad_(True) for k, v in self.params[g].items()}
            with torch.enable_grad():
                self.params[g] = {
                    k: v.detach() for k, v in adapt(self.policy, p, batch, self.adapt_lr, first_order=True).items()
                }
            self._ep[i] = []


class MAML(MetaAlgorithm):
    """MAML meta-training on a task family. CPU only: its per-task functional updates are small, and the
    actor's per-group parameter dicts live on the CPU."""

    name = "maml"
    config_class = MAMLConfig
    cpu_only = True
    export_options = ("adapt_task", "adapt_episodes")

    def __init__(
        self,
        make_env: Any,
        train_tasks: list[Any],
        cfg: MAMLConfig,
        seed: int,
        device: torch.device,
        test_tasks: list[Any] | None = None,
    ) -> None:
        super().__init__(make_env, train_tasks, cfg, seed, device, test_tasks)
        n = cfg.meta_batch * cfg.episodes_per_task
        self.env = make_env([self.train_tasks[i % len(self.train_tasks)] for i in range(n)], seed)
        self.state = CollectorState(self.env)
        obs_dim = self.env.single_observation_space.shape[0]
        act_dim = self.env.single_action_space.shape[0]
        self.policy = self.seeded(
            lambda: MAMLPolicy(obs_dim, act_dim, cfg.hidden, discrete=False, init_log_std=cfg.init_log_std)
        )
        self.opt = torch.optim.Adam(self.policy.parameters(), lr=cfg.outer_lr)
        self.group = np.repeat(np.arange(cfg.meta_batch), cfg.episodes_per_task)

    def _collect(self, params: list[dict[str, torch.Tensor]]) -> tuple[list[TaskBatch], np.ndarray]:
        """One episode per env with the given per-task parameters; one TaskBatch per task."""
        steps = self.family.episode_steps
        self.state.reset(seed=int(self.rng.integers(2**31)))
        actor = MAMLActor(self.policy, params, self.group, self.gen)
        roll = collect(self.state, actor, steps)
        self.env_steps += steps * self.env.num_envs
        logp = np.stack(actor.logp)
        alive = np.ones_like(roll.reward, dtype=bool)
        out = []
        for g in range(self.cfg.meta_batch):
            cols = self.group == g
            adv = whitened_returns_to_go(roll.reward[:, cols], alive[:, cols], self.cfg.gamma)
            out.append(
                TaskBatch(
                    torch.as_tensor(roll.obs[:, cols].reshape(-1, roll.obs.shape[-1])),
                    torch.as_tensor(roll.action[:, cols].reshape(-1, roll.action.shape[-1])),
                    torch.as_tensor(adv.reshape(-1), dtype=torch.float32),
                    torch.as_tensor(logp[:, cols].reshape(-1)),
                    torch.as_tensor(roll.reward[:, cols].sum(0)),
                )
            )
        return out, roll.obs

    def _train_iteration(self) -> dict[str, Any]:
        cfg = self.cfg
        t0 = time.perf_counter()
        idx = self.rng.choice(len(self.train_tasks), size=cfg.meta_batch, replace=len(self.train_tasks) < cfg.meta_batch)
        self.env.set_tasks([self.train_tasks[i] for i in np.repeat(idx, cfg.episodes_per_task)])
        theta = params_of(self.policy)
        params = [{k: v.detach() for k, v in theta.items()} for _ in range(cfg.meta_batch)]
        pre: list[list[TaskBatch]] = []
        all_obs = []
        for _ in range(cfg.inner_steps):
            batches, obs = self._collect(params)
            pre.append(batches)
            all_obs.append(obs)
            params = [
                {
                    k: v.detach()
                    for k, v in adapt(
                        self.policy, {k: v.requires_grad_(True) for k, v in p.items()}, b, cfg.inner_lr, True
                    ).items()
                }
                for p, b in zip(params, batches, strict=True)
            ]
        post, obs = self._collect(params)
        all_obs.append(obs)
        t1 = time.perf_counter()
        kls, losses = [], []
        for _ in range(cfg.outer_epochs):
            out = [
                meta_objective(
                    self.policy,
                    theta,
                    [pre[s][g] for s in range(cfg.inner_steps)],
                    post[g],
                    cfg.inner_lr,
                    cfg.first_order,
                    cfg.clip,
                )
                for g in range(cfg.meta_batch)
            ]
            loss = torch.stack([o[0] for o in out]).mean()
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
            self.opt.step()
            self.updates += 1
            losses.append(float(loss.detach()))
            kls.append(float(torch.stack([o[1] for o in out]).mean()))
        # The normalizer moves after the update (the inner steps and the outer objective saw the same one).
        self.policy.norm.update(torch.as_tensor(np.concatenate([o.reshape(-1, o.shape[-1]) for o in all_obs])))
        t2 = time.perf_counter()
        self.iteration += 1
        metrics = {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "return_prior": float(torch.cat([b.returns for b in pre[0]]).mean()),
            "return_posterior": float(torch.cat([b.returns for b in post]).mean()),
            "loss_outer": float(np.mean(losses)),
            "approx_kl": float(np.mean(kls)),
            "log_std": float(self.policy.log_std.detach().mean()),
            "env_steps_per_s": (cfg.inner_steps + 1) * self.env.num_envs * self.family.episode_steps / max(t1 - t0, 1e-9),
            "updates_per_s": cfg.outer_epochs / max(t2 - t1, 1e-9),
        }
        return metrics

    # ---- evaluation ----------------------------------------------------------------------------------
    def actor(self, mode: str, num_envs: int, generator: torch.Generator, prior_episodes: int = 1) -> MAMLActor:
        """Adapted: one inner step per task after each episode (within an episode MAML does not adapt, so its
        online numbers equal its prior's); prior-only: the initial policy throughout."""
        init = {k: v.detach() for k, v in params_of(self.policy).items()}
        adapt_lr = None if mode == "prior_only" else self.cfg.inner_lr
        return MAMLActor(
            self.policy, [dict(init) for _ in range(num_envs)], np.arange(num_envs), generator, adapt_lr, self.cfg.gamma
        )

    def adapted_params(self, task: Any, episodes: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """The initial parameters after `episodes` inner steps on `task` (one episode each), for export."""

        env = BatchedTaskEnv(self.family, [task], seed=seed)
        gen = torch.Generator().manual_seed(seed)
        init = {k: v.detach() for k, v in params_of(self.policy).items()}
        actor = MAMLActor(self.policy, [init], np.zeros(1, dtype=int), gen, self.cfg.inner_lr, self.cfg.gamma)
        state = CollectorState(env)
        state.reset(seed=seed)
        collect(state, actor, episodes * self.family.episode_steps)
        return actor.params[0]

    # ---- export ----------------------------------------------------------------------------------------
    def export_spec(self, adapt_task: int | None = None, adapt_episodes: int = 1) -> ExportSpec:
        """A static policy obs -> clamp(mean, -1, 1): the meta-learned initial policy, or (with `adapt_task`,
        a held-out task index) the policy after `adapt_episodes` inner steps on that task in simulation. The
        torch-free runtime takes no gradient steps, so the robot runs the exported parameters as they are."""
        task = None
        if adapt_task is not None:
            tests = self.family.split().test
            if not 0 <= adapt_task < len(tests):
                raise ExportError(f"--adapt-task {adapt_task} is not a held-out task index (0..{len(tests) - 1})")
            task = tests[adapt_task]
            params = self.adapted_params(task, adapt_episodes)
        else:
            params = {k: v.detach() for k, v in self.policy.named_parameters()}
        adaptation = {
            "kind": "none",
            "note": "MAML adapts by gradient steps, which the torch-free runtime does not take: this graph holds "
            "fixed parameters (the meta-learned initial policy, or the policy adapted in simulation, see 'maml')",
            "maml": {
                "adapted_on": task.to_dict() if task is not None else None,
                "held_out_index": adapt_task,
                "inner_steps": adapt_episodes if task is not None else 0,
                "inner_lr": self.cfg.inner_lr,
            },
        }
        return static_policy_spec(_FixedPolicyGraph(self.policy, params), self.policy.obs_dim, adaptation)

    # ---- checkpoint state ----------------------------------------------------------------------------
    def _get_torch_save_params(self) -> list[str]:
        return ["policy", "opt"]


class _FixedPolicyGraph(nn.Module):
    """A MAML policy with fixed (initial or adapted) parameters: obs -> clamp(mean, -1, 1)."""

    def __init__(self, policy: nn.Module, params: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.policy = copy.deepcopy(policy)
        with torch.no_grad():
            for name, p in self.policy.named_parameters():
                p.copy_(params[name])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs).clamp(-1.0, 1.0)
