"""Replay buffer semantics and the collector's episode bookkeeping."""

import numpy as np
import pytest

from robot_meta.buffers import MultiTaskReplayBuffer
from robot_meta.collector import CollectorState, collect
from sim_tasks import BatchedTaskEnv, get_family


def _add(buf, task, start, n):
    v = np.arange(start, start + n, dtype=np.float32)[:, None]
    buf.add(task, np.repeat(v, 2, 1), v, v, np.repeat(v, 2, 1), np.zeros_like(v))


def test_ring_buffer_keeps_the_newest_and_tasks_are_separate():
    buf = MultiTaskReplayBuffer(n_tasks=2, capacity=5, obs_dim=2, act_dim=1)
    _add(buf, 0, 0, 3)
    _add(buf, 0, 3, 4)  # 7 added, capacity 5 -> 2..6 kept
    assert buf.size(0) == 5 and buf.size(1) == 0
    assert sorted(buf.recent(0, 5).action[0, :, 0].tolist()) == [2, 3, 4, 5, 6]
    assert buf.recent(0, 2).action[0, :, 0].tolist() == [5, 6]
    sample = buf.sample([0, 0, 0], 50, np.random.default_rng(0))
    assert sample.obs.shape == (3, 50, 2) and set(sample.action.ravel()) <= {2, 3, 4, 5, 6}
    with pytest.raises(ValueError, match="task 1 has no transitions"):
        buf.sample([1], 1, np.random.default_rng(0))
    buf.clear(0)
    assert buf.size(0) == 0


def test_buffer_state_round_trip():
    buf = MultiTaskReplayBuffer(3, 8, 2, 1)
    _add(buf, 0, 0, 11)
    _add(buf, 2, 100, 3)
    again = MultiTaskReplayBuffer(3, 8, 2, 1)
    again.load_state_dict(buf.state_dict())
    for t in range(3):
        assert again.size(t) == buf.size(t)
    rng1, rng2 = np.random.default_rng(5), np.random.default_rng(5)
    a, b = buf.sample([0, 2], 20, rng1), again.sample([0, 2], 20, rng2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    _add(buf, 0, 50, 2)
    _add(again, 0, 50, 2)
    np.testing.assert_array_equal(buf.recent(0, 8).action, again.recent(0, 8).action)


class CountingActor:
    def __init__(self, n):
        self.resets = np.zeros(n, int)
        self.seen = 0

    def reset(self, mask):
        self.resets += mask

    def act(self, obs):
        return np.zeros((len(obs), 3))

    def observe(self, obs, action, reward, next_obs, done):
        self.seen += 1


def test_collector_marks_episode_starts_and_keeps_final_observations():
    fam = get_family("planar_arm")
    env = BatchedTaskEnv(fam, list(fam.split().train[:2]), seed=0)
    state = CollectorState(env)
    state.reset(seed=0)
    actor = CountingActor(2)
    steps = fam.episode_steps + 10
    roll = collect(state, actor, steps)
    assert roll.obs.shape == (steps, 2, fam.obs_layout.dim)
    assert roll.episode_start[0].all() and roll.episode_start[fam.episode_steps].all()
    assert actor.resets.tolist() == [2, 2] and actor.seen == steps
    last = fam.episode_steps - 1
    assert roll.truncated[last].all()
    # the stored next_obs at the end is the episode's final obs, not the next episode's first
    assert not np.array_equal(roll.next_obs[last], roll.obs[last + 1])
    np.testing.assert_array_equal(roll.next_obs[last - 1], roll.obs[last])
    rets = roll.episode_returns()
    assert len(rets[0]) == 1 and rets[0][0] == pytest.approx(float(roll.reward[: fam.episode_steps, 0].sum()), rel=1e-5)
    # episodes continue across calls
    more = collect(state, actor, 5)
    assert not more.episode_start[0].any()


def test_buffer_grows_on_demand_and_matches_a_plain_list_across_the_wrap():
    buf = MultiTaskReplayBuffer(1, 3000, 1, 1)
    ref: list[float] = []
    rng = np.random.default_rng(0)
    for _ in range(40):
        n = int(rng.integers(1, 300))
        v = np.arange(len(ref), len(ref) + n, dtype=np.float32)[:, None]
        buf.add(0, v, v, v, v, v)
        ref.extend(v[:, 0].tolist())
        np.testing.assert_array_equal(buf.recent(0, 3000).obs[0, :, 0], ref[-3000:])
    assert len(ref) > 3000 and buf.size(0) == 3000
    assert len(MultiTaskReplayBuffer(2, 1_000_000, 40, 10)._data) == 2  # nothing allocated before the first add


def test_windows_are_consecutive_transitions_in_the_order_added_across_the_wrap():
    """PEARL's context_source="windows": each window is a run of consecutive transitions of one task, as the
    online mode's sliding window is, also where the ring buffer has wrapped."""
    buf = MultiTaskReplayBuffer(2, 100, 1, 1)
    for task, count in ((0, 250), (1, 40)):  # task 0 wraps twice; task 1 holds fewer than the window
        v = np.arange(count, dtype=np.float32)[:, None] + 1000 * task
        buf.add(task, v, v, v, v, v)
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        w = buf.sample_windows([0, 1], 64, rng).obs[..., 0]
        assert w.shape == (2, 40)  # the shortest task's size bounds the window
        assert np.all(np.diff(w, axis=1) == 1)  # consecutive, oldest first
        assert w[0, 0] >= 150 and w[0, -1] <= 249 and 1000 <= w[1, 0] and w[1, -1] <= 1039  # only what is stored
        starts.add(float(w[0, 0]))
    assert len(starts) > 10  # the start is drawn, not fixed
    with pytest.raises(ValueError, match="task 1 has no transitions"):
        MultiTaskReplayBuffer(2, 10, 1, 1).sample_windows([1], 4, rng)
