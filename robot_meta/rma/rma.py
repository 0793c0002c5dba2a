"""RMA: Rapid Motor Adaptation (Kumar, Fu, Pathak, Malik, RSS 2021), the field's anchor for payload adaptation.

Two phases, one run:

1. **Teacher** (the first `teacher_iterations` iterations): a base policy pi(a | x_t, z_t) with the extrinsics
   z_t = mu(e_t), where e_t are the hidden task parameters (the oracle's inputs: each scaled so that its
   training range maps to [-1, 1]), trained end to end with PPO (Schulman et al. 2017; GAE, return-std reward
   scaling, observation normalization inside the networks, as RL²'s PPO here). mu squeezes everything the
   simulator knows into `extrinsics_dim` numbers that matter to the policy.
2. **Student** (the iterations after): an adaptation module phi regresses z_t from the last `history`
   (observation, action) pairs, z_hat_t = phi(x_{t-H..t-1}, a_{t-H..t-1}), by supervised regression on
   rollouts of pi(x_t, z_hat_t) (the deployed combination's own states, as RMA trains it), with pi and mu
   frozen.

What runs on the robot is pi(x_t, phi(history)): no privileged input. The runtime keeps the history (raw
observations and the actions sent, oldest first, zeros before the episode's first step) and the exported
graph normalizes it the way training did. Two departures from the paper, both for this stack's sizes: phi is
an MLP over the flattened, per-step-embedded history instead of a 1-D CNN (histories of 20-50 steps at 20 Hz
rather than 50 at 100 Hz), and the teacher's critic sees (x_t, z_t) like its actor.

The episodic and online modes both act with phi; prior-only feeds phi an empty (all-zero) history at every step,
so it is the same networks without adaptation. The belief (for the payload probe) is z_hat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from deploy.manifest import MAX_CONTEXT  # the runtime refuses a longer history: training does too
from robot_meta.algorithm import MetaAlgorithm
from robot_meta.belief import task_targets
from robot_meta.collector import ActorWrapper, CollectorState, collect
from robot_meta.config import MAX_UNITS, ConfigError, MetaConfig, ranged
from robot_meta.evaluation import Method, oracle_tasks
from robot_meta.export_spec import (
    ActorRecorder,
    ExportError,
    ExportSpec,
    GraphSpec,
    ParityCheck,
    record_online_rollout,
    static_policy_spec,
)
from robot_meta.torch_utils import RunningNorm, clipped_surrogate, gae, gaussian_log_prob, scale_by_return_std


@dataclass(frozen=True)
class RMAConfig(MetaConfig):
    """RMA hyperparameters (the paper's where they carry over; PPO as RL²'s and SB3's MuJoCo defaults).

    Attributes:
        extrinsics_dim: size of z (the paper 8).
        encoder_hidden: mu's MLP, task parameters -> z (the paper 256, 128).
        hidden: the base policy's and critic's MLPs.
        history: (observation, action) pairs phi sees, control steps (the paper 50 at 100 Hz = 0.5 s; 20 here is
            1 s at 20 Hz).
        adapter_embed: per-step embedding width of phi before the flattened MLP. adapter_hidden: phi's MLP.
        teacher_iterations: PPO iterations of phase 1; every later iteration trains phi.
        num_envs: tasks collected in parallel per iteration, each a training task drawn anew at every episode.
        rollout_steps: steps per env per iteration, from fresh episodes (each iteration starts its envs anew, so
            that a checkpoint between iterations holds everything and a resumed run continues bit for bit).
        lr, gamma, gae_lambda, clip, epochs, minibatches, vf_coef, max_grad_norm, target_kl, init_log_std: PPO.
        student_lr, student_epochs: phi's Adam rate and passes over each iteration's data.
        affine_extrinsics: pi acts affinely in z: a = pi_0(x) + G(x) z, one MLP of the observation giving both pi_0
            (A numbers) and the gain G (A x Z), instead of an MLP of (x, z). With a linear mu (`encoder_hidden: []`)
            the action is then affine in e at every observation, as the torque that holds a payload is linear in
            its mass: a prior for extrapolating to parameters heavier than training, which an MLP of (x, z) is
            free to bend anywhere past the range it trained on. The critic keeps its MLP of (x, z) (never
            deployed).
        affine_student: phi is affine in the actions of its history: z_hat = c(X) + D(X) vec(A), with c and D
            (Z x H*A) from one MLP of the history's observations X (per-step embedded, as phi's), A the actions
            sent. Holding a payload takes a torque affine in its mass, the coefficients set by the arm's pose, so
            an estimate of this form can follow a heavier payload's larger torques past the training range, where
            an MLP of the whole history flattens (docs/belief.md).
        student_target: what phi's regression matches. "z" (RMA's): the teacher's extrinsics, every component
            weighted alike, those of parameters the history cannot show (latency, sensor noise) included. "action":
            the teacher's mean action, pi(x, z_hat) against pi(x, z) on the same observations, pi frozen: the
            components weighted by how much they move the action (the payload's most, on the arm). Measured on two
            seeds' teachers only (docs/belief.md, twenty-ninth session: payload R² 0.76 and 0.79 against the
            z-regression's 0.31 and 0.84, excess 0.001 m higher).
            "parameters": the hidden task parameters themselves (in `task_targets` units, each training range on
            [-1, 1]), phi's output e_hat then passed through the teacher's frozen mu, z_hat = mu(e_hat): RMA's
            SysID comparison (Kumar et al. 2021, section 5). Every parameter weighs alike in the loss, whatever
            scale the teacher's mu gave it in z, and z_hat stays in the set of z the teacher acted on (with a
            linear mu, its column space), where a z-regression may leave it. Measured on the arm over three seeds
            (docs/belief.md, thirtieth session): payload R² 0.89-0.91, the z-regression's 0.31-0.86; with
            `bound_estimate`, the arm's three bars of issue 16 are met by this student.
        bound_estimate: with `student_target` "parameters", e_hat is clamped to each hidden parameter's allowed
            range (`ParamSpec.allowed`, in `task_targets` units) before mu, in training, evaluation and the exported
            graph alike. An estimate outside it (a payload under 0 kg, a latency under 0 steps) is no robot of the
            family, and a linear mu carries it into z the teacher never acted on; the allowed range still leaves the
            estimate room to extrapolate past training (the arm's payload to 3 kg, its held-out to 2.5 kg).
            Measured on the arm (docs/belief.md, thirty-first session): with one step of latency, phi's payload
            estimate fell to -2.4 kg just after a payload change and the arm never recovered on that task (0.04-0.18 m
            steady error over 5 repeats); bounded, 0.015-0.021 m. Over three seeds against their own DR/oracle pairs the
            same checkpoints' excess over the oracle went from 0.58x DR's to 0.17x.
        privileged: False tells the teacher nothing (e = 0 for every task): a domain-randomized policy trained by
            this same PPO, networks and budget, evaluated as the method "teacher". It separates what the
            privileged parameters and the student's estimate of them add from what the learner adds (the SB3
            baselines of `eval --baselines` are another learner). Its student has nothing to estimate.
        task_range: what the run trains on. "train" (default): the split's training tasks, as every adaptive
            method. "evaluated": `evaluation.oracle_tasks`, over the evaluated range of each hidden parameter
            (held-out regions included), the protocol's oracle distribution: with `privileged` its teacher is an
            oracle by this same PPO (`eval --oracle-runs`, `sensitivity --oracle-runs`); its student is not an
            adaptive method under the protocol (it has trained on the held-out payloads).
        The run's rhythm and threads: `MetaConfig`.
    """

    extrinsics_dim: int = ranged(8, 1, 4096)
    encoder_hidden: tuple[int, ...] = ranged((64, 64), 1, MAX_UNITS)
    hidden: tuple[int, ...] = ranged((256, 256), 1, MAX_UNITS)
    history: int = ranged(20, 1, MAX_CONTEXT)
    adapter_embed: int = ranged(32, 1, MAX_UNITS)
    adapter_hidden: tuple[int, ...] = ranged((256,), 1, MAX_UNITS)
    teacher_iterations: int = ranged(300, 0)
    num_envs: int = ranged(16, 1, 4096)
    rollout_steps: int = ranged(200, 1)
    lr: float = ranged(3e-4, 0, 1, open_lo=True)
    gamma: float = ranged(0.99, 0, 1, open_lo=True)
    gae_lambda: float = ranged(0.95, 0, 1)
    clip: float = ranged(0.2, 0, 1, open_lo=True)
    epochs: int = ranged(10, 1)
    minibatches: int = ranged(8, 1)
    vf_coef: float = ranged(0.5, 0)
    max_grad_norm: float = ranged(0.5, 0, open_lo=True)
    target_kl: float = ranged(0.02, 0)
    init_log_std: float = ranged(-0.5, -20, 5)
    student_lr: float = ranged(1e-3, 0, 1, open_lo=True)
    student_epochs: int = ranged(4, 1)
    affine_extrinsics: bool = False
    affine_student: bool = False
    student_target: str = "z"
    bound_estimate: bool = False
    privileged: bool = True
    task_range: str = "train"

    def validate(self) -> None:
        super().validate()
        if self.task_range not in TASK_RANGES:
            raise ConfigError(f"config task_range={self.task_range!r} is not one of {', '.join(TASK_RANGES)}")
        if self.student_target not in STUDENT_TARGETS:
            raise ConfigError(f"config student_target={self.student_target!r} is not one of {', '.join(STUDENT_TARGETS)}")
        if self.bound_estimate and self.student_target != "parameters":
            raise ConfigError(
                f"config bound_estimate=true bounds an estimate of the task parameters; student_target="
                f"{self.student_target!r} estimates none (set student_target=parameters, or bound_estimate=false)"
            )


TASK_RANGES = ("train", "evaluated")
STUDENT_TARGETS = ("z", "action", "parameters")  # RMAConfig.student_target


def estimate_bounds(family: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Each hidden parameter's allowed range (`ParamSpec.allowed`) in the units phi estimates (`task_targets`'):
    (lower, upper), (P,) float32 each; what `bound_estimate` clamps e_hat to."""
    allowed = np.array([p.allowed for p in family.hidden_params], dtype=np.float64).T
    return task_targets(family, allowed[0]), task_targets(family, allowed[1])


def _mlp(sizes: list[int], act: type[nn.Module] = nn.ELU) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


def _affine_in(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """(..., K) from a network's output (..., K * (1 + D)) read as an offset (K) then a K x D matrix, applied to
    x (..., D): offset + M x. Both affine options of RMA use it (pi affine in z, phi affine in the actions)."""
    k = out.shape[-1] // (1 + x.shape[-1])
    return out[..., :k] + (out[..., k:].unflatten(-1, (k, x.shape[-1])) * x.unsqueeze(-2)).sum(-1)


class RMANetworks(nn.Module):
    """mu (task parameters -> z), pi and V (normalized obs, z), log std, phi (history -> z_hat); one state_dict.

    Shapes: obs (N, O); e (N, P) in `task_targets` units; history (N, H, O + A) raw, oldest first; z (N, Z).
    With `affine_extrinsics`, pi maps obs alone to (N, A * (1 + Z)): the action's offset, then its gain on z. With
    `affine_student`, phi maps the embedded observations to (N, Z * (1 + H * A)): z_hat's offset, then its
    coefficients on the flattened action history. With `student_target` "parameters", phi's Z is P: it estimates
    e, and z_hat = mu(e_hat), e_hat clamped first to `bounds` (lower, upper: (P,) each) when given.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        n_params: int,
        cfg: RMAConfig,
        bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        super().__init__()
        self.obs_dim, self.act_dim, self.history = obs_dim, act_dim, cfg.history
        z = cfg.extrinsics_dim
        self.affine = cfg.affine_extrinsics
        self.norm = RunningNorm(obs_dim)
        self.mu = _mlp([n_params, *cfg.encoder_hidden, z])
        if self.affine:  # one trunk, offset and gain from its last layer: the same cost per step as the MLP of (x, z)
            self.pi = _mlp([obs_dim, *cfg.hidden, act_dim * (1 + z)])
        else:
            self.pi = _mlp([obs_dim + z, *cfg.hidden, act_dim])
        self.v = _mlp([obs_dim + z, *cfg.hidden, 1])
        self.log_std = nn.Parameter(torch.full((act_dim,), cfg.init_log_std))
        # The teacher's modules take the global RNG first, the student's after, so a student option never
        # changes the teacher's initialization (and a run's teacher is the same whatever student it trains).
        nn.init.orthogonal_(self.pi[-1].weight, 0.01)
        nn.init.zeros_(self.pi[-1].bias)
        self.affine_student = cfg.affine_student
        self.estimates_parameters = cfg.student_target == "parameters"
        k = n_params if self.estimates_parameters else z  # what phi outputs: e_hat, or z_hat directly
        if self.affine_student:
            self.embed = nn.Sequential(nn.Linear(obs_dim, cfg.adapter_embed), nn.ELU())
            self.phi = _mlp([cfg.history * cfg.adapter_embed, *cfg.adapter_hidden, k * (1 + cfg.history * act_dim)])
        else:
            self.embed = nn.Sequential(nn.Linear(obs_dim + act_dim, cfg.adapter_embed), nn.ELU())
            self.phi = _mlp([cfg.history * cfg.adapter_embed, *cfg.adapter_hidden, k])
        self.set_bounds(bounds)

    def set_bounds(self, bounds: tuple[torch.Tensor, torch.Tensor] | None) -> None:
        """Clamp e_hat to (lower, upper), (P,) each (`estimate_bounds`), before mu; None acts on it as estimated.

        The bounds are buffers that are not persistent: the family states the ranges, and a checkpoint loads
        either way (`bound_estimate` may be set on a run after its training).
        """
        self.bounded = bounds is not None
        if bounds is not None:
            self.register_buffer("e_lo", bounds[0], persistent=False)
            self.register_buffer("e_hi", bounds[1], persistent=False)

    def action_mean(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The policy's mean action (N, A), before clipping."""
        if not self.affine:
            return self.pi(torch.cat([self.norm(obs), z], -1))
        return _affine_in(self.pi(self.norm(obs)), z)

    def value(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.v(torch.cat([self.norm(obs), z], -1)).squeeze(-1)

    def estimate(self, history: torch.Tensor) -> torch.Tensor:
        """phi's output from a raw history (N, H, O + A), observations normalized as the policy's, actions as they
        are: z_hat (N, Z), or e_hat (N, P) with `student_target` "parameters"."""
        obs, act = history[..., : self.obs_dim], history[..., self.obs_dim :]
        if not self.affine_student:
            x = self.embed(torch.cat([self.norm(obs), act], -1))
            return self.phi(x.flatten(-2))
        return _affine_in(self.phi(self.embed(self.norm(obs)).flatten(-2)), act.flatten(-2))

    def adapt(self, history: torch.Tensor) -> torch.Tensor:
        """z_hat (N, Z) from a raw history (N, H, O + A): what the policy acts on."""
        out = self.estimate(history)
        if not self.estimates_parameters:
            return out
        if self.bounded:  # minimum/maximum: tensor bounds that export to ONNX as Min and Max
            out = torch.maximum(torch.minimum(out, self.e_hi), self.e_lo)
        return self.mu(out)


class RMAActor:
    """RMA as an `Actor` of the collector.

    Modes: "teacher" (z = mu(e) from the env's true task parameters: training collection, needs `env`),
    "student" (z_hat = phi(history): the deployed policy; history kept per env, emptied at each episode start), and
    "prior_only" (phi of an all-zero history at every step: no adaptation). With `record` it keeps what PPO
    (teacher) or the regression (student) needs.
    """

    def __init__(
        self,
        nets: RMANetworks,
        mode: str,
        num_envs: int,
        generator: torch.Generator,
        env: Any = None,
        deterministic: bool = False,
        record: bool = False,
        privileged: bool = True,
    ) -> None:
        self.nets, self.mode, self.n, self.gen, self.env = nets, mode, num_envs, generator, env
        self.privileged = privileged
        self.deterministic, self.record = deterministic, record
        self.history = torch.zeros(num_envs, nets.history, nets.obs_dim + nets.act_dim)
        self.z = torch.zeros(num_envs, nets.mu[-1].out_features)
        self.log: dict[str, list[torch.Tensor]] = {}

    def reset(self, mask: np.ndarray) -> None:
        # Every episode starts from an empty history, in evaluation as in training (where each episode draws a new
        # task): a history carried over a reset is one the student never trained on, and at `history` steps
        # (0.16 s on the arm) it would hold no evidence past the episode's first moments anyway.
        self.history[torch.as_tensor(mask)] = 0.0

    def _e(self) -> torch.Tensor:
        e = task_targets(self.env.family, self.env.task_vectors())
        return e if self.privileged else torch.zeros_like(e)

    @torch.no_grad()
    def act(self, obs: np.ndarray) -> np.ndarray:
        o = torch.as_tensor(obs, dtype=torch.float32)
        hist = self.history.clone()
        if self.mode == "teacher":
            e = self._e()
            z = self.nets.mu(e)
        elif self.mode == "student":
            z = self.nets.adapt(hist)
        else:
            z = self.nets.adapt(torch.zeros_like(hist))
        self.z = z
        mean = self.nets.action_mean(o, z)
        if self.deterministic:
            action = mean
        else:
            action = mean + self.nets.log_std.exp() * torch.randn(mean.shape, generator=self.gen)
        if self.record:
            logp = gaussian_log_prob(action, mean, self.nets.log_std)
            rows = {"obs": o, "action": action, "logp": logp, "history": hist}
            if self.mode == "teacher":
                rows.update(e=e, value=self.nets.value(o, z))
            for k, v in rows.items():
                self.log.setdefault(k, []).append(v)
        clipped = action.clamp(-1.0, 1.0)
        self._last = torch.cat([o, clipped], -1)
        return clipped.numpy()

    def observe(self, obs, action, reward, next_obs, done) -> None:
        # the step just taken enters the history, oldest first (the runtime does the same after each step)
        self.history = torch.cat([self.history[:, 1:], self._last[:, None]], 1)

    def belief(self) -> np.ndarray:
        """z_hat (or z for the teacher) of the last step, (N, Z)."""
        return self.z.detach().numpy().copy()


class RMA(MetaAlgorithm):
    """The algorithm: PPO on the teacher, then the adaptation module's regression (module docstring)."""

    name = "rma"
    config_class = RMAConfig
    cpu_only = True  # a small MLP stepped per env step: the CPU is where its collection runs fastest

    def __init__(
        self,
        make_env: Any,
        train_tasks: list[Any],
        cfg: RMAConfig,
        seed: int,
        device: torch.device,
        test_tasks: list[Any] | None = None,
    ) -> None:
        super().__init__(make_env, train_tasks, cfg, seed, device, test_tasks)
        self.env = make_env([self.train_tasks[i % len(self.train_tasks)] for i in range(cfg.num_envs)], seed)
        self.env.on_episode_end = self._next_task  # a new training task at every episode (domain randomization)
        if cfg.task_range == "evaluated":  # the oracle's distribution (config docstring); every iteration sets tasks
            self.train_tasks = oracle_tasks(self.family)
        self.state = CollectorState(self.env)
        obs_dim = self.env.single_observation_space.shape[0]
        act_dim = self.env.single_action_space.shape[0]
        n_params = len(self.family.hidden_params)
        bounds = estimate_bounds(self.family) if cfg.bound_estimate else None
        self.nets = self.seeded(lambda: RMANetworks(obs_dim, act_dim, n_params, cfg, bounds))
        teacher = [*self.nets.mu.parameters(), *self.nets.pi.parameters(), *self.nets.v.parameters(), self.nets.log_std]
        self.opt = torch.optim.Adam(teacher, lr=cfg.lr, eps=1e-5)
        self.opt_student = torch.optim.Adam([*self.nets.embed.parameters(), *self.nets.phi.parameters()], lr=cfg.student_lr)
        self.ret_var, self.ret_count = 1.0, 1e-4

    def _next_task(self, i: int) -> Any:
        return self.train_tasks[int(self.rng.integers(len(self.train_tasks)))]

    @property
    def phase(self) -> str:
        return "teacher" if self.iteration < self.cfg.teacher_iterations else "student"

    def _train_iteration(self) -> dict[str, Any]:
        cfg = self.cfg
        t0 = time.perf_counter()
        self.env.set_tasks([self._next_task(i) for i in range(cfg.num_envs)])
        self.state.reset(seed=int(self.rng.integers(2**31)))
        phase = self.phase
        actor = RMAActor(self.nets, phase, cfg.num_envs, self.gen, env=self.env, record=True, privileged=cfg.privileged)
        roll = collect(self.state, actor, cfg.rollout_steps)
        self.env_steps += cfg.rollout_steps * cfg.num_envs
        t1 = time.perf_counter()
        log = {k: torch.stack(v) for k, v in actor.log.items()}
        stats = self._ppo(log, roll, actor) if phase == "teacher" else self._regress(log, roll)
        self.nets.norm.update(torch.as_tensor(roll.obs))  # after the update, as RL²'s (PPO's ratio starts at 1)
        t2 = time.perf_counter()
        self.iteration += 1
        rets = [r for per_env in roll.episode_returns() for r in per_env]
        return {
            "iteration": self.iteration,
            "env_steps": self.env_steps,
            "updates": self.updates,
            "phase": phase,
            "return_mean": float(np.mean(rets)) if rets else float("nan"),
            "tracking_error": float(roll.tracking_error.mean()),
            "env_steps_per_s": cfg.rollout_steps * cfg.num_envs / max(t1 - t0, 1e-9),
            "updates_per_s": stats.pop("n_updates") / max(t2 - t1, 1e-9),
            **stats,
        }

    def _ppo(self, log: dict[str, torch.Tensor], roll: Any, actor: RMAActor) -> dict[str, float]:
        """PPO on the teacher over the iteration's (T, N) samples; time limits bootstrap from V(final obs)."""
        cfg, nets = self.cfg, self.nets
        rewards = torch.as_tensor(roll.reward).clone()
        with torch.no_grad():
            trunc = torch.as_tensor(roll.truncated & ~roll.terminated)
            if trunc.any():  # a time limit is not an end: the final observation's value, under its task
                z_end = nets.mu(task_targets(self.family, roll.task_vector))
                v_end = nets.value(torch.as_tensor(roll.next_obs), z_end)  # in scaled units: back to the reward's
                rewards = rewards + cfg.gamma * v_end * float(np.sqrt(self.ret_var) + 1e-8) * trunc
            cut = torch.as_tensor(roll.terminated | roll.truncated)
            last_value = nets.value(torch.as_tensor(self.state.obs, dtype=torch.float32), nets.mu(actor._e()))
        scaled, self.ret_var, self.ret_count = scale_by_return_std(rewards, cut, cfg.gamma, self.ret_var, self.ret_count)
        adv, ret = gae(scaled, log["value"], last_value, cut, cfg.gamma, cfg.gae_lambda)
        flat = {k: log[k].flatten(0, 1) for k in ("obs", "action", "logp", "e")}
        flat["adv"], flat["ret"] = adv.flatten(), ret.flatten()
        flat["adv"] = (flat["adv"] - flat["adv"].mean()) / (flat["adv"].std() + 1e-8)
        n = flat["adv"].shape[0]
        acc: dict[str, list[float]] = {"loss_pi": [], "loss_v": [], "approx_kl": []}
        updates, stopped = 0, False
        for _ in range(cfg.epochs):
            if stopped:
                break
            for mb in np.array_split(self.rng.permutation(n), cfg.minibatches):
                d = {k: v[torch.as_tensor(mb)] for k, v in flat.items()}
                z = nets.mu(d["e"])
                mean, value = nets.action_mean(d["obs"], z), nets.value(d["obs"], z)
                logp = gaussian_log_prob(d["action"], mean, nets.log_std)
                pi_loss, ratio = clipped_surrogate(logp, d["logp"], d["adv"], cfg.clip)
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - ratio.log()).mean().item()
                if cfg.target_kl > 0 and approx_kl > 1.5 * cfg.target_kl:
                    stopped = True
                    break
                v_loss = ((value - d["ret"]) ** 2).mean()
                self.opt.zero_grad()
                (pi_loss + cfg.vf_coef * v_loss).backward()
                nn.utils.clip_grad_norm_([p for g in self.opt.param_groups for p in g["params"]], cfg.max_grad_norm)
                self.opt.step()
                updates += 1
                acc["loss_pi"].append(pi_loss.item())
                acc["loss_v"].append(v_loss.item())
                acc["approx_kl"].append(approx_kl)
        self.updates += updates
        out = {k: float(np.mean(v)) if v else float("nan") for k, v in acc.items()}
        out.update(n_updates=updates, early_stopped=float(stopped), log_std=float(nets.log_std.mean().item()))
        return out

    def _regress(self, log: dict[str, torch.Tensor], roll: Any) -> dict[str, float]:
        """phi's regression of mu(e) (frozen) from the history it saw, on the student's own rollout; with
        `student_target` "action", of the teacher's mean action pi(x, mu(e)) through pi(x, z_hat), pi frozen; with
        "parameters", of e itself (phi's e_hat, before mu)."""
        cfg, nets = self.cfg, self.nets
        hist, obs = log["history"].flatten(0, 1), log["obs"].flatten(0, 1)
        on_action = cfg.student_target == "action"
        with torch.no_grad():
            e = task_targets(self.family, roll.task_vector)
            target = (e if cfg.student_target == "parameters" else nets.mu(e)).flatten(0, 1)
            if on_action:
                target = nets.action_mean(obs, target)
        n = hist.shape[0]
        losses, updates = [], 0
        # the teacher is frozen: the action target needs d pi / d z_hat, not gradients of pi's (or mu's) weights
        nets.pi.requires_grad_(False)
        nets.mu.requires_grad_(False)
        for _ in range(cfg.student_epochs):
            for mb in np.array_split(self.rng.permutation(n), cfg.minibatches):
                idx = torch.as_tensor(mb)
                if on_action:
                    out = nets.action_mean(obs[idx], nets.adapt(hist[idx]))
                else:
                    out = nets.estimate(hist[idx])
                loss = ((out - target[idx]) ** 2).mean()
                self.opt_student.zero_grad()
                loss.backward()
                self.opt_student.step()
                losses.append(loss.item())
                updates += 1
        nets.pi.requires_grad_(True)
        nets.mu.requires_grad_(True)
        self.updates += updates
        return {"loss_adapt": float(np.mean(losses)), "n_updates": updates}

    # ---- evaluation ----------------------------------------------------------------------------------
    def actor(self, mode: str, num_envs: int, generator: torch.Generator, prior_episodes: int = 1) -> RMAActor:
        """Episodic and online: phi on the last steps (the history emptied at each episode start, as in
        training); prior-only: phi of an empty history (the same networks, no adaptation)."""
        return RMAActor(
            self.nets,
            "prior_only" if mode == "prior_only" else "student",
            num_envs,
            generator,
            deterministic=True,
        )

    def eval_methods(self, seed: int, prior_episodes: int = 1) -> list[Any]:
        """Adapted and prior-only (the contract's), and the teacher (`teacher_method`).

        A run trained with `privileged=False` is a domain-randomized policy, pi(x, mu(0)), and contributes that
        alone, under the run's name and without a belief: its student regresses a constant (and never trained
        while the teacher ran), so adapted, prior-only and belief rows would describe a random adaptation module.
        """
        teacher = self.teacher_method(seed)
        if not self.cfg.privileged:  # ActorWrapper has no belief(): the probe reads "no belief" for it
            return [Method(self.name, lambda mode, env: ActorWrapper(teacher.actor(mode, env)))]
        return [*super().eval_methods(seed, prior_episodes), teacher]

    def teacher_method(self, seed: int) -> Any:
        """The teacher: pi(x, mu(e)) told the true task parameters (a payload change included, at once), e = 0
        when unprivileged. It is RMA's own privileged policy, trained on the training range only: the bound the
        student can reach by estimating z, not the protocol's oracle (which trains over the whole allowed range),
        and it never runs on a robot. `eval --dr-runs/--oracle-runs` take it as DR or the oracle."""
        gen = torch.Generator().manual_seed(seed)

        def teacher(mode: str, env: Any) -> RMAActor:
            return RMAActor(
                self.nets, "teacher", env.num_envs, gen, env=env, deterministic=True, privileged=self.cfg.privileged
            )

        return Method("teacher", teacher)

    # ---- export --------------------------------------------------------------------------------------
    def export_spec(self) -> ExportSpec:
        """One graph, `policy`: obs (N, O), history (N, H, O + A) -> action (N, A) (the mean, clipped to
        [-1, 1]), extrinsics (N, Z) (z_hat, for telemetry and the probe); the runtime owns the history.

        A run trained with `privileged=False` exports its teacher instead, pi(x, mu(0)), as a non-adaptive
        policy obs -> action named "dr" in the manifest: the strong domain-randomized side of a field test."""
        nets, cfg = self.nets.cpu().eval(), self.cfg
        if cfg.task_range != "train":  # as the SB3 oracle: nobody hands a robot the true task parameters
            raise ExportError(
                f"an RMA run with task_range={cfg.task_range} is an oracle, a reference for eval and sensitivity "
                "(--oracle-runs); it trained on the held-out tasks and is not exported to a robot"
            )
        if not cfg.privileged:  # the teacher told nothing is the run's policy; its student estimates a constant
            spec = static_policy_spec(
                _StaticTeacherGraph(nets),
                nets.obs_dim,
                {"kind": "none", "note": "RMA's teacher trained with privileged=false: a domain-randomized policy "
                 "by RMA's PPO; the action depends on the observation only"},
            )  # fmt: skip
            return replace(spec, algo="dr")
        width = nets.obs_dim + nets.act_dim
        adaptation = {
            "kind": "rma",
            "history": cfg.history,
            "extrinsics_dim": cfg.extrinsics_dim,
            "inputs": ["obs", "history"],
            "history_rows": "the last `history` steps' [observation, action sent], oldest first; zeros before "
            "the episode's first step",
        }

        def record(family: Any) -> dict[str, np.ndarray]:
            gen = torch.Generator().manual_seed(0)
            return record_online_rollout(lambda env: _RMARecorder(self.actor("online", env.num_envs, gen)), family)

        return ExportSpec(
            graphs={
                "policy": GraphSpec(
                    "policy.onnx",
                    _PolicyGraph(nets),
                    (torch.zeros(2, nets.obs_dim), torch.zeros(2, cfg.history, width)),
                    ("obs", "history"),
                    ("action", "extrinsics"),
                )
            },
            adaptation=adaptation,
            record=record,
            checks=(
                ParityCheck("action", "policy", "action", "action"),
                ParityCheck("extrinsics", "policy", "extrinsics", "extrinsics"),
            ),
            belief="extrinsics",
        )

    # ---- checkpoint state ----------------------------------------------------------------------------
    def _get_torch_save_params(self) -> list[str]:
        return ["nets", "opt", "opt_student"]

    def _get_json_save_params(self) -> list[str]:
        return [*super()._get_json_save_params(), "ret_var", "ret_count"]


class _StaticTeacherGraph(nn.Module):
    """The unprivileged teacher: obs -> clip(pi(obs, mu(0)), -1, 1), the same for every task."""

    def __init__(self, nets: RMANetworks) -> None:
        super().__init__()
        self.nets = nets
        with torch.no_grad():
            self.register_buffer("z0", nets.mu(torch.zeros(1, nets.mu[0].in_features)))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        z = torch.zeros_like(obs[:, :1]) + self.z0  # (N, Z): the batch's size, dynamic in the graph
        return self.nets.action_mean(obs, z).clamp(-1.0, 1.0)


class _PolicyGraph(nn.Module):
    """The deployed function: (obs, history) -> (clip(pi(obs, phi(history)), -1, 1), phi(history))."""

    def __init__(self, nets: RMANetworks) -> None:
        super().__init__()
        self.nets = nets

    def forward(self, obs: torch.Tensor, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.nets.adapt(history)
        return self.nets.action_mean(obs, z).clamp(-1.0, 1.0), z


class _RMARecorder(ActorRecorder):
    """The online actor, recording the graph's inputs and torch's outputs at every step."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        history = self.actor.history.numpy().copy()
        action = self.actor.act(obs)
        self.rec.add(obs=obs, history=history, action=action, extrinsics=self.actor.belief())
        return action
