"""Forward kinematics in numpy, from a chain the manifest carries: where a site (a gripper tip) is, given the
joint encoders. The robot computer has no MuJoCo; export reads the chain from the compiled model
(`robot_meta.export.kinematic_chain`) and this module repeats MuJoCo's own arithmetic (`mj_kinematics`) on it:

    body b, child of p:   x_b = x_p + R_p @ pos_b,   q_b = q_p * quat_b
    then each joint j of b, in order (anchor a_j and axis u_j in b's frame, reference q0_j):
        hinge:  q_b = q_b * rot(u_j, q_j - q0_j),   x_b = (x_b + R_b_before @ a_j) - R_b @ a_j
        slide:  x_b = x_b + R_b @ u_j * (q_j - q0_j)
    site:    x_s = x_b + R_b @ pos_s

Positions in m, angles in rad, quaternions (w, x, y, z). Tested against MuJoCo's `site_xpos` on random
configurations (tests/deploy/test_kinematics.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deploy.manifest import KinematicChain


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (w, x, y, z)."""
    aw, ax, ay, az = a
    bw, bx, by, bz = b
    return np.array(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ]
    )


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrix of a unit quaternion (w, x, y, z), shape (3, 3)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / max(float(np.linalg.norm(q)), 1e-12)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    """Quaternion of a rotation by `angle` rad about the unit `axis`."""
    half = 0.5 * angle
    return np.concatenate(([np.cos(half)], np.sin(half) * np.asarray(axis) / np.linalg.norm(axis)))


class ForwardKinematics:
    """`fk(q_robot) -> site position (3,)` in the world frame, m, for one chain of the manifest.

    Args:
        chain: the manifest's chain from the world to the site.
        joint_names: the robot's joints in STATE order (the manifest's `joints`); every joint of the chain must
            be one of them, or the policy dir is refused naming it.
    """

    def __init__(self, chain: KinematicChain, joint_names: Sequence[str]) -> None:
        self.chain = chain
        order = {name: i for i, name in enumerate(joint_names)}
        chain.require_joints(order, "the robot's")
        self._index = [order[j.name] for link in chain.links for j in link.joints]
        # per link: offset, orientation, and its joints as (hinge?, axis, anchor, qpos0), arrays made once
        self._links = [
            (
                np.asarray(link.pos, float),
                np.asarray(link.quat, float),
                [(j.type == "hinge", np.asarray(j.axis, float), np.asarray(j.anchor, float), j.qpos0) for j in link.joints],
            )
            for link in chain.links
        ]
        self._site = np.asarray(chain.site_pos, float)

    def __call__(self, q_robot: np.ndarray) -> np.ndarray:
        """The site's world position (3,), m, for the robot's joint positions `q_robot` (STATE order)."""
        return self.anchors(q_robot)[-1]

    def anchors(self, q_robot: np.ndarray) -> list[np.ndarray]:
        """World positions of each joint's anchor, then the site's: the points whose distances bound the reach."""
        q_robot = np.asarray(q_robot, dtype=np.float64)
        out = []
        x = np.zeros(3)
        quat = np.array([1.0, 0.0, 0.0, 0.0])
        k = 0
        for pos, link_quat, joints in self._links:
            x = x + quat_to_mat(quat) @ pos
            quat = quat_mul(quat, link_quat)
            for hinge, axis, anchor, qpos0 in joints:
                value = q_robot[self._index[k]] - qpos0
                k += 1
                rot = quat_to_mat(quat)
                point = x + rot @ anchor
                out.append(point)
                if hinge:
                    quat = quat_mul(quat, axis_angle(axis, value))
                    x = point - quat_to_mat(quat) @ anchor
                else:
                    x = x + rot @ axis * value
        out.append(x + quat_to_mat(quat) @ self._site)
        return out
