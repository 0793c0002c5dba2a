"""The evaluation protocol's mechanics: recovery time, trials that carry context, the payload change, reports."""

import json

import numpy as np
import pytest

from deploy.metrics import PRE_WINDOW_S, pre_change_window_s, recovery_stats
from robot_meta.cli import main
from robot_meta.eval_run import aggregate
from robot_meta.evaluation import Method, episodic_returns, evaluate, online_errors
from sim_tasks import get_family
from tests.tiny import PEARL_SETS


def test_recovery_time_on_a_known_error_trace():
    dt = 0.05  # s; smoothing window 0.5 s = 10 steps, pre window 2 s = 40 steps
    pre = np.ones(60)
    post = np.concatenate([np.full(20, 3.0), np.ones(60)])  # back to the pre-change level 20 steps (1 s) after the change
    stats = recovery_stats(np.concatenate([pre, post])[None], change_step=60, ctrl_dt=dt)
    # the 10-step average reaches <= 1.1 first when at most 0.5 of its 10 samples are 3.0 -> window start at step 20
    assert stats["pre_error"] == [1.0]
    assert stats["recovery_time_s"] == [pytest.approx(1.0)]
    assert stats["peak_error"] == [3.0]
    never = recovery_stats(np.concatenate([pre, np.full(80, 2.0)])[None], change_step=60, ctrl_dt=dt)
    assert never["recovery_time_s"] == [None]
    # The error rises half a second after the change: recovery is counted from the change to the return into
    # the band after the rise (windows free of the 3.0 samples start at step 30), not 0 s.
    late = np.concatenate([np.ones(10), np.full(20, 3.0), np.ones(60)])
    assert recovery_stats(np.concatenate([pre, late])[None], 60, dt)["recovery_time_s"] == [pytest.approx(1.5)]
    calm = recovery_stats(np.concatenate([pre, np.ones(80)])[None], 60, dt)
    assert calm["recovery_time_s"] == [0.0]


def test_the_pre_change_error_leaves_out_the_approach_from_the_start():
    # The arm's case: a 0.6 s approach (error 1.0 -> 0.1), steady 0.1, change at 1.5 s, a 0.3 s bump to 0.3.
    dt = 0.02
    approach = np.linspace(1.0, 0.1, 30)
    trace = np.concatenate([approach, np.full(45, 0.1), np.full(15, 0.3), np.full(60, 0.1)])[None]
    assert pre_change_window_s(1.5) == pytest.approx(0.75) and pre_change_window_s(5.0) == PRE_WINDOW_S
    whole = recovery_stats(trace, 75, dt, pre_window_s=1.5)
    assert whole["pre_error"][0] > 0.25 and whole["recovery_time_s"] == [0.0]  # the bump hides in the approach
    steady = recovery_stats(trace, 75, dt, pre_window_s=pre_change_window_s(1.5))
    assert steady["pre_error"] == [pytest.approx(0.1)]
    # 25-step (0.5 s) average back within 0.11 once it holds at most one 0.3 sample: window start at step 14
    assert steady["recovery_time_s"] == [pytest.approx(14 * dt)]


class RecordingActor:
    def __init__(self, env):
        self.env, self.resets, self.payloads = env, 0, []

    def reset(self, mask):
        self.resets += int(mask.sum())

    def act(self, obs):
        self.payloads.append([s.payload_mass for s in self.env.sims])
        return np.zeros((len(obs), self.env.single_action_space.shape[0]))

    def observe(self, *args):
        pass


def test_episodic_trial_is_one_actor_across_k_episodes():
    fam = get_family("planar_arm")
    tasks = list(fam.split().test[:3])
    made = []

    def factory(mode, env):
        made.append(RecordingActor(env))
        return made[-1]

    returns = episodic_returns(Method("zero", factory), fam, tasks, episodes=2, seed=0)
    assert returns.shape == (3, 2)
    assert len(made) == 1 and made[0].resets == 3 * 2  # one trial: the actor saw every episode start
    per_task = episodic_returns(Method("zero", factory, per_task=True), fam, tasks, episodes=2, seed=0)
    np.testing.assert_allclose(per_task, returns)  # same seed, same tasks: one by one equals batched


def test_online_episode_switches_payload_at_the_change_time():
    fam = get_family("planar_arm")
    task = fam.split().test[0].replace(payload_mass=2.0)
    made = []

    def factory(mode, env):
        made.append(RecordingActor(env))
        return made[-1]

    errors = online_errors(Method("zero", factory), fam, [task], change_time_s=1.0, seed=0)
    assert errors.shape == (1, fam.episode_steps)
    masses = np.array(made[0].payloads)[:, 0]  # read at act(), i.e. before the step it acts in
    change = round(1.0 / fam.ctrl_dt)  # the change applies at the start of this step, before its physics
    assert (masses[: change + 1] == 0.0).all() and (masses[change + 1 :] == 2.0).all()


def test_repeats_average_fresh_noise_per_task():
    fam = get_family("planar_runner")
    tasks = list(fam.split().test[:2])
    online = [t for t in fam.split().test if t.payload_mass > 0][:2]
    zero = Method("zero", lambda mode, env: RecordingActor(env))
    out = evaluate([zero], fam, tasks, episodes=1, seed=3, online_tasks=online, repeats=2)
    runs = [episodic_returns(zero, fam, tasks, 1, seed=s) for s in (3, 4)]
    assert not np.allclose(runs[0], runs[1])  # the second repeat has its own start and sensor noise
    np.testing.assert_allclose(out["episodic"]["zero"], (runs[0] + runs[1]) / 2)
    errors = np.array(out["online"]["zero"]["errors"])
    assert errors.shape == (2 * len(online), fam.episode_steps)  # one row per (repeat, task), repeat-major
    np.testing.assert_allclose(errors[len(online) :], online_errors(zero, fam, online, out["online_change_time_s"], 4))
    with pytest.raises(ValueError, match="repeats=0"):
        evaluate([zero], fam, tasks, 1, 0, repeats=0)


def test_gap_closed_arithmetic():
    regions = [{"payload_mass": "extrapolation"}, {}]
    per_seed = [
        {
            "seed": 0,
            "run_dir": "r",
            "regions": regions,
            "episodic": {
                "pearl": [[-50, -20], [-40, -30]],
                "prior_only": [[-50, -45], [-40, -36]],
                "dr": [[-60, -60], [-50, -50]],
                "oracle": [[-10, -10], [-20, -20]],
            },
        }
    ]
    report = aggregate(per_seed, {"algo": "pearl", "task": "planar_runner"}, episodes=2, prior_episodes=1, scratch_tasks=0)
    s = report["summary"]
    assert s["adapted"] == -25 and s["dr"] == -55 and s["oracle"] == -15
    assert s["gap_closed"] == pytest.approx(30 / 40)
    assert s["payload_extrapolation"]["gap_closed"] == pytest.approx((-20 + 60) / (-10 + 60))
    lo, hi = s["gap_closed_ci95"]
    assert lo <= s["gap_closed"] <= hi and hi - lo > 0.1  # two tasks: a wide interval around the estimate
    # Paired rise from episode 1 to K in the same task: (+30, +10) -> mean 20, s.e. std([30, 10], ddof=1)/sqrt(2)
    assert s["rise"]["mean"] == pytest.approx(20) and s["rise"]["se"] == pytest.approx(10.0)
    # Episode K with context minus prior-only in the same task: (+25, +6) -> mean 15.5, s.e. 9.5
    assert s["vs_prior_only"]["mean"] == pytest.approx(15.5) and s["vs_prior_only"]["se"] == pytest.approx(9.5)
    assert report["episodic"]["prior_only"]["rise"]["mean"] == pytest.approx(4.5)


def _eval_with_baselines(run, *extra: str) -> int:
    """`robot-meta eval` with tiny baselines (64 env steps) and 2-episode trials, JSON on stdout."""
    return main(["eval", str(run), "--baselines", "--episodes", "2", "--baseline-steps", "64", *extra, "--json"])


def test_eval_cli_end_to_end_with_baselines(tmp_path, capsys):
    run = tmp_path / "run"
    sets = PEARL_SETS
    args = ["train", "--algo", "pearl", "--task", "planar_arm", "--out", str(run), "--steps", "200", "--json"]
    assert main(args + [a for s in sets for a in ("--set", s)]) == 0
    capsys.readouterr()
    assert _eval_with_baselines(run, "--scratch-tasks", "1", "--scratch-multipliers", "1,2", "--repeats", "2") == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["episodic"]) == {"pearl", "prior_only", "dr", "oracle", "scratch_1x", "scratch_100x"}
    assert len(out["episodic"]["pearl"]["by_episode"]["mean"]) == 2
    assert set(out["online"]) == {"pearl", "prior_only", "dr", "oracle"}
    assert "gap_closed" in out["summary"]
    assert (run / "eval.json").exists() and (run / "eval.png").stat().st_size > 20_000
    assert (run / "baselines" / "dr.pt").exists() and (run / "baselines" / "scratch_1x_task00.pt").exists()
    assert out["repeats"] == 2 and out["summary"]["rise"]["n"] == out["n_test_tasks"]
    assert main(["eval", str(tmp_path / "nope")]) == 2
    assert main(["eval", str(run), "--repeats", "0"]) == 2


def test_eval_without_scratch_tasks(tmp_path, capsys):
    run = tmp_path / "run"
    sets = PEARL_SETS
    assert (
        main(
            [
                "train",
                "--algo",
                "pearl",
                "--task",
                "planar_arm",
                "--out",
                str(run),
                "--steps",
                "200",
                "--json",
                *(a for s in sets for a in ("--set", s)),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert _eval_with_baselines(run, "--scratch-tasks", "0", "--repeats", "1") == 0
    assert set(json.loads(capsys.readouterr().out)["episodic"]) == {"pearl", "prior_only", "dr", "oracle"}
    # One shared cache: the second evaluation loads the baselines instead of training them again.
    shared = tmp_path / "shared"
    shared.mkdir()
    for name in ("dr.pt", "oracle.pt"):
        (shared / name).write_bytes((run / "baselines" / name).read_bytes())
    stamps = {p.name: p.stat().st_mtime_ns for p in shared.iterdir()}
    args = ["eval", str(run), "--baselines", "--baseline-dir", str(shared), "--episodes", "2", "--scratch-tasks", "0"]
    assert main([*args, "--baseline-steps", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {p.name: p.stat().st_mtime_ns for p in shared.iterdir()} == stamps
    assert "oracle" in out["episodic"]


def test_gap_is_undefined_when_the_oracle_is_not_above_dr():
    per_seed = [
        {"seed": 0, "run_dir": "r", "regions": [{}], "episodic": {"pearl": [[-20.0]], "dr": [[-50.0]], "oracle": [[-60.0]]}}
    ]
    s = aggregate(per_seed, {"algo": "pearl", "task": "planar_runner"}, episodes=1, prior_episodes=0, scratch_tasks=0)[
        "summary"
    ]
    assert s["gap_closed"] is None and "undefined" in s["warning"]


def test_eval_text_prints_the_rise_and_the_gain_over_prior_only_without_baselines():
    from robot_meta.cli.training import eval_text

    def entry(first, last, **extra):
        return {"by_episode": {"mean": [first, last]}, "last_episode": {"mean": last, "std": 1.0}, **extra}

    report = {
        "algo": "rl2",
        "task": "planar_arm_sparse",
        "n_test_tasks": 4,
        "seeds": [0],
        "episodes": 2,
        "episodic": {
            "rl2": entry(100.0, 108.5, rise={"mean": 8.5, "se": 2.1, "n": 4}, vs_prior_only={"mean": 9.3, "se": 2.0, "n": 4}),
            "prior_only": entry(100.0, 99.2, rise={"mean": -0.8, "se": 1.0, "n": 4}),
        },
    }
    text = eval_text(report, {"json": "e.json", "plot": "e.png"})
    assert "in-context rise, episode 2 - episode 1 in the same task: +8.5 ± 2.1 (s.e., n=4)" in text
    assert "minus prior-only, same task and starts: +9.3 ± 2.0" in text
    assert "gap closed" not in text
