"""robot_meta: meta-RL algorithms, the collector, evaluation, checkpoints, and the `robot-meta` CLI."""

__version__ = "0.1.0"
