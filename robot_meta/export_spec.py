"""What an algorithm hands to export (rsl_rl's `as_onnx` style): its graphs, its adaptation, its parity recording.

`robot_meta.export` turns an `ExportSpec` into a policy dir without knowing which algorithm made it: it
exports every `GraphSpec` to ONNX, calls `record` for a rollout of the torch policy in the simulator (every
graph input it saw and torch's outputs), runs onnxruntime on the same inputs and compares per
`ParityCheck`. The two rollouts every algorithm records with are here:
`record_online_rollout` (the robot's online mode, with an episode reset and a mid-episode payload change)
and `record_static_rollout` (a policy obs -> action over one episode).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from robot_meta.collector import ActorWrapper, CollectorState, collect
from sim_tasks import BatchedTaskEnv


class ExportError(RuntimeError):
    """Export could not produce a policy dir that matches the trained policy; the message says why."""


@dataclass(frozen=True)
class GraphSpec:
    """One ONNX graph: a torch module, example inputs (batch 2) and the graph's input and output names.

    Shapes: every input and output has a dynamic batch dimension first (named "batch" in the manifest).
    """

    file: str
    module: nn.Module
    example: tuple[torch.Tensor, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class ParityCheck:
    """Max |onnxruntime - torch| of one graph output against a recorded row, reported under `label`;
    `relative` divides by the largest recorded magnitude (for variances spanning decades)."""

    label: str
    graph: str
    output: str
    expected: str
    relative: bool = False


@dataclass(frozen=True)
class ExportSpec:
    """Everything export needs from an algorithm.

    Attributes:
        graphs: graph name -> GraphSpec (the manifest's `graphs` keys).
        adaptation: the manifest's adaptation section (what the runtime needs to adapt online).
        record: callable(family) -> rows {name: array (steps, ...)}: every graph input (by input name) and
            the torch outputs the checks compare against, from a rollout in the simulator.
        checks: the parity checks, in report order.
        belief: the name of what the online actor's `belief()` returns and the runtime adapter's `belief()`
            gives back on the robot (PEARL "z", RMA "extrinsics", RL² "h"); export fits the manifest's payload
            read-out on it. None: no belief vector (a static policy), so no read-out.
        algo: the manifest's `algo` when it is not the run's (an RMA run with privileged=false exports its
            teacher as "dr"); None: the run's.
    """

    graphs: dict[str, GraphSpec]
    adaptation: dict[str, Any]
    record: Callable[[Any], dict[str, np.ndarray]]
    checks: tuple[ParityCheck, ...]
    belief: str | None = None
    algo: str | None = None


class RowRecorder:
    """Rows of float32 arrays, appended step by step and concatenated at the end."""

    def __init__(self) -> None:
        self.rows: dict[str, list[np.ndarray]] = {}

    def add(self, **kv: Any) -> None:
        for k, v in kv.items():
            self.rows.setdefault(k, []).append(np.asarray(v, dtype=np.float32))

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v, 0) for k, v in self.rows.items()}


class ActorRecorder(ActorWrapper):
    """An actor that records rows while it acts (`recorded()` returns them): the parity recorders' base."""

    def __init__(self, actor: Any) -> None:
        super().__init__(actor)
        self.rec = RowRecorder()

    def recorded(self) -> dict[str, np.ndarray]:
        return self.rec.arrays()


def record_online_rollout(make_recorder: Callable[[Any], Any], family: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Drive `make_recorder(env)` (an Actor that records: the algorithm's online actor wrapped, with a
    `recorded()` method returning the rows) on two held-out tasks for 1.5 episodes, with a payload change in
    the middle of the first episode where the family has a payload."""

    tasks = list(family.split().test[:2])
    env = BatchedTaskEnv(family, tasks, seed=seed)
    if family.payload_parent is not None:
        heavy = family.spec_of("payload_mass").train[1]
        for sim in env.sims:
            sim.schedule_payload([(0.5 * family.episode_steps * family.ctrl_dt, heavy)])
    state = CollectorState(env)
    state.reset(seed=seed)
    recorder = make_recorder(env)
    collect(state, recorder, family.episode_steps + family.episode_steps // 2)
    return recorder.recorded()


class _StaticRecorder:
    def __init__(self, act: Callable[[np.ndarray], np.ndarray]) -> None:
        self.act_fn, self.rec = act, RowRecorder()

    def reset(self, mask: np.ndarray) -> None:
        pass

    def act(self, obs: np.ndarray) -> np.ndarray:
        a = np.asarray(self.act_fn(obs), np.float32)
        self.rec.add(obs=obs, action=a)
        return a

    def observe(self, *args: Any) -> None:
        pass

    def recorded(self) -> dict[str, np.ndarray]:
        return self.rec.arrays()


def record_static_rollout(act: Callable[[np.ndarray], np.ndarray], family: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """A static policy `act(obs (N, O)) -> actions (N, A)` over one episode on two held-out tasks: rows "obs"
    and "action"."""

    env = BatchedTaskEnv(family, list(family.split().test[:2]), seed=seed)
    state = CollectorState(env)
    state.reset(seed=seed)
    rec = _StaticRecorder(act)
    collect(state, rec, family.episode_steps)
    return rec.recorded()


def static_policy_spec(
    module: nn.Module,
    obs_dim: int,
    adaptation: dict[str, Any],
    act: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ExportSpec:
    """The spec of a non-adaptive policy obs -> action (a MAML policy with fixed parameters, the
    domain-randomized baseline): one graph, checked over one episode against `act` (the module's own
    forward by default; the baseline's library call where it has one)."""
    module = module.cpu().eval()

    def forward(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.as_tensor(obs, dtype=torch.float32)).numpy()

    act = act or forward

    return ExportSpec(
        graphs={"policy": GraphSpec("policy.onnx", module, (torch.zeros(2, obs_dim),), ("obs",), ("action",))},
        adaptation=adaptation,
        record=lambda family: record_static_rollout(act, family),
        checks=(ParityCheck("action", "policy", "action", "action"),),
    )
