"""The `MetaAlgorithm` contract, once for every registered algorithm: determinism, resume equality, export
parity through the torch-free runtime, and the evaluation protocol (stable-baselines3's one parametrized test
over every algorithm is the model)."""

from typing import Any

import numpy as np
import pytest
import torch

from robot_meta import checkpoint
from robot_meta.algorithm import MetaAlgorithm
from robot_meta.config import ConfigError, build_config
from robot_meta.evaluation import evaluate
from robot_meta.registry import algorithm_class, algorithm_names
from sim_tasks import BatchedTaskEnv, get_family
from tests.tiny import TINY_SETS

FAMILY = "planar_runner"


def make(name: str, seed: int = 0, device: str = "cpu") -> MetaAlgorithm:
    cls = algorithm_class(name)
    fam = get_family(FAMILY)
    split = fam.split()
    cfg = build_config(cls.config_class(), None, TINY_SETS[name])
    return cls(lambda t, s: BatchedTaskEnv(fam, t, seed=s), list(split.train[:5]), cfg, seed, torch.device(device))


def flat(state: Any) -> list[Any]:
    """Every tensor, array and number of a (nested) state, in a fixed order."""
    if isinstance(state, dict):
        return [x for k in sorted(state, key=str) for x in flat(state[k])]
    if isinstance(state, list | tuple):
        return [x for v in state for x in flat(v)]
    if isinstance(state, torch.Tensor):
        return [state.detach().cpu().numpy()]
    return [np.asarray(state)]


def same(a: Any, b: Any) -> bool:
    fa, fb = flat(a), flat(b)
    return len(fa) == len(fb) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(fa, fb, strict=True))


def test_every_registered_algorithm_is_a_meta_algorithm_with_a_tiny_config():
    for name in algorithm_names():
        cls = algorithm_class(name)
        assert issubclass(cls, MetaAlgorithm) and cls.name == name
        assert name in TINY_SETS, f"tests/tiny.py needs a tiny config for {name}"


@pytest.mark.parametrize("name", algorithm_names())
def test_same_seed_same_state_different_seed_different(name):
    a, b, c = make(name, 0), make(name, 0), make(name, 1)
    for algo in (a, b, c):
        m = algo.train_iteration()
        algo.train_iteration()
    assert same(a.state_dict()["torch"], b.state_dict()["torch"]) and same(a.state_dict()["json"], b.state_dict()["json"])
    assert not same(a.state_dict()["torch"], c.state_dict()["torch"])
    assert {"iteration", "env_steps", "updates"} <= set(m) and a.iteration == 2 and a.env_steps > 0


@pytest.mark.parametrize("name", algorithm_names())
def test_resume_from_a_checkpoint_equals_uninterrupted(name, tmp_path):
    straight = make(name)
    for _ in range(3):
        straight.train_iteration()
    first = make(name)
    first.train_iteration()
    path = checkpoint.save(tmp_path, first.iteration, first.state_dict())
    resumed = make(name)
    resumed.load_state_dict(checkpoint.load(path))
    for _ in range(2):
        resumed.train_iteration()
    assert same(resumed.state_dict(), straight.state_dict())


@pytest.mark.parametrize("name", algorithm_names())
def test_export_parity_and_the_torch_free_runtime(name, tmp_path):
    from deploy.manifest import PolicyManifest
    from deploy.runtime import load_adapter
    from robot_meta.export import PARITY_TOL, export_algorithm

    algo = make(name)
    algo.train_iteration()
    manifest = export_algorithm(
        algo, {"algo": name, "task": FAMILY, "seed": 0}, tmp_path / "p", readout=False
    )  # the read-out: test_export
    assert manifest.algo == name and max(manifest.parity.max_abs_diff.values()) <= PARITY_TOL
    assert set(manifest.graphs) == set(algo.export_spec().graphs)
    assert PolicyManifest.read(tmp_path / "p") == manifest
    adapter = load_adapter(tmp_path / "p")
    action = adapter.act(np.zeros(adapter.obs_dim, np.float32), 0.0)
    assert action.shape == (adapter.act_dim,) and np.all(np.abs(action) <= 1.0)


@pytest.mark.parametrize("name", algorithm_names())
def test_evaluation_through_the_protocol(name):
    algo = make(name)
    fam = algo.family
    tasks = list(fam.split().test[:2])
    out = evaluate(algo.eval_methods(seed=0), fam, tasks, episodes=2, seed=0, online_tasks=tasks)
    extra = {"rma": {"teacher"}}.get(name, set())  # an algorithm may add its own reference (RMA: its teacher)
    assert set(out["episodic"]) == {name, "prior_only", *extra} == set(out["online"])
    returns = np.array(out["episodic"][name])
    assert returns.shape == (2, 2) and np.all(np.isfinite(returns))
    again = evaluate(algo.eval_methods(seed=0), fam, tasks, episodes=2, seed=0)
    assert again["episodic"] == {k: out["episodic"][k] for k in again["episodic"]}


def test_an_algorithm_that_runs_on_the_cpu_only_refuses_another_device():
    cpu_only = [n for n in algorithm_names() if algorithm_class(n).cpu_only]
    fam = get_family(FAMILY)

    def make_env(tasks, seed):
        return BatchedTaskEnv(fam, tasks, seed=seed)

    for name in cpu_only:
        cls = algorithm_class(name)
        cfg = build_config(cls.config_class(), None, TINY_SETS[name])
        with pytest.raises(ConfigError, match="runs on the CPU only"):
            cls(make_env, list(fam.split().train[:5]), cfg, 0, torch.device("meta"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (CI has none; run on a GPU machine)")
@pytest.mark.parametrize("name", [n for n in algorithm_names() if not algorithm_class(n).cpu_only])
def test_on_cuda_same_seed_same_run_resumed_on_the_cpu_exported_and_evaluated(name, tmp_path):
    """`--device auto` picks CUDA when there is one: the same seed gives the same run there, the protocol runs
    there (the runner's periodic held-out check), and a checkpoint taken there loads on the CPU, trains on and
    exports with parity (as `robot-meta export` loads a run: on the CPU)."""
    from robot_meta.export import PARITY_TOL, ExportError, export_algorithm

    gpu, again = make(name, device="cuda"), make(name, device="cuda")
    for algo in (gpu, again):
        algo.train_iteration()
    modules = [getattr(gpu, n) for n in gpu._get_torch_save_params()]
    assert all(p.is_cuda for m in modules if isinstance(m, torch.nn.Module) for p in m.parameters())
    assert same(gpu.state_dict()["torch"], again.state_dict()["torch"])
    tasks = list(gpu.family.split().test[:2])
    out = evaluate(gpu.eval_methods(seed=0), gpu.family, tasks, episodes=2, seed=0, online_tasks=tasks)
    assert np.all(np.isfinite(np.array(out["episodic"][name])))
    with pytest.raises(ExportError, match="on the CPU"):  # its networks would be moved from under it
        export_algorithm(gpu, {"algo": name, "task": FAMILY, "seed": 0}, tmp_path / "p", readout=False)
    path = checkpoint.save(tmp_path / "run", gpu.iteration, gpu.state_dict())
    cpu = make(name)
    cpu.load_state_dict(checkpoint.load(path, "cpu"))
    assert same(cpu.state_dict()["torch"], gpu.state_dict()["torch"])
    manifest = export_algorithm(cpu, {"algo": name, "task": FAMILY, "seed": 0}, tmp_path / "p", readout=False)
    assert max(manifest.parity.max_abs_diff.values()) <= PARITY_TOL
    cpu.train_iteration()
    assert cpu.iteration == 2 and all(np.isfinite(x).all() for x in flat(cpu.state_dict()["torch"]) if x.dtype.kind == "f")
