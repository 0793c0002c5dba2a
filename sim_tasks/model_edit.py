"""Model-stage edits with `mujoco.MjSpec`, and the matching run-time edits of a compiled model.

Everything a task changes in the model goes through here, so that a payload added when the model is
built and a payload changed in the middle of an episode give the same physics (tested).
"""

from __future__ import annotations

import math
import warnings

import mujoco
import numpy as np

GRAVITY = 9.81  # m/s^2
PAYLOAD_RADIUS = 0.04  # m; the payload is modelled as a solid sphere of this radius.
PAYLOAD_BODY = "payload"


def payload_inertia(mass: float) -> np.ndarray:
    """Principal moments of a solid sphere of `mass` kg and radius `PAYLOAD_RADIUS`, kg m^2, shape (3,)."""
    mass = max(mass, 1e-9)  # MuJoCo refuses zero inertia even for a welded body.
    return np.full(3, 0.4 * mass * PAYLOAD_RADIUS**2)


def freeze_inertials(spec: mujoco.MjSpec) -> None:
    """Write the compiled masses and inertias back into the spec as explicit inertials.

    dm_control's models use `settotalmass`, which would rescale an added payload into the robot's
    nominal mass. Freezing first keeps the robot as designed and the payload exactly as asked.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # settotalmass deprecation, harmless here
        model = spec.compile()
    for body in spec.bodies:
        if body.name == "world" or not body.name:
            continue
        b = model.body(body.name)
        body.mass = float(b.mass[0])
        body.inertia = b.inertia.copy()
        body.ipos = b.ipos.copy()
        body.iquat = b.iquat.copy()
        body.explicitinertial = True
    spec.compiler.settotalmass = -1


def add_payload(spec: mujoco.MjSpec, parent: str, mount: np.ndarray, mass: float, com: np.ndarray) -> None:
    """Weld a payload body of `mass` kg to `parent`, centred at `mount + com` in the parent frame (m)."""
    body = spec.body(parent).add_body(name=PAYLOAD_BODY, pos=(np.asarray(mount) + np.asarray(com)).tolist())
    body.mass = max(mass, 1e-9)
    body.inertia = payload_inertia(mass)
    body.ipos = [0.0, 0.0, 0.0]  # MjSpec's default is NaN ("unset"), which does not mean the body origin
    body.iquat = [1.0, 0.0, 0.0, 0.0]
    body.explicitinertial = True
    body.add_geom(
        name="payload_geom",
        type=mujoco.mjtGeom.mjGEOM_SPHERE,
        size=[PAYLOAD_RADIUS, 0, 0],
        contype=0,
        conaffinity=0,
        density=0,
        rgba=[0.9, 0.6, 0.1, 1.0],
    )


def set_payload(model: mujoco.MjModel, scratch: mujoco.MjData, mount: np.ndarray, mass: float, com: np.ndarray) -> None:
    """Change the payload of a compiled model in place, as `add_payload` would have built it.

    `mj_setConst` recomputes the constants that depend on mass (subtree masses, the inverse weights the
    constraint solver uses), on a scratch `MjData` so that the live state is untouched.
    """
    pid = model.body(PAYLOAD_BODY).id
    model.body_mass[pid] = max(mass, 1e-9)
    model.body_inertia[pid] = payload_inertia(mass)
    model.body_pos[pid] = np.asarray(mount) + np.asarray(com)
    mujoco.mj_setConst(model, scratch)


def set_ground_friction(spec: mujoco.MjSpec, geom: str, friction: float) -> None:
    """Sliding friction of the ground; priority makes it win over the robot's own geom friction."""
    g = spec.geom(geom)
    g.friction = [friction, g.friction[1], g.friction[2]]
    g.priority = 1


def scale_motor_strength(spec: mujoco.MjSpec, strength: float) -> None:
    """Multiply every actuator's force by `strength` (gain and bias, so position servos scale too)."""
    for act in spec.actuators:
        act.gainprm = [p * strength if i == 0 else p for i, p in enumerate(act.gainprm)]
        act.biasprm = [p * strength if i < 3 else p for i, p in enumerate(act.biasprm)]
        if act.forcelimited:
            act.forcerange = [r * strength for r in act.forcerange]


def slope_gravity(slope_deg: float) -> np.ndarray:
    """Gravity that makes flat ground an incline of `slope_deg` along +x (uphill positive), m/s^2."""
    theta = math.radians(slope_deg)
    return np.array([-GRAVITY * math.sin(theta), 0.0, -GRAVITY * math.cos(theta)])


def heightfield(rng: np.random.Generator, nrow: int, ncol: int, smooth: int = 4) -> np.ndarray:
    """Smooth random heights in [0, 1], shape (nrow, ncol): white noise, box-blurred `smooth` cells wide.

    A pure function of the generator, so a task's `terrain_seed` fixes its ground.
    """
    noise = rng.uniform(0.0, 1.0, size=(nrow + smooth, ncol + smooth))
    kernel = np.ones(smooth) / smooth
    blurred = np.apply_along_axis(lambda r: np.convolve(r, kernel, mode="valid"), 1, noise)
    blurred = np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, blurred)[:nrow, :ncol]
    lo, hi = blurred.min(), blurred.max()
    return (blurred - lo) / max(hi - lo, 1e-9)
