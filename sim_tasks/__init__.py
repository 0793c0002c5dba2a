"""sim_tasks: task families (terrain, payload, goal) over MuJoCo robots, as gymnasium envs.

Importing the package registers one gymnasium id per family under the `sim_tasks/` namespace.
"""

from sim_tasks.envs import TaskEnv, register_envs
from sim_tasks.family import TaskFamily, family_names, get_family
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice
from sim_tasks.params import ParamSpec, TaskParamError, TaskParams, TaskSplit, UnknownFamilyError
from sim_tasks.sim import TaskSim
from sim_tasks.vector import BatchedTaskEnv

ENV_IDS = register_envs()

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
    "family_names",
    "get_family",
]
