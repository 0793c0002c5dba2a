"""The torch-free runtime: same actions as the torch actors, O(1) window sums, safety filter, refusals."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from deploy.runtime import ObservationError, PolicyDirError, SafetyFilter, load_adapter
from robot_meta.collector import CollectorState, collect
from robot_meta.evaluation import online_errors
from robot_meta.sim2sim import RuntimeActor, run_sim2sim
from robot_meta.train import load_run
from sim_tasks import BatchedTaskEnv, get_family
from tests.policy_edit import write_manifest


@pytest.fixture(scope="module")
def dirs(tiny_runs, tiny_policies, tmp_path_factory):
    root = tmp_path_factory.mktemp("rt")
    (root / "p_pearl").symlink_to(tiny_policies / "pearl")
    (root / "p_rl2").symlink_to(tiny_policies / "rl2")
    for algo in ("pearl", "rl2"):
        (root / algo).symlink_to(tiny_runs / algo)
    return root


class Tee:
    """Runs two actors on the same observations; records both actions, steps the env with the first."""

    def __init__(self, a, b):
        self.a, self.b, self.diffs = a, b, []

    def reset(self, mask):
        self.a.reset(mask)
        self.b.reset(mask)

    def act(self, obs):
        x, y = self.a.act(obs), self.b.act(obs)
        self.diffs.append(np.abs(x - y).max())
        return x

    def observe(self, *args):
        self.a.observe(*args)
        self.b.observe(*args)


@pytest.mark.parametrize("algo", ["pearl", "rl2"])
def test_runtime_reproduces_the_torch_actor_through_resets_and_a_payload_change(dirs, algo):
    fam = get_family("planar_runner")
    algorithm, _ = load_run(dirs / algo)
    tasks = list(fam.split().test[:2])
    env = BatchedTaskEnv(fam, tasks, seed=3)
    for sim in env.sims:
        sim.schedule_payload([(2.0, 5.0)])
    torch_actor = algorithm.eval_methods(seed=0)[0].actor("online", env)
    tee = Tee(torch_actor, RuntimeActor(dirs / f"p_{algo}", 2))
    state = CollectorState(env)
    state.reset(seed=3)
    collect(state, tee, fam.episode_steps + 30)  # past an episode boundary (context kept across it)
    assert max(tee.diffs) < 1e-4, max(tee.diffs)


def test_sim2sim_matches_eval_online_numbers(dirs):
    fam = get_family("planar_runner")
    algorithm, _ = load_run(dirs / "pearl")
    out = run_sim2sim(dirs / "p_pearl", n_tasks=3, seed=0)
    tests = [t for t in fam.split().test if "payload_mass" in fam.holdout_regions(t)][:3]
    torch_err = online_errors(algorithm.eval_methods(seed=0)[0], fam, tests, out["change_time_s"], seed=0)
    np.testing.assert_allclose(out["error_mean_over_time"], torch_err.mean(0), atol=1e-3)


def test_window_sums_stay_equal_to_the_direct_product(dirs):
    ad = load_adapter(dirs / "p_pearl")  # window 8
    rng = np.random.default_rng(0)
    obs_seq = []
    rewards = []
    for _ in range(27):
        obs_seq.append(rng.normal(size=17).astype(np.float32))
        rewards.append(float(rng.normal()))
    actions = []
    for t in range(27):
        actions.append(ad.act(obs_seq[t], reward=rewards[t - 1] if t else 0.0))
    prec, eta = [], []
    for t in range(1, 27):
        tr = np.concatenate([obs_seq[t - 1], actions[t - 1], [rewards[t - 1]], obs_seq[t]]).astype(np.float32)
        mu, var = ad.encoder.run(None, {"transitions": tr[None]})
        prec.append(1 / np.maximum(var[0].astype(np.float64), 1e-7))
        eta.append(prec[-1] * mu[0])
    p, e = np.sum(prec[-8:], 0), np.sum(eta[-8:], 0)
    mean, var = ad.posterior()
    np.testing.assert_allclose(var, 1 / p, rtol=1e-9)
    np.testing.assert_allclose(mean, e / p, rtol=1e-7, atol=1e-9)
    z_adapted = ad.z.copy()
    ad.use_prior = True  # the fallback: same context, no adaptation
    fallback = ad.act(obs_seq[0], 0.0)
    ad.use_prior = False
    assert not np.array_equal(z_adapted, np.zeros_like(z_adapted))
    np.testing.assert_allclose(
        fallback, ad.policy.run(None, {"obs": obs_seq[0][None], "z": np.zeros((1, 5), np.float32)})[0][0]
    )
    ad.reset()
    assert np.array_equal(ad.posterior()[0], np.zeros(5)) and np.array_equal(ad.posterior()[1], np.ones(5))


def test_safety_filter_holds_clamps_and_limits():
    f = SafetyFilter(3, max_delta=0.1)
    assert np.allclose(f(np.array([np.nan, 0, 0])), 0.0) and f.nonfinite_count == 1  # no valid action yet: the safe one
    first = f(np.array([0.05, 2.0, -0.05]))
    assert np.allclose(first, [0.05, 1.0, -0.05]) and f.clamped_count == 1
    held = f(np.array([np.inf, 0.0, 0.0]))
    assert np.array_equal(held, first) and f.nonfinite_count == 2
    limited = f(np.array([0.5, 1.0, -0.05]))
    assert np.allclose(limited, [0.15, 1.0, -0.05]) and f.rate_limited_count == 1


def test_bad_policy_dirs_are_refused_by_name(dirs, tmp_path):
    src = dirs / "p_pearl"

    def copy(name):
        d = tmp_path / name
        shutil.copytree(src, d)
        return d

    with pytest.raises(PolicyDirError, match=r"has no manifest\.json"):
        load_adapter(tmp_path)
    d = copy("newer")
    m = json.loads((d / "manifest.json").read_text())
    m["format_version"] = 99
    write_manifest(d, m)
    with pytest.raises(PolicyDirError, match="format_version 99 is newer"):
        load_adapter(d)
    d = copy("corrupt")
    (d / "policy.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(PolicyDirError, match=r"graphs\.policy: .* does not match the manifest's sha256"):
        load_adapter(d)
    with pytest.raises(PolicyDirError, match="not a loadable ONNX graph"):
        load_adapter(d, verify_hash=False)
    d = copy("missing")
    (d / "encoder.onnx").unlink()
    with pytest.raises(PolicyDirError, match=r"graphs\.encoder: file .* is missing"):
        load_adapter(d)
    d = copy("inconsistent")
    m = json.loads((d / "manifest.json").read_text())
    m["obs_dim"] = 18
    write_manifest(d, m)
    with pytest.raises(PolicyDirError, match=r"obs_dim=18 is not the sum of the observation slices' sizes"):
        load_adapter(d)
    d = copy("layout")
    m = json.loads((d / "manifest.json").read_text())
    m["obs_dim"] = 18
    m["observation"][-1]["size"] += 1
    write_manifest(d, m)
    with pytest.raises(
        PolicyDirError,
        match=r"graphs\.encoder\.input 'transitions' has shape \['batch', 41\], the manifest's layout needs \['batch', 43\]",
    ):
        load_adapter(d)


def test_wrong_observations_are_refused(dirs):
    ad = load_adapter(dirs / "p_rl2")
    with pytest.raises(ObservationError, match="observation has 16 entries, the manifest's layout has 17"):
        ad.act(np.zeros(16))
    with pytest.raises(ObservationError, match=r"not finite at indices \[3\]"):
        bad = np.zeros(17)
        bad[3] = np.nan
        ad.act(bad)


def test_importing_the_runtime_does_not_import_torch_or_mujoco():
    code = "import sys, deploy.runtime; sys.exit(1 if {'torch', 'mujoco'} & set(sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_sim2sim_process_never_imports_torch(dirs):
    code = (
        f"import sys; from robot_meta.sim2sim import run_sim2sim; run_sim2sim(__import__('pathlib').Path({str(dirs / 'p_pearl')!r}), "
        "n_tasks=1); sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_bench_runtime_reports_the_contract_keys(dirs):
    from robot_meta.bench_runtime import bench_runtime

    results = bench_runtime("planar_runner", steps=100, policy_dirs={"pearl": dirs / "p_pearl", "rl2": dirs / "p_rl2"})
    assert [r["algo"] for r in results] == ["pearl", "rl2"]
    for r in results:
        assert {"algo", "p50_us", "p99_us"} <= set(r) and 0 < r["p50_us"] <= r["p99_us"]
