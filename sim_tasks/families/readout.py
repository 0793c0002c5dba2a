"""Physics read-outs shared by the families: what a robot's encoders and IMU would report."""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np

ACTION_COST = 0.05  # weight of |a|^2 in the rewards that use it (PEARL's half-cheetah-vel value)


def joint_indices(model: mujoco.MjModel, names: Sequence[str]) -> tuple[slice | np.ndarray, slice | np.ndarray]:
    """(qpos, qvel) indexers of the named 1-dof joints: a `slice` when the addresses are contiguous (a view,
    several times cheaper than fancy indexing in the step loop), else an index array."""
    ids = [model.joint(n).id for n in names]
    return _as_slice(model.jnt_qposadr[ids]), _as_slice(model.jnt_dofadr[ids])


def _as_slice(addr: np.ndarray) -> slice | np.ndarray:
    if len(addr) and np.array_equal(addr, np.arange(addr[0], addr[0] + len(addr))):
        return slice(int(addr[0]), int(addr[0]) + len(addr))
    return addr.copy()


def gravity_in_body(data: mujoco.MjData, body_id: int) -> np.ndarray:
    """Unit gravity direction in the body frame, shape (3,): what an IMU's accelerometer sees at rest."""
    # R^T (0, 0, -1) is minus the third row of the body's rotation matrix (xmat is row-major).
    return -data.xmat[body_id, 6:9]


def motor_layout_arrays(model: mujoco.MjModel) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Actuator names and ctrl ranges, shapes (nu,), for layouts built straight from the model."""
    names = tuple(model.actuator(i).name for i in range(model.nu))
    return names, model.actuator_ctrlrange[:, 0].copy(), model.actuator_ctrlrange[:, 1].copy()


def action_cost(action: np.ndarray) -> float:
    return ACTION_COST * float(action @ action)
