"""The meta-RL algorithms by name: one line each, "module:Class" of a `MetaAlgorithm` subclass.

Classes are imported when asked for, so that `robot-meta --help` and the choices of `--algo` do not import
torch. Adding an algorithm is its folder plus one line here (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from robot_meta.config import ConfigError

if TYPE_CHECKING:
    from robot_meta.algorithm import MetaAlgorithm

ALGORITHMS: dict[str, str] = {
    "pearl": "robot_meta.pearl:PEARL",
    "rl2": "robot_meta.rl2:RL2",
    "maml": "robot_meta.maml:MAML",
    "rma": "robot_meta.rma:RMA",
}


def algorithm_names() -> list[str]:
    return list(ALGORITHMS)


def algorithm_class(name: str) -> type[MetaAlgorithm]:
    """The class registered as `name`; raises `ConfigError` listing the known names."""

    if name not in ALGORITHMS:
        raise ConfigError(f"unknown algorithm {name!r}; choose from {sorted(ALGORITHMS)}")
    module, _, cls = ALGORITHMS[name].partition(":")
    return getattr(importlib.import_module(module), cls)
