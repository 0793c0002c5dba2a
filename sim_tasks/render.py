"""Offscreen rendering of a task's robot: the headless OpenGL backend chosen before MuJoCo is imported, and a
frame renderer with the family's camera.

MuJoCo picks its OpenGL backend from `MUJOCO_GL` when it is first imported, so `select_gl_backend` runs at the top
of `sim_tasks/__init__.py`: it keeps a user's `MUJOCO_GL`, uses the display (GLFW) when there is one, and
otherwise EGL (Mesa's software EGL works on machines without a GPU) or OSMesa, whichever library is found.
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from typing import Any

import numpy as np


def select_gl_backend() -> str | None:
    """Set `MUJOCO_GL` for a headless machine unless the user set it; returns the backend, or None if none of
    EGL, OSMesa or a display is available (rendering then says so in one line)."""
    if os.environ.get("MUJOCO_GL"):
        return os.environ["MUJOCO_GL"]
    if sys.platform != "linux" or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return "glfw"  # MuJoCo's default where a window system is present
    for backend, lib in (("egl", "EGL"), ("osmesa", "OSMesa")):
        if ctypes.util.find_library(lib):
            os.environ["MUJOCO_GL"] = backend
            if backend == "egl":
                os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
            return backend
    return None


class RenderError(RuntimeError):
    """No OpenGL backend could render: says which were tried and what to install."""


class FrameRenderer:
    """`render(data) -> (height, width, 3) uint8` from a named camera of the model (the family's; tracking
    cameras follow the robot)."""

    def __init__(self, model: Any, camera: str | int, width: int = 480, height: int = 360) -> None:
        import mujoco

        try:
            self._renderer = mujoco.Renderer(model, height, width)
        except Exception as exc:  # MuJoCo raises its own FatalError types when no GL context can be made
            raise RenderError(
                f"cannot render: no OpenGL context ({type(exc).__name__}); MUJOCO_GL={os.environ.get('MUJOCO_GL')!r}. "
                "Install Mesa's EGL (apt install libegl1 libgl1-mesa-dri) or OSMesa (libosmesa6) and set "
                "MUJOCO_GL=egl or osmesa before Python starts"
            ) from None
        self.model, self.camera = model, camera

    def render(self, data: Any) -> np.ndarray:
        self._renderer.update_scene(data, camera=self.camera)
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()
