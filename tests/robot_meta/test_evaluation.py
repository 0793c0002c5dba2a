"""The evaluation protocol's mechanics: recovery time, trials that carry context, the payload change, reports."""

import json

import numpy as np
import pytest

from deploy.metrics import PRE_WINDOW_S, adaptation_time, change_stats, excess_over, pre_change_window_s, steady_error
from robot_meta.cli import main
from robot_meta.eval_run import aggregate
from robot_meta.evaluation import Method, episodic_returns, evaluate, online_errors
from sim_tasks import get_family
from tests.tiny import PEARL_SETS


def test_adaptation_time_on_a_known_error_trace():
    dt = 0.05  # s; smoothing window 0.5 s = 10 steps, settling 1 s = 20 steps
    pre = np.ones(60)
    post = np.concatenate([np.full(20, 3.0), np.ones(60)])  # back to its steady 1.0 20 steps (1 s) after the change
    trace = np.concatenate([pre, post])[None]
    # the 10-step average reaches <= 1.1 first when at most 0.5 of its 10 samples are 3.0: window start at step 20
    assert adaptation_time(trace, 60, dt, steady=np.array([1.0]), floor=0.0) == [pytest.approx(1.0)]
    stats = change_stats(trace, 60, dt)
    assert stats["pre_error"] == [1.0] and stats["peak_error"] == [3.0]
    never = np.concatenate([pre, np.full(80, 2.0)])[None]
    assert adaptation_time(never, 60, dt, steady=np.array([1.0]), floor=0.0) == [None]
    # The error rises half a second after the change: it is in the band at first but does not stay there, so
    # the time counts to where it settles (windows free of the 3.0 samples start at step 30), not 0 s.
    late = np.concatenate([pre, np.ones(10), np.full(20, 3.0), np.ones(60)])[None]
    assert adaptation_time(late, 60, dt, steady=np.array([1.0]), floor=0.0) == [pytest.approx(1.5)]
    calm = np.concatenate([pre, np.ones(80)])[None]
    assert adaptation_time(calm, 60, dt, steady=np.array([1.0]), floor=0.0) == [0.0]
    # The floor (the tracking error's unit) widens the band: with 0.2 a window may hold one more 3.0 sample
    assert adaptation_time(trace, 60, dt, steady=np.array([1.0]), floor=0.2) == [pytest.approx(0.95)]


def test_the_better_policy_is_not_ranked_slower():
    """The old recovery time compared each policy with its own pre-change error, so the more accurate one got
    the tighter band and 'recovered' later. Measured against each policy's steady error with the new payload,
    the one that settles first is the faster one, whatever its accuracy before the change."""
    dt = 0.05
    # accurate: 0.2 before, 1.0 for 0.5 s after the change, then its steady 0.3
    accurate = np.concatenate([np.full(60, 0.2), np.full(10, 1.0), np.full(70, 0.3)])[None]
    # sloppy: 1.0 before, 1.5 for 1.5 s after the change, then its steady 1.1
    sloppy = np.concatenate([np.full(60, 1.0), np.full(30, 1.5), np.full(50, 1.1)])[None]
    t_acc = adaptation_time(accurate, 60, dt, steady=np.array([0.3]), floor=0.02)[0]
    t_slo = adaptation_time(sloppy, 60, dt, steady=np.array([1.1]), floor=0.02)[0]
    # accurate: band 0.35, a 10-step window holding no 1.0 sample starts at step 10 (0.5 s); sloppy: band 1.23,
    # a window holds at most three 1.5 samples from step 27 (1.35 s)
    assert t_acc == pytest.approx(0.5) and t_slo == pytest.approx(1.35) and t_acc < t_slo
    # the old measure, against each one's own pre-change error, had the accurate policy never recover (its
    # steady 0.3 is above 1.1 x 0.2) and the sloppy one recover after its bump: the ranking reversed
    assert change_stats(accurate, 60, dt)["pre_error"] == [pytest.approx(0.2)]


def test_excess_over_the_oracle_integrates_the_first_seconds_and_averages_the_rest():
    dt = 0.05
    oracle = np.concatenate([np.full(60, 0.2), np.full(80, 0.3)])[None]
    policy = np.concatenate([np.full(60, 0.4), np.full(40, 1.3), np.full(40, 0.5)])[None]  # 2 s at +1.0, then +0.2
    out = excess_over(policy, oracle, 60, dt)
    assert out["excess_first"] == [pytest.approx(2.0)]  # 40 steps x 1.0 x 0.05 s
    assert out["excess_steady"] == [pytest.approx(0.2)]
    assert steady_error(oracle, 60).tolist() == [pytest.approx(0.3)]
    # 1.5 s after the change (the arm's episodes): the window is its first half, the steady part the rest
    short = excess_over(policy[:, :90], oracle[:, :90], 60, dt)
    assert short["excess_first"] == [pytest.approx(15 * 1.0 * dt)] and short["excess_steady"] == [pytest.approx(1.0)]


def test_the_pre_change_error_leaves_out_the_approach_from_the_start():
    # The arm's case: a 0.6 s approach (error 1.0 -> 0.1), steady 0.1, change at 1.5 s, a 0.3 s bump to 0.3.
    dt = 0.02
    approach = np.linspace(1.0, 0.1, 30)
    trace = np.concatenate([approach, np.full(45, 0.1), np.full(15, 0.3), np.full(60, 0.1)])[None]
    assert pre_change_window_s(1.5) == pytest.approx(0.75) and pre_change_window_s(5.0) == PRE_WINDOW_S
    assert change_stats(trace, 75, dt, pre_window_s=1.5)["pre_error"][0] > 0.25  # the approach inflates it
    assert change_stats(trace, 75, dt)["pre_error"] == [pytest.approx(0.1)]
    # against the steady 0.1: the 25-step (0.5 s) average is within 0.11 once it holds at most one 0.3 sample
    assert adaptation_time(trace, 75, dt, steady=np.array([0.1]), floor=0.0) == [pytest.approx(14 * dt)]


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
    # Adapted minus DR in the same task: (-20 + 60, -30 + 50) = (40, 20); a bootstrap over two rows can only
    # draw means of 20, 30 or 40.
    vs_dr = s["vs_dr"]["return"]
    assert vs_dr["mean"] == pytest.approx(30) and vs_dr["n"] == 2
    assert 20 <= vs_dr["ci95"][0] < 30 < vs_dr["ci95"][1] <= 40


def test_vs_dr_pairs_online_steady_errors_and_the_gap_needs_an_oracle_reliably_above_dr():
    """The oracle above DR on the mean by a hair but below it on one task of two: the gap ratio would be a huge
    number; it is undefined, and the paired comparison with DR (returns and online steady errors) stands."""

    def runs(steady: list[float]) -> dict:  # three online runs as `evaluate` records them
        return {
            "errors": [[x] * 4 for x in steady],
            **{k: list(steady) for k in ("pre_error", "post_error", "peak_error", "steady_error")},
            "adaptation_time_s": [0.1, 0.2, None],
        }

    online = {"pearl": runs([0.2, 0.4, 0.3]), "dr": runs([0.5, 0.5, 0.5]), "oracle": runs([0.1, 0.1, 0.1])}
    per_seed = [
        {
            "seed": 0,
            "run_dir": "r",
            "regions": [{"payload_mass": "extrapolation"}] * 2,
            "episodic": {"pearl": [[-10.0], [-12.0]], "dr": [[-50.0], [-40.0]], "oracle": [[-60.0], [-29.9]]},
            "online": online,
            "online_change_time_s": 0.1,
        }
    ]
    report = aggregate(per_seed, {"algo": "pearl", "task": "planar_runner"}, episodes=1, prior_episodes=0, scratch_tasks=0)
    s = report["summary"]
    # the median adaptation time over the runs that settled (0.1, 0.2), with its bootstrap interval: the resamples'
    # medians run from 0.1 to 0.2, and one that drew only the never-settled run has none (counts as never)
    adapt = report["online"]["pearl"]["adaptation_time_s"]
    assert adapt["median"] == pytest.approx(0.15) and adapt["median_ci95"] == [0.1, None]
    assert s["oracle"] > s["dr"] and s["gap_closed_ci95"] is None
    assert s["gap_closed"] is None and "not reliably above" in s["warning"]
    assert s["payload_extrapolation"]["oracle"] > s["payload_extrapolation"]["dr"]
    assert s["payload_extrapolation"]["gap_closed"] is None  # the region's ratio is undefined the same way
    assert s["vs_dr"]["return"]["mean"] == pytest.approx(34.0)
    steady = s["vs_dr"]["steady_error"]
    assert steady["mean"] == pytest.approx(-0.2) and steady["n"] == 3
    lo, hi = steady["ci95"]  # resampled means of (-0.3, -0.1, -0.2) lie in [-0.3, -0.1]
    assert -0.3 - 1e-12 <= lo < -0.2 < hi <= -0.1 + 1e-12


def _eval_with_baselines(run, *extra: str) -> int:
    """`robot-meta eval` with tiny baselines (64 env steps) and 2-episode trials, JSON on stdout."""
    return main(
        [
            "eval",
            str(run),
            "--baselines",
            "--episodes",
            "2",
            "--baseline-steps",
            "64",
            "--baseline-algo",
            "sac",
            *extra,
            "--json",
        ]
    )


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
    online = out["online"]["pearl"]
    assert online["adapted"].endswith(f"/{online['steady_error']['n']}") and "excess_first" in online
    assert "excess_first" not in out["online"]["oracle"]  # the reference itself
    assert np.isfinite(out["belief"]["payload_r2"]["mean"]) and out["belief"]["belief_dim"] == 5  # PEARL's latent
    by_param = out["belief"]["r2_by_param"]  # every hidden parameter probed, the payload's the same number
    assert list(by_param) == [p.name for p in get_family("planar_arm").hidden_params]
    assert by_param["payload_mass"] == pytest.approx(out["belief"]["payload_r2"]["mean"])
    settle = out["belief"]["settle_time_s"]  # the estimate read through the online protocol's change
    assert settle["settled"].endswith(f"/{online['steady_error']['n']}")
    assert len(out["belief"]["payload_estimate_by_seed"][0]) == get_family("planar_arm").episode_steps
    # the plot's reference lines: the online runs change to payloads heavier than any in training
    assert out["belief"]["payload_train_range"] == list(get_family("planar_arm").spec_of("payload_mass").train)
    assert out["belief"]["payload_after_change_by_seed"][0] > out["belief"]["payload_train_range"][1]
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
    assert main([*args, "--baseline-steps", "64", "--baseline-algo", "sac", "--json"]) == 0
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


def test_the_belief_probe_recovers_a_payload_that_is_linearly_encoded_and_not_noise():
    from robot_meta.evaluation import _cv_r2

    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(20), 3)
    y = rng.uniform(0, 10, 20)[groups]
    encoded = np.stack([0.3 * y + 0.01 * rng.normal(size=60), rng.normal(size=60)], 1)
    assert _cv_r2(encoded, y, groups, folds=5) > 0.95
    assert _cv_r2(rng.normal(size=(60, 2)), y, groups, folds=5) < 0.2


def test_settle_time_is_when_the_payload_estimate_stays_inside_the_band():
    """Hand-computed traces, change at 1.0 s, dt 0.1 s (step 10): within 20% of 5 kg is 4..6 kg."""
    from deploy.metrics import settle_times

    flat = np.zeros(30)
    fast = flat.copy()
    fast[12:] = 5.1  # inside from step 12: 0.2 s after the change
    bouncing = fast.copy()
    bouncing[20] = 3.0  # leaves the band once at step 20: settled only from step 21, 1.1 s after
    never = fast.copy()
    never[-1] = 7.0  # outside at the end: not settled
    already = np.full(30, 5.0)  # inside from before the change: 0 s
    got = settle_times(np.stack([fast, bouncing, never, already]), [5.0] * 4, 1.0, 0.1, smooth_s=0.0)
    assert got[0] == pytest.approx(0.2) and got[1] == pytest.approx(1.1) and np.isnan(got[2]) and got[3] == 0.0
    # A belief that swings with the gait (2 and 8 kg in turn) settles on its trailing mean, never raw
    swing = flat.copy()
    swing[10:] = 5.0 - 3.0 * (-1.0) ** np.arange(20)
    raw, mean2 = (settle_times(swing[None], [5.0], 1.0, 0.1, smooth_s=s)[0] for s in (0.0, 0.2))
    assert np.isnan(raw) and mean2 == pytest.approx(0.1)  # step 10: mean of 0 and 2 kg; then (2 + 8) / 2
    # The default reads the 0.5 s trailing mean: `fast` enters the band when 4 of its last 5 steps are 5.1 kg
    assert settle_times(fast[None], [5.0], 1.0, 0.1)[0] == pytest.approx(0.5)


@pytest.mark.parametrize("name", ["planar_runner", "planar_arm"])
def test_the_probe_tasks_are_held_out_inside_the_training_range_and_fixed(name):
    """Issue 16's R² is read "on held-out tasks inside the training range": none is a training task, every
    parameter lies in its training range, and every method is probed on the same tasks."""
    from robot_meta.evaluation import PROBE_TASKS, probe_tasks

    family = get_family(name)
    tasks = probe_tasks(family)
    assert len(tasks) == PROBE_TASKS and len(set(tasks)) == PROBE_TASKS
    assert not set(tasks) & set(family.split().train)
    for p in family.params:
        lo, hi = p.train
        assert all(lo <= getattr(t, p.name) <= hi for t in tasks), p.name
    masses, (lo, hi) = [t.payload_mass for t in tasks], family.spec_of("payload_mass").train
    assert max(masses) - min(masses) > 0.5 * (hi - lo)  # the probe sees the payload vary
    assert probe_tasks(family) == tasks and probe_tasks(family, 7) == tasks[:7]
