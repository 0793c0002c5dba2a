"""PEARL mechanics on tiny budgets: determinism, checkpoint/resume equality, the actor's adaptation modes."""

import json
import re

import numpy as np
import pytest
import torch

from robot_meta.config import ConfigError, build_config
from robot_meta.pearl import PEARL, PearlConfig
from robot_meta.pearl.networks import product_of_gaussians
from robot_meta.train import load_run, train
from sim_tasks import BatchedTaskEnv, get_family

TINY = PearlConfig(
    latent_dim=3,
    encoder_hidden=(16,),
    hidden=(16,),
    meta_batch=2,
    batch_size=8,
    context_batch=6,
    initial_steps=30,
    tasks_per_iteration=2,
    steps_prior=20,
    steps_posterior=20,
    updates_per_iteration=3,
    buffer_capacity=500,
    window=4,
    checkpoint_every=1,
)
SETS = tuple(
    f"{k}={v}"
    for k, v in {
        "latent_dim": 3,
        "encoder_hidden": "16",
        "hidden": "16",
        "meta_batch": 2,
        "batch_size": 8,
        "context_batch": 6,
        "initial_steps": 30,
        "tasks_per_iteration": 2,
        "steps_prior": 20,
        "steps_posterior": 20,
        "updates_per_iteration": 3,
        "buffer_capacity": 500,
        "window": 4,
        "checkpoint_every": 1,
    }.items()
)


def make(seed=0, cfg=TINY):
    fam = get_family("planar_arm")
    tasks = list(fam.split().train[:4])
    return PEARL(lambda t, s: BatchedTaskEnv(fam, t, seed=s), tasks, cfg, seed=seed, device=torch.device("cpu"))


def flat(algo):
    return torch.cat([p.detach().flatten() for p in algo.nets.state_dict().values() if p.dtype.is_floating_point])


def test_train_runner_resumes_after_a_kill_and_keeps_the_run_dir_consistent(tmp_path):
    cpu = torch.device("cpu")
    whole = tmp_path / "whole"
    train("pearl", "planar_arm", whole, steps=300, seed=3, device=cpu, sets=SETS, progress=False)
    killed = tmp_path / "killed"
    train("pearl", "planar_arm", killed, steps=200, seed=3, device=cpu, sets=SETS, progress=False)
    # what a kill leaves behind: a partial checkpoint directory and a metrics line cut in half
    (killed / "checkpoint" / ".iter-000099.partial").mkdir()
    with open(killed / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 99, "loss')
    train("pearl", "planar_arm", killed, steps=300, seed=3, device=cpu, resume=True, progress=False)
    a, _ = load_run(whole)
    b, _ = load_run(killed)
    assert a.iteration == b.iteration and torch.equal(flat(a), flat(b))
    lines = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [m["iteration"] for m in lines] == list(range(1, b.iteration + 1))
    assert not list((killed / "checkpoint").glob(".iter-*.partial"))  # the kill's half-written checkpoint is gone


def test_run_dir_is_not_overwritten_and_resume_needs_a_run(tmp_path):
    from robot_meta.train import RunDirError

    cpu = torch.device("cpu")
    train("pearl", "planar_arm", tmp_path / "r", steps=50, seed=0, device=cpu, sets=SETS, progress=False)
    with pytest.raises(RunDirError, match="already holds a run"):
        train("pearl", "planar_arm", tmp_path / "r", steps=50, seed=0, device=cpu, sets=SETS, progress=False)
    with pytest.raises(RunDirError, match=r"has no config\.json"):
        train("pearl", "planar_arm", tmp_path / "new", steps=50, seed=0, device=cpu, resume=True, progress=False)
    with pytest.raises(RunDirError, match="drop --config/--set"):
        train("pearl", "planar_arm", tmp_path / "r", steps=50, seed=0, device=cpu, sets=SETS, resume=True, progress=False)


def test_config_overrides_are_typed_and_checked():
    cfg = build_config(PearlConfig(), None, ["hidden=64,64", "kl_lambda=1", "use_next_obs=false", "meta_batch=4"])
    assert cfg.hidden == (64, 64) and cfg.kl_lambda == 1.0 and cfg.use_next_obs is False and cfg.meta_batch == 4
    with pytest.raises(ConfigError, match=r"unknown config key\(s\) \['hiden'\]"):
        build_config(PearlConfig(), None, ["hiden=3"])
    with pytest.raises(ConfigError, match="meta_batch='many' must be an integer"):
        build_config(PearlConfig(), None, ["meta_batch=many"])
    with pytest.raises(ConfigError, match="meta_batch=0 must be >= 1"):
        build_config(PearlConfig(), None, ["meta_batch=0"])


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("lr=nan", "lr='nan' must be a finite number"),
        ("lr=inf", "lr='inf' must be a finite number"),
        ("batch_size=1e20", "batch_size='1e20' is beyond any sensible setting"),
        ("buffer_capacity=1e12", "buffer_capacity='1e12' is beyond"),
        ("updates_per_iteration=-1", "updates_per_iteration=-1 must be >= 0"),
        ("buffer_capacity=0", "buffer_capacity=0 must be >= 1"),
    ],
)
def test_nonsense_settings_are_refused_by_name(setting, named):
    """Issue 17: values that used to start a training (or crash inside torch) are refused before anything runs."""
    with pytest.raises(ConfigError, match=re.escape(named)):
        build_config(PearlConfig(), None, [setting])


def test_a_yaml_bool_is_not_an_integer(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("batch_size: true\n")
    with pytest.raises(ConfigError, match="batch_size=True must be an integer"):
        build_config(PearlConfig(), path)


def test_online_actor_z_is_the_posterior_mean_of_the_last_window():
    algo = make(0)
    algo.train_iteration()
    n = 2
    actor = algo.make_actor("online", n, torch.Generator().manual_seed(0), deterministic=True)
    actor.reset(np.ones(n, bool))
    assert torch.equal(actor.z, torch.zeros(n, 3))  # empty window: the prior's mean
    rng = np.random.default_rng(0)
    obs_dim, act_dim = algo.nets.obs_dim, algo.nets.act_dim
    trans = []
    for _ in range(7):
        o, a = rng.normal(size=(n, obs_dim)).astype(np.float32), rng.uniform(-1, 1, (n, act_dim)).astype(np.float32)
        r, o2 = rng.normal(size=n).astype(np.float32), rng.normal(size=(n, obs_dim)).astype(np.float32)
        actor.observe(o, a, r, o2, np.zeros(n, bool))
        trans.append(np.concatenate([o, a, r[:, None], o2], -1))
    window = torch.as_tensor(np.stack(trans[-4:], 1))  # (n, W, transition_dim)
    with torch.no_grad():
        mu, var = algo.nets.encoder(window)
        expected, _ = product_of_gaussians(mu, var)
    assert torch.allclose(actor.z, expected, atol=1e-5)


def test_episodic_actor_uses_the_prior_first_then_the_posterior():
    algo = make(0)
    algo.train_iteration()
    actor = algo.make_actor("episodic", 1, torch.Generator().manual_seed(0), deterministic=True, prior_episodes=1)
    actor.new_trial()
    actor.reset(np.ones(1, bool))
    z_first = actor.z.clone()
    rng = np.random.default_rng(1)
    for _ in range(5):
        actor.observe(
            rng.normal(size=(1, 10)).astype(np.float32),  # the arm: 8 read-outs, 2 goal commands
            rng.uniform(-1, 1, (1, 3)).astype(np.float32),
            np.array([0.5], np.float32),
            rng.normal(size=(1, 10)).astype(np.float32),
            np.zeros(1, bool),
        )
    actor.reset(np.ones(1, bool))
    mu, _ = actor.posterior()
    assert torch.allclose(actor.z, mu) and not torch.allclose(actor.z, z_first)
    actor.new_trial()
    actor.reset(np.ones(1, bool))
    assert actor.episode[0] == 1
