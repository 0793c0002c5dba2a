"""The contract every meta-RL algorithm implements (stable-baselines3's `BaseAlgorithm` is the model).

An algorithm is built from its config, an env factory, the training tasks, a seed and a device; it owns its
networks, optimizers, buffers and RNGs. The runner (`robot_meta.train`) only calls `train_iteration` and the
checkpoint pair; the evaluation protocol only calls `actor`; export only calls `export_spec`. What the base
class does once for every algorithm:

- the constructor preamble: config validation, held-out tasks for the periodic check, explicit RNGs
  (`self.rng`: numpy, `self.gen`: torch, both from `seed`), counters;
- the periodic held-out check after an iteration (`eval_every`);
- the evaluation methods (adapted and prior-only) built from `actor`;
- checkpoints: each algorithm lists what it saves (`_get_torch_save_params`, `_get_json_save_params`, and
  arrays such as replay buffers), the base class writes and restores it, RNG states included, so that a
  resumed run continues bit for bit.

Adding an algorithm: a folder `robot_meta/NAME/` with a subclass and its frozen config dataclass, and one
line in `robot_meta.registry.ALGORITHMS` (docs/architecture.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from robot_meta.collector import Actor
from robot_meta.config import ConfigError
from robot_meta.evaluation import Method, held_out_returns
from robot_meta.export_spec import ExportSpec

ACTOR_MODES = ("episodic", "online", "prior_only")


class MetaAlgorithm(ABC):
    """Base class of PEARL, RL² and MAML.

    Args:
        make_env: callable(tasks, seed) -> a batched env (the runner passes sim_tasks' `BatchedTaskEnv`).
        train_tasks: the training split.
        cfg: the algorithm's frozen config (validated here).
        seed: seeds `self.rng` (numpy) and `self.gen` (torch); nothing draws from a global RNG.
        device: where the networks live.
        test_tasks: held-out tasks for the periodic check (the first `cfg.eval_tasks`).

    Class attributes:
        name: registry key, and the adapted method's label in evaluation reports.
        config_class: the frozen config dataclass.
        cpu_only: True when the algorithm runs on the CPU only (refuses another device by name).
        export_options: keyword options `export_spec` takes (the CLI refuses the others by name).
    """

    name: ClassVar[str]
    config_class: ClassVar[type]
    cpu_only: ClassVar[bool] = False
    export_options: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        make_env: Callable[[list[Any], int], Any],
        train_tasks: list[Any],
        cfg: Any,
        seed: int,
        device: torch.device,
        test_tasks: list[Any] | None = None,
    ) -> None:
        cfg.validate()
        if self.cpu_only and torch.device(device).type != "cpu":
            raise ConfigError(f"{self.name} runs on the CPU only; pass --device cpu (got {device})")
        self.cfg, self.device, self.seed, self.make_env = cfg, torch.device(device), seed, make_env
        self.train_tasks = list(train_tasks)
        self.test_tasks = list(test_tasks or [])[: cfg.eval_tasks]
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.iteration = self.env_steps = self.updates = 0
        self.env: Any = None  # the subclass builds its batched env

    @property
    def family(self) -> Any:
        """The task family of the env the algorithm trains on."""
        return self.env.family

    def seeded(self, build: Callable[[], Any]) -> Any:
        """`build()` with torch's global RNG seeded from `self.seed` and restored after: network initialization
        is reproducible and leaves no trace on the caller's global state."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build()

    # ---- training ------------------------------------------------------------------------------------
    def next_iteration_steps(self) -> tuple[int, str] | None:
        """Env steps the next iteration will collect and why, when an algorithm knows (PEARL's first iteration
        collects every training task's initial steps); None otherwise. An iteration is never cut short, so the
        runner warns when this alone overruns the budget."""
        return None

    def train_iteration(self) -> dict[str, Any]:
        """One iteration (collection and updates), then the periodic held-out check. Returns the metrics."""
        metrics = self._train_iteration()
        if self.cfg.eval_every and self.test_tasks and self.iteration % self.cfg.eval_every == 0:
            metrics.update(self.evaluate_test())
        return metrics

    @abstractmethod
    def _train_iteration(self) -> dict[str, Any]:
        """Collect, update, advance `iteration`, `env_steps` and `updates`; return the iteration's metrics."""

    # ---- evaluation ----------------------------------------------------------------------------------
    @abstractmethod
    def actor(self, mode: str, num_envs: int, generator: torch.Generator, prior_episodes: int = 1) -> Actor:
        """An actor of the collector for the evaluation protocol, in one of `ACTOR_MODES`.

        "episodic": context carried across the episodes of a trial (`prior_episodes` leading episodes act
        before adapting, where the algorithm distinguishes them); "online": adapting inside an episode, as on
        the robot; "prior_only": no adaptation (the no-adaptation baseline of the same networks). Actions are
        deterministic where the algorithm allows it; `generator` feeds any draw.
        """

    def eval_methods(self, seed: int, prior_episodes: int = 1) -> list[Any]:
        """The methods this algorithm contributes to the evaluation protocol: adapted (named after the
        algorithm) and prior-only, sharing one generator seeded with `seed`."""

        gen = torch.Generator().manual_seed(seed)

        def adapted(mode: str, env: Any) -> Actor:
            return self.actor(mode, env.num_envs, gen, prior_episodes)

        def prior_only(mode: str, env: Any) -> Actor:
            return self.actor("prior_only", env.num_envs, gen, prior_episodes)

        return [Method(self.name, adapted), Method("prior_only", prior_only)]

    def evaluate_test(self) -> dict[str, float]:
        """The periodic held-out check: the protocol's episodic trial on `test_tasks` (own generators, so
        training is not perturbed)."""

        return held_out_returns(self.eval_methods(seed=0)[0], self.family, self.test_tasks, self.cfg.eval_episodes)

    # ---- export --------------------------------------------------------------------------------------
    @abstractmethod
    def export_spec(self, **options: Any) -> ExportSpec:
        """The ONNX graphs with named I/O, the manifest's adaptation section, and the parity recording."""

    # ---- checkpoints ---------------------------------------------------------------------------------
    @abstractmethod
    def _get_torch_save_params(self) -> list[str]:
        """Attributes holding a module or an optimizer (anything with `state_dict`), saved with torch."""

    def _get_json_save_params(self) -> list[str]:
        """Attributes holding JSON values (counters, running statistics)."""
        return ["iteration", "env_steps", "updates"]

    def _get_array_state(self) -> dict[str, np.ndarray]:
        """Arrays saved as npz (replay buffers); none by default."""
        return {}

    def _set_array_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what `_get_array_state` returned."""

    def state_dict(self) -> dict[str, Any]:
        """{"torch": state_dicts and the torch RNG, "json": counters and the numpy RNG, "arrays": npz arrays}."""
        torch_state = {name: getattr(self, name).state_dict() for name in self._get_torch_save_params()}
        torch_state["torch_rng"] = self.gen.get_state()
        json_state = {name: getattr(self, name) for name in self._get_json_save_params()}
        json_state["numpy_rng"] = self.rng.bit_generator.state
        return {"torch": torch_state, "json": json_state, "arrays": self._get_array_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        t, j = state["torch"], state["json"]
        for name in self._get_torch_save_params():
            getattr(self, name).load_state_dict(t[name])
        self.gen.set_state(t["torch_rng"])
        for name in self._get_json_save_params():
            setattr(self, name, j[name])
        self.rng.bit_generator.state = j["numpy_rng"]
        self._set_array_state(state["arrays"])
