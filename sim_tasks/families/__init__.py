"""The built-in task families; importing this module registers them."""

from sim_tasks.families.half_cheetah_vel import HalfCheetahVel
from sim_tasks.families.planar_arm import PlanarArmPayload
from sim_tasks.families.planar_arm_sparse import PlanarArmSparse
from sim_tasks.families.planar_runner import PlanarRunnerPayload
from sim_tasks.families.quadruped import QuadrupedTerrain

__all__ = ["HalfCheetahVel", "PlanarArmPayload", "PlanarArmSparse", "PlanarRunnerPayload", "QuadrupedTerrain"]
