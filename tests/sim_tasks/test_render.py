"""Rendering (issue 20): every registered env takes render_mode="rgb_array" (gymnasium's convention) and returns
frames of its robot from the family's camera, headless (sim_tasks picks EGL or OSMesa before MuJoCo loads)."""

import gymnasium as gym
import numpy as np
import pytest

import sim_tasks


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_every_env_renders_frames_of_its_moving_robot(env_id):
    env = gym.make(env_id, render_mode="rgb_array", width=160, height=120)
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (120, 160, 3) and first.dtype == np.uint8 and first.std() > 5  # a scene, not a blank
    rng = np.random.default_rng(0)
    for _ in range(15):
        env.step(rng.uniform(-1, 1, size=env.action_space.shape).astype(np.float32))
    assert np.abs(env.render().astype(int) - first).mean() > 0.5  # the robot moved
    assert env.metadata["render_fps"] == round(1 / sim_tasks.get_family(env.unwrapped.family.name).ctrl_dt)
    env.close()


def test_no_render_mode_renders_nothing_and_a_wrong_one_is_refused():
    env = gym.make("sim_tasks/PlanarArmPayload-v0")
    env.reset(seed=0)
    assert env.render() is None
    with pytest.raises(ValueError, match="render_mode='human'"):
        sim_tasks.TaskEnv("planar_arm", render_mode="human")
