"""The online adapter that runs on the robot computer: numpy and onnxruntime only (no torch, no mujoco).

`load_adapter(policy_dir)` reads manifest.json (a `deploy.manifest.PolicyManifest`), checks it against the
ONNX graphs (files, hashes, input and output names and shapes) and refuses any mismatch by name, then returns
an adapter with
`reset()` and `act(obs, reward) -> action`:

- PEARL: a ring buffer of the last `window` transitions' Gaussian factors (precision and precision*mean,
  from the encoder graph) and their running sums, so that adding a transition and dropping the oldest is
  O(1); z is the posterior mean, re-inferred every `infer_every` steps; an empty window is the prior.
- RL²: the hidden state, previous action, previous reward and done flag, carried from step to step.

`reward` is the reward of the previous action (computed robot-side as the manifest defines); it is ignored
on the first step after `reset()`. A `SafetyFilter` stands between the network and the actuators: a NaN or
inf holds the last safe action (and is counted), actions are clamped to [-1, 1] and rate-limited.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from deploy.manifest import (
    PearlAdaptation,
    PolicyDirError,
    PolicyManifest,
    RL2Adaptation,
    RMAAdaptation,
    policy_file,
)

__all__ = ["PolicyDirError", "PolicyManifest", "load_adapter", "read_manifest"]


class ObservationError(ValueError):
    """An observation of the wrong size, or not finite, was given to `act`."""


@dataclass
class SafetyFilter:
    """Never trust the network. Actions are in the policy's normalized units [-1, 1].

    Attributes:
        max_delta: largest change of any action entry from one step to the next (2.0 = no limit).
        safe_action: what to hold when the network's output is not finite and no valid action exists yet
            (zeros: the default pose for position servos, no torque for motors).
    """

    act_dim: int
    max_delta: float = 2.0
    safe_action: np.ndarray | None = None
    nonfinite_count: int = 0
    clamped_count: int = 0
    rate_limited_count: int = 0
    _last: np.ndarray | None = field(default=None, repr=False)

    def reset(self) -> None:
        self._last = None

    def __call__(self, action: np.ndarray) -> np.ndarray:
        safe = self.safe_action if self.safe_action is not None else np.zeros(self.act_dim, np.float32)
        if not np.all(np.isfinite(action)):
            self.nonfinite_count += 1
            return (self._last if self._last is not None else safe).copy()
        out = np.clip(action, -1.0, 1.0)
        if not np.array_equal(out, action):
            self.clamped_count += 1
        if self._last is not None and self.max_delta < 2.0:
            limited = np.clip(out, self._last - self.max_delta, self._last + self.max_delta)
            if not np.array_equal(limited, out):
                self.rate_limited_count += 1
            out = limited
        self._last = out.astype(np.float32)
        return self._last.copy()


def _session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for a corrupt file
        raise PolicyDirError(f"{path} is not a loadable ONNX graph: {exc}") from None


def read_manifest(policy_dir: str | Path) -> PolicyManifest:
    """The policy dir's manifest, checked field by field (`PolicyManifest.read`)."""
    return PolicyManifest.read(policy_dir)


def _check_graph(
    name: str,
    session: ort.InferenceSession,
    expect_in: dict[str, list[Any]],
    expect_out: dict[str, list[Any]],
) -> None:
    """The graph's own inputs and outputs must be the manifest's, and the manifest's the layout's."""
    got_in = {i.name: [d if isinstance(d, int) else "batch" for d in i.shape] for i in session.get_inputs()}
    got_out = {o.name: [d if isinstance(d, int) else "batch" for d in o.shape] for o in session.get_outputs()}
    for kind, got, expect in (("input", got_in, expect_in), ("output", got_out, expect_out)):
        if set(got) != set(expect):
            raise PolicyDirError(f"graphs.{name}: {kind}s are {sorted(got)}, the manifest's layout needs {sorted(expect)}")
        for k, shape in expect.items():
            if got[k] != shape:
                raise PolicyDirError(f"graphs.{name}.{kind} {k!r} has shape {got[k]}, the manifest's layout needs {shape}")


def _load(policy_dir: Path, manifest: PolicyManifest, name: str, threads: int, verify_hash: bool) -> ort.InferenceSession:
    spec = manifest.graphs.get(name)
    if spec is None:
        raise PolicyDirError(f"manifest graphs.{name} is missing for a {manifest.algo} policy")
    path = policy_file(policy_dir, spec.file, f"graphs.{name}")
    if verify_hash and hashlib.sha256(path.read_bytes()).hexdigest() != spec.sha256:
        raise PolicyDirError(f"graphs.{name}: {path} does not match the manifest's sha256 (corrupt or replaced file)")
    return _session(path, threads)


class _Adapter:
    def __init__(self, manifest: PolicyManifest, safety: SafetyFilter | None) -> None:
        self.manifest = manifest
        self.obs_dim = manifest.obs_dim
        self.act_dim = manifest.action.dim
        self.safety = safety or SafetyFilter(self.act_dim)
        self._scale = np.asarray(manifest.action.scale, np.float32)
        self._offset = np.asarray(manifest.action.offset, np.float32)
        self._lo = np.asarray(manifest.action.ctrl_low, np.float32)
        self._hi = np.asarray(manifest.action.ctrl_high, np.float32)

    def _check_obs(self, obs: Any) -> np.ndarray:
        o = np.asarray(obs, dtype=np.float32).reshape(-1)
        if o.shape != (self.obs_dim,):
            raise ObservationError(f"observation has {o.size} entries, the manifest's layout has {self.obs_dim}")
        if not np.all(np.isfinite(o)):
            raise ObservationError(f"observation is not finite at indices {np.flatnonzero(~np.isfinite(o)).tolist()}")
        return o

    def to_ctrl(self, action: np.ndarray) -> np.ndarray:
        """Physical actuator command (manifest units) for a normalized action: clip(offset + scale*a)."""
        return np.clip(self._offset + self._scale * action, self._lo, self._hi)

    def belief(self) -> np.ndarray | None:
        """The vector a manifest's `belief_readout` reads, (B,): PEARL's posterior mean, RMA's extrinsics
        estimate, RL²'s hidden state; None for a static policy. Not in `summary` for RL²: 256 numbers a tick
        would swell the log (the summary keeps its norm)."""
        return None


class PearlAdapter(_Adapter):
    """PEARL online: z from the product of the last `window` transitions' Gaussian factors."""

    def __init__(
        self,
        policy_dir: Path,
        manifest: PolicyManifest,
        threads: int = 1,
        safety: SafetyFilter | None = None,
        verify_hash: bool = True,
        infer_every: int | None = None,
    ) -> None:
        super().__init__(manifest, safety)
        ad = manifest.adaptation
        if not isinstance(ad, PearlAdaptation):
            raise PolicyDirError(f"a PEARL adapter needs a pearl manifest, got adaptation kind {manifest.kind!r}")
        self.latent = ad.latent_dim
        self.window = ad.window
        self.infer_every = int(infer_every or ad.infer_every)
        self._zero_next = bool(ad.transition[3].zeroed)
        t_dim = 2 * self.obs_dim + self.act_dim + 1
        self.encoder = _load(policy_dir, manifest, "encoder", threads, verify_hash)
        self.policy = _load(policy_dir, manifest, "policy", threads, verify_hash)
        _check_graph(
            "encoder",
            self.encoder,
            {"transitions": ["batch", t_dim]},
            {"mu": ["batch", self.latent], "var": ["batch", self.latent]},
        )
        _check_graph(
            "policy",
            self.policy,
            {"obs": ["batch", self.obs_dim], "z": ["batch", self.latent]},
            {"action": ["batch", self.act_dim]},
        )
        self._prec = np.zeros((self.window, self.latent), np.float64)
        self._eta = np.zeros((self.window, self.latent), np.float64)
        self.use_prior = False  # True: act with the prior's mean z = 0 (no adaptation), the context still kept
        self.reset()

    def reset(self, keep_context: bool = False) -> None:
        """A new episode; with `keep_context` the window (the task's evidence) is kept, else forgotten."""
        if not keep_context:
            self._prec[:] = 0.0
            self._eta[:] = 0.0
            self._sum_prec = np.zeros(self.latent)
            self._sum_eta = np.zeros(self.latent)
            self._count = 0
            self.z = np.zeros((1, self.latent), np.float32)
        self._prev_obs: np.ndarray | None = None
        self._prev_action: np.ndarray | None = None
        self._steps = 0
        self.safety.reset()

    def _add(self, transition: np.ndarray) -> None:
        mu, var = self.encoder.run(None, {"transitions": transition[None]})
        prec = 1.0 / np.maximum(var[0].astype(np.float64), 1e-7)
        slot = self._count % self.window
        if self._count >= self.window:  # drop the oldest factor from the sums
            self._sum_prec -= self._prec[slot]
            self._sum_eta -= self._eta[slot]
        self._prec[slot], self._eta[slot] = prec, prec * mu[0]
        self._sum_prec += self._prec[slot]
        self._sum_eta += self._eta[slot]
        self._count += 1
        if self._count % self.window == 0:  # re-sum once per window so float drift cannot accumulate
            n = min(self._count, self.window)
            self._sum_prec, self._sum_eta = self._prec[:n].sum(0), self._eta[:n].sum(0)

    def _take_transition(self, o: np.ndarray, reward: float) -> None:
        """Add (previous obs, previous action, reward, o) to the window and refresh z every `infer_every`."""
        nxt = np.zeros_like(o) if self._zero_next else o
        self._add(np.concatenate([self._prev_obs, self._prev_action, np.array([reward], np.float32), nxt]).astype(np.float32))
        self._steps += 1
        if self._steps % self.infer_every == 0:
            self.z = self.posterior()[0].astype(np.float32)[None]

    def end_episode(self, final_obs: Any, reward: float) -> None:
        """Add the episode's last transition (it ends in `final_obs`); call before `reset(keep_context=True)`."""
        o = self._check_obs(final_obs)
        if self._prev_obs is not None:
            self._take_transition(o, reward)
        self._prev_obs = None

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        """Current (mean, variance) of q(z | window), shapes (latent,); the prior N(0, 1) when empty."""
        if self._count == 0:
            return np.zeros(self.latent), np.ones(self.latent)
        var = 1.0 / self._sum_prec
        return var * self._sum_eta, var

    def act(self, obs: Any, reward: float = 0.0) -> np.ndarray:
        o = self._check_obs(obs)
        if self._prev_obs is not None:
            self._take_transition(o, reward)
        z = np.zeros_like(self.z) if self.use_prior else self.z
        raw = self.policy.run(None, {"obs": o[None], "z": z})[0][0]
        action = self.safety(raw)
        self._prev_obs, self._prev_action = o, action
        return action

    def belief(self) -> np.ndarray:
        return self.posterior()[0]

    def summary(self) -> dict[str, Any]:
        mean, var = self.posterior()
        return {"z": mean.tolist(), "z_var_mean": float(var.mean()), "window_fill": min(self._count, self.window)}


class RL2Adapter(_Adapter):
    """RL² online: the recurrent step with explicit state."""

    def __init__(
        self,
        policy_dir: Path,
        manifest: PolicyManifest,
        threads: int = 1,
        safety: SafetyFilter | None = None,
        verify_hash: bool = True,
    ) -> None:
        super().__init__(manifest, safety)
        if not isinstance(manifest.adaptation, RL2Adaptation):
            raise PolicyDirError(f"an RL² adapter needs an rl2 manifest, got adaptation kind {manifest.kind!r}")
        self.hidden = manifest.adaptation.hidden_size
        self.step_graph = _load(policy_dir, manifest, "step", threads, verify_hash)
        _check_graph(
            "step",
            self.step_graph,
            {
                "obs": ["batch", self.obs_dim],
                "prev_action": ["batch", self.act_dim],
                "prev_reward": ["batch"],
                "done": ["batch"],
                "h_in": ["batch", self.hidden],
            },
            {"action": ["batch", self.act_dim], "h_out": ["batch", self.hidden]},
        )
        self.reset()

    def reset(self, keep_context: bool = False) -> None:
        """A new trial (memory zeroed), or with `keep_context` a new episode of the same trial (done = 1)."""
        if not keep_context:
            self.h = np.zeros((1, self.hidden), np.float32)
            self._prev_action = np.zeros((1, self.act_dim), np.float32)
            self._done = np.zeros(1, np.float32)
            self._first = True
        else:
            self._done = np.ones(1, np.float32)
            self._first = False
        self._boundary = keep_context
        self.safety.reset()

    def act(self, obs: Any, reward: float = 0.0) -> np.ndarray:
        o = self._check_obs(obs)
        prev_r = np.zeros(1, np.float32) if self._first else np.array([reward], np.float32)
        action, self.h = self.step_graph.run(
            None, {"obs": o[None], "prev_action": self._prev_action, "prev_reward": prev_r, "done": self._done, "h_in": self.h}
        )
        action = self.safety(action[0])
        self._prev_action = action[None].astype(np.float32)
        self._done = np.zeros(1, np.float32)
        self._first = False
        return action

    def belief(self) -> np.ndarray:
        return self.h[0].copy()

    def summary(self) -> dict[str, Any]:
        return {"h_norm": float(np.linalg.norm(self.h)), "h_mean": float(self.h.mean())}


class RMAAdapter(_Adapter):
    """RMA online: the policy graph on (obs, the last `history` [obs, action] rows), the rows kept here."""

    def __init__(
        self,
        policy_dir: Path,
        manifest: PolicyManifest,
        threads: int = 1,
        safety: SafetyFilter | None = None,
        verify_hash: bool = True,
    ) -> None:
        super().__init__(manifest, safety)
        if not isinstance(manifest.adaptation, RMAAdaptation):
            raise PolicyDirError(f"an RMA adapter needs an rma manifest, got adaptation kind {manifest.kind!r}")
        self.length, self.extrinsics_dim = manifest.adaptation.history, manifest.adaptation.extrinsics_dim
        self.policy = _load(policy_dir, manifest, "policy", threads, verify_hash)
        width = self.obs_dim + self.act_dim
        _check_graph(
            "policy",
            self.policy,
            {"obs": ["batch", self.obs_dim], "history": ["batch", self.length, width]},
            {"action": ["batch", self.act_dim], "extrinsics": ["batch", self.extrinsics_dim]},
        )
        self.reset()

    def reset(self, keep_context: bool = False) -> None:
        """A new episode: the history is zeroed (as in training) unless `keep_context`."""
        if not keep_context:
            self.history = np.zeros((1, self.length, self.obs_dim + self.act_dim), np.float32)
            self.extrinsics = np.zeros(self.extrinsics_dim, np.float32)
        self.safety.reset()

    def act(self, obs: Any, reward: float = 0.0) -> np.ndarray:
        o = self._check_obs(obs)
        action, z = self.policy.run(None, {"obs": o[None], "history": self.history})
        self.extrinsics = z[0]
        action = self.safety(action[0])
        # the step enters the history, oldest first: the observation and the action sent (what training records)
        row = np.concatenate([o, np.asarray(action, np.float32)])[None, None]
        self.history = np.concatenate([self.history[:, 1:], row], 1)
        return action

    def belief(self) -> np.ndarray:
        return self.extrinsics.copy()

    def summary(self) -> dict[str, Any]:
        return {"extrinsics": self.extrinsics.tolist(), "z_norm": float(np.linalg.norm(self.extrinsics))}


class StaticAdapter(_Adapter):
    """A non-adaptive policy (adaptation kind "none", e.g. the domain-randomized baseline): obs -> action."""

    def __init__(
        self,
        policy_dir: Path,
        manifest: PolicyManifest,
        threads: int = 1,
        safety: SafetyFilter | None = None,
        verify_hash: bool = True,
    ) -> None:
        super().__init__(manifest, safety)
        self.policy = _load(policy_dir, manifest, "policy", threads, verify_hash)
        _check_graph(
            "policy",
            self.policy,
            {"obs": ["batch", self.obs_dim]},
            {"action": ["batch", self.act_dim]},
        )

    def reset(self, keep_context: bool = False) -> None:
        self.safety.reset()

    def act(self, obs: Any, reward: float = 0.0) -> np.ndarray:
        o = self._check_obs(obs)
        return self.safety(self.policy.run(None, {"obs": o[None]})[0][0])

    def summary(self) -> dict[str, Any]:
        return {}


def load_adapter(
    policy_dir: str | Path,
    threads: int = 1,
    safety: SafetyFilter | None = None,
    verify_hash: bool = True,
    manifest: PolicyManifest | None = None,
    **kwargs: Any,
) -> PearlAdapter | RL2Adapter | RMAAdapter | StaticAdapter:
    """The adapter for a policy dir, after checking the manifest (read here unless given) against its graphs."""
    policy_dir = Path(policy_dir)
    manifest = manifest if manifest is not None else read_manifest(policy_dir)
    kind = manifest.kind
    if kind == "pearl":
        return PearlAdapter(policy_dir, manifest, threads, safety, verify_hash, **kwargs)
    if kind == "rl2":
        return RL2Adapter(policy_dir, manifest, threads, safety, verify_hash)
    if kind == "rma":
        return RMAAdapter(policy_dir, manifest, threads, safety, verify_hash)
    if kind == "none":
        return StaticAdapter(policy_dir, manifest, threads, safety, verify_hash)
    raise PolicyDirError(f"manifest adaptation.kind {kind!r} is not one this runtime runs (pearl, rl2, rma, none)")
