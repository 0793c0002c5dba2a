"""RL² (Duan et al. 2016; Wang et al. 2016): a GRU policy meta-trained with PPO over trials."""

from robot_meta.rl2.rl2 import RL2, RL2Actor, RL2Config, RL2Policy, TrialSchedule, gae

__all__ = ["RL2", "RL2Actor", "RL2Config", "RL2Policy", "TrialSchedule", "gae"]
