"""gymnasium and SB3 conventions (issue 20), on every registered env: tasks drawn from the family on reset,
`max_episode_steps` honoured through `TimeLimit`, `RecordVideo`, SB3 PPO, and a gymnasium vector wrapper on the
batched env."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import sim_tasks
from sim_tasks import BatchedTaskEnv, get_family


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_reset_draws_tasks_from_the_family_and_options_choose_them(env_id):
    env = gym.make(env_id)
    fam = env.unwrapped.family
    train = {t for t in fam.split().train}
    seen = set()
    for i in range(5):
        env.reset(seed=i)
        assert env.unwrapped.task in train
        seen.add(env.unwrapped.task)
    assert len(seen) > 1  # not one fixed task
    env.reset(seed=0, options={"split": "test"})
    assert env.unwrapped.task in set(fam.split().test)
    env.reset(options={"task": fam.default_task()})
    assert env.unwrapped.task == fam.default_task()


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_max_episode_steps_is_honoured(env_id):
    for limit in (None, 7):
        env = gym.make(env_id) if limit is None else gym.make(env_id, max_episode_steps=limit)
        env.reset(seed=0)
        n, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(np.zeros(env.action_space.shape, np.float32))
            n, done = n + 1, terminated or truncated
        want = limit or env.unwrapped.family.episode_steps
        assert n == want or terminated, (env_id, n, want)


@pytest.mark.parametrize("env_id", sim_tasks.ENV_IDS)
def test_record_video_and_sb3_ppo_and_a_vector_wrapper(env_id, tmp_path):
    from gymnasium.wrappers import RecordVideo
    from gymnasium.wrappers.vector import NormalizeObservation
    from stable_baselines3 import PPO

    env = RecordVideo(
        gym.make(env_id, render_mode="rgb_array", width=96, height=64, max_episode_steps=12),
        str(tmp_path / "video"),
        episode_trigger=lambda i: i == 0,
        disable_logger=True,
    )
    env.reset(seed=0)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
    env.close()
    assert [p.suffix for p in (tmp_path / "video").iterdir()] == [".mp4"]

    model = PPO("MlpPolicy", gym.make(env_id), n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    assert model.num_timesteps >= 128

    fam = get_family(env.unwrapped.family.name)
    vec = NormalizeObservation(BatchedTaskEnv(fam, list(fam.split().train[:2]), autoreset_mode=AutoresetMode.NEXT_STEP))
    obs, _ = vec.reset(seed=0)
    for _ in range(5):
        obs, *_ = vec.step(np.zeros((2, *vec.single_action_space.shape), np.float32))
    assert obs.shape == (2, fam.obs_layout.dim) and np.all(np.isfinite(obs))


def test_next_step_autoreset_resets_on_the_step_after_the_end():
    fam = get_family("planar_arm")
    env = BatchedTaskEnv(fam, [fam.default_task()], autoreset_mode=AutoresetMode.NEXT_STEP)
    assert env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    env.reset(seed=0)
    zero = np.zeros((1, 3), np.float32)
    for _ in range(fam.episode_steps - 1):
        env.step(zero)
    _, _, _, truncated, _ = env.step(zero)
    assert truncated[0]  # the episode's last observation, not a reset one
    _, reward, terminated, truncated, _ = env.step(zero)
    assert reward[0] == 0 and not terminated[0] and not truncated[0] and env.sims[0].steps == 0  # the reset step
