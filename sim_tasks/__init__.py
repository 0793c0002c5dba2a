"""sim_tasks: task families (terrain, payload, goal) over MuJoCo robots, as gymnasium envs.

Importing the package registers one gymnasium id per built-in family under the `sim_tasks/` namespace
(`sim_tasks.registry`); a user's family is added with `register_family`.
"""

from sim_tasks.envs import TaskEnv
from sim_tasks.family import TaskFamily
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice
from sim_tasks.params import ParamSpec, TaskParamError, TaskParams, TaskSplit, UnknownFamilyError
from sim_tasks.registry import env_ids, family_names, get_family, load_family_module, register_family, task_from_json
from sim_tasks.sim import TaskSim
from sim_tasks.vector import BatchedTaskEnv

ENV_IDS = env_ids()  # the built-in families' gymnasium ids, registered when the registry was imported

__all__ = [
    "ENV_IDS",
    "ActionLayout",
    "BatchedTaskEnv",
    "ObsLayout",
    "ObsSlice",
    "ParamSpec",
    "TaskEnv",
    "TaskFamily",
    "TaskParamError",
    "TaskParams",
    "TaskSim",
    "TaskSplit",
    "UnknownFamilyError",
    "env_ids",
    "family_names",
    "get_family",
    "load_family_module",
    "register_family",
    "task_from_json",
]
