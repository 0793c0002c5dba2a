"""Baselines: the oracle's input encoding and the cache that must not mix encodings."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from robot_meta.baselines import ORACLE_INPUT, BaselineConfig, SB3Actor, TaskDistributionEnv, oracle_features
from robot_meta.eval_run import ensure_population_baseline
from sim_tasks import BatchedTaskEnv, get_family

TINY = BaselineConfig(steps=64, n_envs=2, hidden=(8,), batch_size=16, learning_starts=16, buffer_size=256)


def test_oracle_features_map_the_training_range_to_unit_interval():
    fam = get_family("planar_runner")
    lo = np.array([p.train[0] for p in fam.hidden_params])  # the oracle is told the hidden ones; commands are observed
    hi = np.array([p.train[1] for p in fam.hidden_params])
    np.testing.assert_allclose(oracle_features(fam, lo), -1.0, atol=1e-6)
    np.testing.assert_allclose(oracle_features(fam, hi), 1.0, atol=1e-6)
    heavy = fam.task_vector(fam.split().test[0]).copy()
    heavy[0] = 9.0  # kg, past the 6 kg training maximum: beyond 1, not clipped
    assert oracle_features(fam, heavy)[0] > 1.0
    assert oracle_features(fam, np.stack([lo, hi])).shape == (2, len(fam.hidden_params))


def test_oracle_sees_the_same_features_in_training_and_in_evaluation():
    fam = get_family("planar_runner")
    task = fam.split().test[0]
    env = TaskDistributionEnv(fam, [task], seed=0, oracle=True)
    obs, _ = env.reset(seed=0)
    venv = BatchedTaskEnv(fam, [task], seed=0)
    seen = []

    class Spy:
        def predict(self, x):
            seen.append(x)
            return np.zeros((x.shape[0], venv.single_action_space.shape[0]), np.float32)

    SB3Actor(Spy(), venv).act(np.zeros((1, fam.obs_layout.dim), np.float32))
    np.testing.assert_allclose(seen[0][0, fam.obs_layout.dim :], obs[fam.obs_layout.dim :], atol=1e-6)


def test_an_oracle_cached_with_raw_vectors_is_retrained(tmp_path):
    import torch

    fam = get_family("planar_runner")
    tasks = list(fam.split().train)[:2]
    ensure_population_baseline(tmp_path / "baselines", "oracle", fam, tasks, TINY, seed=0, quiet=True)
    path = tmp_path / "baselines" / "oracle.pt"
    state = torch.load(path, weights_only=True)
    assert ORACLE_INPUT in state["meta"]
    state["meta"] = state["meta"].replace(f', "oracle_input": "{ORACLE_INPUT}"', "")
    torch.save(state, path)
    before = path.stat().st_mtime_ns
    ensure_population_baseline(tmp_path / "baselines", "oracle", fam, tasks, TINY, seed=0, quiet=True)
    assert path.stat().st_mtime_ns != before and ORACLE_INPUT in torch.load(path, weights_only=True)["meta"]


def test_a_cache_trained_without_normalization_is_retrained(tmp_path):
    fam = get_family("planar_arm")
    tasks = list(fam.split().train)[:2]
    raw = ensure_population_baseline(tmp_path, "dr", fam, tasks, replace(TINY, normalize=False), seed=0, quiet=True)
    assert raw.normalizer is None
    again = ensure_population_baseline(tmp_path, "dr", fam, tasks, TINY, seed=0, quiet=True)
    assert again.normalizer is not None
    assert ensure_population_baseline(tmp_path, "dr", fam, tasks, TINY, seed=0, quiet=True).normalizer is not None


def test_sensitivity_measures_dr_and_oracle_across_payloads(tiny_runs, tmp_path, capsys):
    """`robot-meta sensitivity` on tiny baselines: the grid, the report, the plot and the verdict's arithmetic
    (the numbers of tiny policies mean nothing; the real ones are in docs/commands.md)."""
    from robot_meta.cli import main
    from robot_meta.sensitivity import REQUIRED_RATIO, command_grid, payload_grid, verdict

    fam = get_family("planar_runner")
    assert payload_grid(fam)[0] == 0.0 and payload_grid(fam)[-1] == 10.0  # the heaviest held-out payload
    assert command_grid(fam) == [{"target_velocity": 1.875}, {"target_velocity": 2.625}]  # a quarter in from 1.5 and 3
    v = verdict([0.0, 10.0], np.array([0.2, 0.6]), np.array([0.2, 0.3]))
    assert v["ratio_at_heaviest"] == 2.0 and v["passes"] and REQUIRED_RATIO == 1.5
    weak = verdict([0.0, 10.0], np.array([0.2, 0.6]), np.array([0.3, 0.3]))  # the oracle, an upper bound, worse at 0 kg
    assert not weak["passes"] and weak["status"] == "inconclusive"
    assert verdict([0.0, 10.0], np.array([0.2, 0.4]), np.array([0.2, 0.3]))["status"] == "fails"  # 1.33x < 1.5x
    out = tmp_path / "s.json"
    args = ["sensitivity", str(tiny_runs / "pearl"), "--seeds", "1", "--baseline-steps", "64"]
    assert main([*args, "--baseline-algo", "sac", "--baseline-dir", str(tmp_path / "b"), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["steady_error"]["dr"]) == 6 and len(report["steady_error"]["oracle"][0]) == 2
    assert report["baselines"]["dr"]["algo"] == "sac" and report["baselines"]["dr"]["steps"] == 64
    assert report["baselines"]["oracle"]["wall_s"] > 0.0
    assert out.exists() and out.with_suffix(".png").stat().st_size > 5_000
    assert isinstance(report["verdict"]["passes"], bool) and report["baseline_algo"] == "sac"
    assert report["error_unit"] == "m/s" and get_family("planar_arm").error_unit == "m"  # the axis label's unit
    assert report["nominal"]["slope"] == 8.0 and "payload_mass" not in report["nominal"]  # measured uphill
    assert "target_velocity" not in report["nominal"]  # a command, set by the grid
    # the same with PPO baselines (the default: it beat SAC wherever measured), cached beside SAC's under their own names
    ppo = [*args, "--baseline-dir", str(tmp_path / "b"), "--out", str(tmp_path / "p.json")]
    assert main([*ppo, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["baseline_algo"] == "ppo"
    assert (tmp_path / "b" / "dr_ppo.pt").exists() and (tmp_path / "b" / "oracle_ppo.pt").exists()


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_a_baseline_carries_its_observation_statistics_into_the_cache_and_the_graph(algo, tmp_path):
    """Normalized training: the frozen statistics are part of the policy; loading the cache and the torch graph
    (what export writes to ONNX) give the same action as the trained policy on raw observations."""
    import torch

    from robot_meta.baselines import Baseline, load_policy, save_policy, train_model

    fam = get_family("planar_arm")
    tasks = list(fam.split().train)[:2]
    cfg = replace(TINY, algo=algo, ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)
    trained = train_model(fam, tasks, cfg, seed=0, oracle=False)
    assert isinstance(trained, Baseline) and trained.normalizer is not None
    assert np.any(trained.normalizer.mean != 0.0) and np.all(trained.normalizer.var > 0.0)
    save_policy(trained, tmp_path / "dr.pt", {"config": {**cfg.__dict__, "hidden": list(cfg.hidden)}})
    loaded = load_policy(tmp_path / "dr.pt", fam, tasks, cfg, oracle=False)
    np.testing.assert_array_equal(loaded.normalizer.mean, trained.normalizer.mean)
    obs = np.random.default_rng(0).normal(size=(5, fam.obs_layout.dim)).astype(np.float32) * 3.0
    np.testing.assert_allclose(loaded.predict(obs), trained.predict(obs), atol=1e-6)
    with torch.no_grad():
        graph = loaded.graph()(torch.as_tensor(obs)).numpy()
    np.testing.assert_allclose(graph, trained.predict(obs), atol=1e-5)
    raw = Baseline(trained.model, None)  # the same weights without the statistics act differently
    assert not np.allclose(raw.predict(obs), trained.predict(obs), atol=1e-4)


def test_export_takes_the_cached_ppo_dr_and_refuses_to_guess_between_two(tmp_path, tiny_runs):
    import shutil

    from robot_meta.export import ExportError, export_baseline

    run = tmp_path / "run"
    shutil.copytree(tiny_runs / "pearl", run, ignore=shutil.ignore_patterns("baselines"))
    fam = get_family(json.loads((run / "config.json").read_text())["task"])
    cfg = replace(TINY, algo="ppo", ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)
    ensure_population_baseline(run / "baselines", "dr", fam, list(fam.split().train)[:2], cfg, seed=0, quiet=True)
    assert (run / "baselines" / "dr_ppo.pt").exists()
    manifest = export_baseline(run, "dr", tmp_path / "out")  # parity-checked through onnxruntime inside
    assert manifest.adaptation.kind == "none"
    ensure_population_baseline(run / "baselines", "dr", fam, list(fam.split().train)[:2], TINY, seed=0, quiet=True)
    with pytest.raises(ExportError, match="both a SAC and a PPO"):
        export_baseline(run, "dr", tmp_path / "out2")
    assert export_baseline(run, "dr", tmp_path / "out3", algo="sac").adaptation.kind == "none"
    shutil.move(run / "baselines", tmp_path / "cache")  # a cache elsewhere (eval or sensitivity --baseline-dir)
    with pytest.raises(ExportError, match="does not exist"):
        export_baseline(run, "dr", tmp_path / "out4", algo="ppo")
    moved = export_baseline(run, "dr", tmp_path / "out4", algo="ppo", cache_dir=tmp_path / "cache")
    assert moved.trained["source"] == str(tmp_path / "cache" / "dr_ppo.pt")
    from robot_meta.cli import main

    assert main(["export", str(run), "--out", str(tmp_path / "out5"), "--baseline-dir", str(tmp_path / "cache")]) == 2
    assert not (tmp_path / "out5").exists()  # --baseline-dir without --baseline: refused, nothing written


def test_the_oracle_trains_over_the_evaluated_ranges_held_out_regions_included():
    from robot_meta.eval_run import baseline_tasks
    from robot_meta.evaluation import ORACLE_TRAIN_TASKS

    fam = get_family("planar_arm")
    mass = fam.spec_of("payload_mass")
    assert mass.evaluated == (0.0, 2.5) and fam.spec_of("motor_strength").evaluated == (0.9, 1.1)  # no held-out region
    tasks = baseline_tasks(fam, "oracle")
    assert len(tasks) == ORACLE_TRAIN_TASKS and tasks == baseline_tasks(fam, "oracle")  # a fixed draw
    assert all(0.9 <= t.motor_strength <= 1.1 and t.action_latency <= 1 and t.payload_mass <= 2.5 for t in tasks)
    assert max(t.payload_mass for t in tasks) > 2.3  # held-out payloads, heavier than any DR trains on
    assert all(fam.spec_of("goal_x").train[0] <= t.goal_x <= fam.spec_of("goal_x").train[1] for t in tasks)  # commands
    assert baseline_tasks(fam, "dr") == list(fam.split().train)


def test_a_cache_trained_for_another_family_or_other_tasks_is_retrained(tmp_path, capsys):
    """The cache records what it was trained for (family, parameter declarations, tasks): a DR trained for the
    runner is not measured as the arm's, and a family whose ranges changed retrains (tenth session)."""
    from robot_meta.baselines import read_meta
    from robot_meta.eval_run import tasks_fingerprint

    arm, runner = get_family("planar_arm"), get_family("planar_runner")
    ensure_population_baseline(tmp_path, "dr", runner, list(runner.split().train)[:2], TINY, seed=0, quiet=True)
    path = tmp_path / "dr.pt"
    meta = read_meta(path)
    assert meta["family"] == "planar_runner" and meta["tasks_sha256"] == tasks_fingerprint(
        runner, list(runner.split().train)[:2]
    )
    before = path.stat().st_mtime_ns
    arm_tasks = list(arm.split().train)[:2]
    model = ensure_population_baseline(tmp_path, "dr", arm, arm_tasks, TINY, seed=0)
    assert "trained for 'planar_runner'" in capsys.readouterr().err and path.stat().st_mtime_ns != before
    assert model.meta["family"] == "planar_arm"
    after = path.stat().st_mtime_ns
    ensure_population_baseline(tmp_path, "dr", arm, arm_tasks, TINY, seed=0, quiet=True)  # the same: kept
    assert path.stat().st_mtime_ns == after
    ensure_population_baseline(tmp_path, "dr", arm, list(arm.split().train)[2:4], TINY, seed=0, quiet=True)
    assert path.stat().st_mtime_ns != after  # other tasks of the same family: retrained


def test_the_oracle_may_train_longer_and_a_shorter_cache_is_retrained(tmp_path):
    fam = get_family("planar_arm")
    cfg = replace(TINY, oracle_steps=96)
    oracle = ensure_population_baseline(tmp_path, "oracle", fam, list(fam.split().train)[:2], TINY, seed=0, quiet=True)
    assert oracle.meta["steps"] == 64
    longer = ensure_population_baseline(tmp_path, "oracle", fam, list(fam.split().train)[:2], cfg, seed=0, quiet=True)
    assert longer.meta["steps"] == 96 and longer.meta["wall_s"] >= 0.0
    dr = ensure_population_baseline(tmp_path, "dr", fam, list(fam.split().train)[:2], cfg, seed=0, quiet=True)
    assert dr.meta["steps"] == 64  # DR keeps --baseline-steps
    with pytest.raises(ValueError, match="oracle_steps=0 must be a positive"):
        replace(TINY, oracle_steps=0)


def test_sensitivity_refuses_a_bad_step_count_by_name(tiny_runs, capsys):
    from robot_meta.cli import main

    assert main(["sensitivity", str(tiny_runs / "pearl"), "--oracle-steps", "0"]) == 2
    assert "--oracle-steps takes a positive number of env steps, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_a_warm_started_oracle_acts_as_the_dr_policy_it_starts_from(algo):
    """Before it trains, the oracle started from DR is DR: same actions on any task inputs (zero weights on them),
    DR's observation statistics on the shared inputs, the task features' exact statistics on the new ones."""
    from robot_meta.baselines import Baseline, ObsNormalizer, make_model, train_model, warm_start

    fam = get_family("planar_arm")
    cfg = replace(TINY, algo=algo, ppo_n_steps=16, ppo_batch_size=16)
    dr = train_model(fam, list(fam.split().train)[:2], cfg, seed=0, oracle=False)
    tasks = list(fam.split().test)[:3]
    model = make_model(fam, tasks, cfg, seed=1, oracle=True)
    warm_start(model, dr, fam, tasks, cfg)
    rms = model.get_vec_normalize_env().obs_rms
    n = fam.obs_layout.dim
    np.testing.assert_allclose(rms.mean[:n], dr.normalizer.mean, rtol=1e-6)
    feats = oracle_features(fam, np.stack([fam.task_vector(t) for t in tasks]))
    np.testing.assert_allclose(rms.mean[n:], feats.mean(0), rtol=1e-5, atol=1e-6)
    oracle = Baseline(model, ObsNormalizer(rms.mean.astype(np.float32), rms.var.astype(np.float32)))
    obs = np.random.default_rng(0).normal(size=(5, n)).astype(np.float32)
    told = np.concatenate([obs, np.random.default_rng(1).normal(size=(5, feats.shape[1]))], 1).astype(np.float32)
    np.testing.assert_allclose(oracle.predict(told), dr.predict(obs), atol=1e-6)


def test_the_oracle_starts_from_the_cached_dr_and_is_retrained_when_dr_changes(tmp_path):
    from robot_meta.baselines import baseline_path
    from robot_meta.eval_run import ensure_population_baselines

    fam = get_family("planar_arm")
    models = ensure_population_baselines(tmp_path, fam, TINY, seed=0, quiet=True)
    assert models["oracle"].meta["init"]["steps"] == TINY.steps and models["oracle"].meta["init_sha256"]
    path = baseline_path(tmp_path, "oracle", TINY.algo)
    before = path.stat().st_mtime_ns
    ensure_population_baselines(tmp_path, fam, TINY, seed=0, quiet=True)
    assert path.stat().st_mtime_ns == before  # same DR: cached
    baseline_path(tmp_path, "dr", TINY.algo).unlink()
    ensure_population_baselines(tmp_path, fam, replace(TINY, lr=1e-3), seed=1, quiet=True)  # another DR
    assert path.stat().st_mtime_ns != before
    scratch = ensure_population_baselines(tmp_path, fam, replace(TINY, oracle_init="scratch"), seed=1, quiet=True)
    assert "init" not in scratch["oracle"].meta  # from scratch: the DR-started cache was retrained


def test_the_learning_rate_anneals_and_a_constant_rate_cache_is_retrained(tmp_path, monkeypatch):
    """Also: training leaves nothing in the temporary directory (SB3's default logger made a folder there)."""
    import tempfile

    from robot_meta.baselines import make_model

    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))

    fam = get_family("planar_arm")
    tasks = list(fam.split().train)[:2]
    for algo in ("sac", "ppo"):
        model = make_model(fam, tasks, replace(TINY, algo=algo), seed=0, oracle=False)
        assert model.lr_schedule(1.0) == pytest.approx(TINY.lr) and model.lr_schedule(0.25) == pytest.approx(TINY.lr / 4)
    constant = replace(TINY, lr_schedule="constant")
    assert make_model(fam, tasks, constant, seed=0, oracle=False).lr_schedule(0.25) == pytest.approx(TINY.lr)
    first = ensure_population_baseline(tmp_path, "dr", fam, tasks, constant, seed=0, quiet=True)
    assert first.meta["config"]["lr_schedule"] == "constant"
    again = ensure_population_baseline(tmp_path, "dr", fam, tasks, TINY, seed=0, quiet=True)
    assert again.meta["config"]["lr_schedule"] == "linear"
    assert not list(tmp.glob("SB3-*"))
    with pytest.raises(ValueError, match="lr_schedule 'cosine' is not one of"):
        replace(TINY, lr_schedule="cosine")


def test_the_verdict_over_training_seeds_counts_the_oracle_worse_only_where_the_interval_says_so():
    from robot_meta.sensitivity import verdict

    dr = np.array([[0.30, 0.60], [0.40, 0.62], [0.35, 0.58]])  # (training seeds, payloads)
    noisy = np.array([[0.45, 0.28], [0.30, 0.33], [0.33, 0.29]])  # mean 0.36 > 1.05 * 0.35 at 0 kg, within the spread
    v = verdict([0.0, 10.0], dr, noisy)
    assert v["oracle_worse_at_kg"] == [] and v["passes"] and v["training_seeds"] == 3
    lo, hi = v["ratio_at_heaviest_ci95"]
    assert v["ratio_at_heaviest"] == pytest.approx(1.80 / 0.90) and lo < v["ratio_at_heaviest"] < hi
    worse = verdict([0.0, 10.0], dr, dr * [[1.3, 0.5]] + [[0.01, 0.0], [0.0, 0.0], [0.02, 0.0]])  # always ~30% worse
    assert worse["oracle_worse_at_kg"] == [0.0] and worse["status"] == "inconclusive"
    one = verdict([0.0, 10.0], dr[:1], noisy[:1])  # one training seed: the slack alone decides
    assert one["oracle_worse_at_kg"] == [0.0] and one["ratio_at_heaviest_ci95"] is None
    # Two seeds that disagree (the runner with its payload 0.4 m forward, docs/commands.md): 0.88x and 2.97x,
    # 1.68x on the means, is no pass; three seeds that all clear 1.5x (the arm, in mm) are.
    split = verdict([0.0, 10.0], np.array([[0.52, 0.427], [0.55, 0.891]]), np.array([[0.45, 0.487], [0.48, 0.300]]))
    assert split["ratio_at_heaviest"] > 1.5 and split["status"] == "inconclusive" and "seeds disagree" in split["text"]
    arm = verdict(
        [0.0, 2.5], np.array([[16.3, 31.6], [15.0, 37.1], [20.5, 29.8]]), np.array([[8.1, 6.0], [7.8, 11.6], [7.1, 9.2]])
    )
    assert arm["passes"] and arm["status"] == "passes"
    low = verdict([0.0, 10.0], np.array([[0.3, 0.31], [0.3, 0.33]]), np.array([[0.3, 0.25], [0.3, 0.26]]))
    assert low["status"] == "fails"  # 1.25x in both seeds
    # Two seeds that agree, both above 1.5x (the runner's RMA-learner baselines, docs/commands.md: 2.92x and 2.69x),
    # whose 1-dof t interval still reaches below zero: inconclusive, and the text says why (not "disagree").
    wide = verdict([0.0, 10.0], np.array([[0.39, 0.522], [0.333, 0.743]]), np.array([[0.328, 0.179], [0.174, 0.276]]))
    assert wide["status"] == "inconclusive" and "every training seed is above 1.5x but 2 seeds" in wide["text"]


def test_sensitivity_over_two_training_seeds(tiny_runs, tmp_path, capsys):
    from robot_meta.cli import main

    out = tmp_path / "s.json"
    args = ["sensitivity", str(tiny_runs / "pearl"), "--seeds", "1", "--baseline-steps", "64", "--baseline-algo", "sac"]
    # --replica 1 trains training run 1 alone (a second process does run 0 on the other core), measuring nothing
    assert main([*args, "--baseline-dir", str(tmp_path / "b"), "--replica", "1", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert alone["replica"] == 1 and alone["baselines"]["oracle"]["seed"] == alone["baselines"]["dr"]["seed"]
    assert sorted(p.name for p in (tmp_path / "b").glob("*.pt")) == ["dr_r1.pt", "oracle_r1.pt"]
    assert "steady_error" not in alone and "verdict" not in alone
    cached = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "b").glob("*.pt")}
    args += ["--train-seeds", "2"]
    assert main([*args, "--baseline-dir", str(tmp_path / "b"), "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {n: (tmp_path / "b" / n).stat().st_mtime_ns for n in cached} == cached  # run 1 measured from the cache
    assert np.array(report["steady_error_per_training_seed"]["oracle"]).shape == (2, 6)
    assert len(report["steady_error_ci95_over_training_seeds"]["dr"]) == 6
    seeds = report["baselines"]["oracle"]["seeds"]
    assert len(seeds) == 2 and seeds[1] == seeds[0] + 1
    assert sorted(p.name for p in (tmp_path / "b").glob("*.pt")) == ["dr.pt", "dr_r1.pt", "oracle.pt", "oracle_r1.pt"]
    assert main([*args[:-1], "0"]) == 2
    assert "--train-seeds takes a positive integer, got 0" in capsys.readouterr().err
    assert main([*args, "--replica", "-1"]) == 2
    assert "--replica takes a training run index >= 0, got -1" in capsys.readouterr().err


_KILLED_TRAINING = """
import sys
from pathlib import Path
from dataclasses import replace
import robot_meta.baselines as b
from robot_meta.eval_run import ensure_population_baseline
from sim_tasks import get_family
b.CHECKPOINT_EVERY = 128
fam = get_family("planar_arm")
cfg = b.BaselineConfig(steps=int(sys.argv[2]), n_envs=2, hidden=(8,), algo="ppo", ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)
ensure_population_baseline(Path(sys.argv[1]), "dr", fam, list(fam.split().train)[:2], cfg, seed=0, quiet=True)
"""


def test_a_killed_ppo_baseline_resumes_from_its_partial_checkpoint(tmp_path, capsys, monkeypatch):
    """A long baseline training (5M env steps: most of an hour) killed with SIGKILL resumes where its last partial
    checkpoint left it: the env steps done are not trained again, the schedule continues, the partial file goes
    once the policy is saved, and a partial written for another training is not resumed."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import torch

    import robot_meta.baselines as b
    from robot_meta.baselines import read_meta, read_partial

    steps = 3000
    tmp_path = tmp_path / "cache"  # not there yet: the first partial makes it (as a new --baseline-dir)
    partial = tmp_path / "dr_ppo.pt.partial"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_TRAINING, str(tmp_path), str(steps)], env=env)
    try:
        deadline = time.monotonic() + 120
        while not partial.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert partial.exists(), "no partial checkpoint was written"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (tmp_path / "dr_ppo.pt").exists()  # killed before the end: only the partial is there
    fam = get_family("planar_arm")
    tasks = list(fam.split().train)[:2]
    cfg = BaselineConfig(steps=steps, n_envs=2, hidden=(8,), algo="ppo", ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)

    done = int(torch.load(partial, weights_only=True)["num_timesteps"])
    assert 128 <= done < steps
    wrong = dict(json.loads(torch.load(partial, weights_only=True)["key"]), steps=steps + 1)
    assert read_partial(partial, wrong) is None  # another training's partial is not resumed
    monkeypatch.setattr(b, "CHECKPOINT_EVERY", 10**9)  # no further partials in this process
    model = ensure_population_baseline(tmp_path, "dr", fam, tasks, cfg, seed=0)
    assert f"resuming at {done} env steps" in capsys.readouterr().err
    assert model.model.num_timesteps >= steps and model.model.num_timesteps - done < steps  # not all trained again
    meta = read_meta(tmp_path / "dr_ppo.pt")
    assert meta["resumed_at"] == done and meta["steps"] == steps and not partial.exists()
    # The learning rate ran down its schedule across the interruption (linear: 0 at the end).
    assert model.model.policy.optimizer.param_groups[0]["lr"] < cfg.lr * 0.1


def test_presets_reach_sb3_and_a_cache_with_other_settings_is_retrained(tmp_path, capsys):
    """`--baseline-preset zoo_cheetah` builds RL Zoo's HalfCheetah PPO (ReLU, no orthogonal init, std e^-2, clip
    0.1, ...); a cache trained with other settings is retrained, naming them; the CLI's choices are the presets."""
    from stable_baselines3.common.vec_env import unwrap_vec_normalize

    from robot_meta.baselines import PRESETS, make_model
    from robot_meta.cli.common import add_baseline_algo_option
    from robot_meta.eval_run import population_config

    fam = get_family("planar_arm")
    tasks = list(fam.split().train)[:2]
    zoo = replace(population_config("ppo", 64, None, "zoo_cheetah"), n_envs=2)
    model = make_model(fam, tasks, zoo, seed=0, oracle=False)
    assert model.clip_range(1.0) == 0.1 and model.gamma == 0.98 and model.n_epochs == 20 and model.batch_size == 64
    assert isinstance(model.policy.mlp_extractor.policy_net[1], torch.nn.ReLU)
    assert float(model.policy.log_std.mean()) == -2.0 and unwrap_vec_normalize(model.env) is not None
    plain = replace(population_config("ppo", 64, None), n_envs=2, ppo_n_steps=32, ppo_batch_size=32)
    ensure_population_baseline(tmp_path, "dr", fam, tasks, plain, seed=0, quiet=True)
    small_zoo = replace(zoo, ppo_n_steps=32, ppo_batch_size=32)
    retrained = ensure_population_baseline(tmp_path, "dr", fam, tasks, small_zoo, seed=0)
    assert "ppo_activation 'tanh' -> 'relu'" in capsys.readouterr().err
    assert retrained.meta["config"]["ppo_activation"] == "relu"
    reloaded = ensure_population_baseline(tmp_path, "dr", fam, tasks, small_zoo, seed=0, quiet=True)  # kept, rebuilt as ReLU
    obs = np.zeros((1, fam.obs_layout.dim), np.float32)
    np.testing.assert_allclose(reloaded.predict(obs), retrained.predict(obs), atol=1e-6)
    import argparse

    p = argparse.ArgumentParser()
    add_baseline_algo_option(p)
    assert set(next(a for a in p._actions if a.dest == "baseline_preset").choices) == set(PRESETS)


def test_a_long_baseline_training_logs_its_progress_at_each_checkpoint(tmp_path):
    """Where stderr is a log file (no progress bar), each partial checkpoint adds a line: env steps done of the
    total, minutes so far and left, and the recent episodes' return once an episode has ended."""
    import re

    from robot_meta.baselines import train_model

    fam = get_family("planar_arm")
    cfg = BaselineConfig(steps=640, n_envs=2, hidden=(8,), algo="ppo", ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)
    lines: list[str] = []
    tasks = list(fam.split().train)[:2]
    train_model(fam, tasks, cfg, 0, False, checkpoint=tmp_path / "dr.partial", checkpoint_every=128, log=lines.append)
    assert len(lines) >= 3, lines
    done = [int(re.match(r"^(\d+)/640 env steps, [\d.]+ min, about \d+ min left", line).group(1)) for line in lines]
    assert done == sorted(done) and done[0] >= 128 and done[-1] < 640
    assert "training return" in lines[-1]  # the arm's 3 s episodes (60 steps) have ended by then
