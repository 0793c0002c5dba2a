"""MAML (Finn et al., ICML 2017) and first-order MAML on the task families, and the gridworld exercise."""

from robot_meta.maml.maml import MAML, MAMLActor, MAMLConfig

__all__ = ["MAML", "MAMLActor", "MAMLConfig"]
