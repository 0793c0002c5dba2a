"""sim_tasks: task families (terrain, payload, goal) over MuJoCo robots, as gymnasium envs.

Importing the package registers one gymnasium id per built-in family under the `sim_tasks/` namespace
(`sim_tasks.registry`); a user's family is added with `register_family`.
"""

from sim_tasks.render import select_gl_backend

GL_BACKEND = select_gl_backend()  # before MuJoCo is first imported: it reads MUJOCO_GL once

from sim_tasks.envs import TaskEnv  # noqa: E402
from sim_tasks.family import TaskFamily  # noqa: E402
from sim_tasks.layout import ActionLayout, ObsLayout, ObsSlice  # noqa: E402
from sim_tasks.params import ParamSpec, TaskParamError, TaskParams, TaskSplit, UnknownFamilyError  # noqa: E402
from sim_tasks.registry import env_ids, family_names, get_family, load_family_module, register_family, task_from_json  # noqa: E402
from sim_tasks.sim import TaskSim  # noqa: E402
from sim_tasks.vector import BatchedTaskEnv  # noqa: E402

ENV_IDS = env_ids()  # the built-in families' gymnasium ids, registered when the registry was imported

__all__ = [
    "ENV_IDS",
    "GL_BACKEND",
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
