"""MAML on a MuJoCo family: second vs first order, adaptation in evaluation, the CLI path, the gridworld CLI."""

import json

import numpy as np
import torch

from robot_meta.cli import main
from robot_meta.maml.maml import MAML, MAMLConfig
from sim_tasks import BatchedTaskEnv, get_family
from tests.tiny import MAML_SETS as SETS

TINY = MAMLConfig(hidden=(8,), meta_batch=2, outer_epochs=2, eval_every=0)


def make(seed=0, cfg=TINY):
    fam = get_family("planar_runner")
    split = fam.split()
    return MAML(
        lambda t, s: BatchedTaskEnv(fam, t, seed=s),
        list(split.train[:5]),
        cfg,
        seed,
        torch.device("cpu"),
        list(split.test[:2]),
    )


def flat(algo):
    return torch.cat([p.detach().flatten() for p in algo.policy.parameters()])


def test_second_order_maml_differs_from_first_order():
    """Determinism and resume are the contract test's (test_algorithm_contract.py); this is MAML's own knob."""
    from dataclasses import replace

    so, fo = make(0), make(0, replace(TINY, first_order=True))
    m = so.train_iteration()
    fo.train_iteration()
    assert m["env_steps"] == 2 * 2 * 200 and np.isfinite(m["loss_outer"]) and m["updates"] == 2
    assert not torch.equal(flat(fo), flat(so))


def test_maml_adapts_at_episode_ends_in_evaluation():
    algo = make(0)
    adapted, prior = algo.eval_methods(seed=0)
    fam = get_family("planar_runner")
    env = BatchedTaskEnv(fam, list(fam.split().test[:2]), seed=0)
    actor = adapted.actor("episodic", env)
    from robot_meta.collector import CollectorState, collect

    state = CollectorState(env)
    state.reset(seed=0)
    before = [dict(p) for p in actor.params]
    collect(state, actor, fam.episode_steps)
    changed = [not torch.equal(actor.params[i]["head.weight"], before[i]["head.weight"]) for i in range(2)]
    assert all(changed)  # one inner step per env after its first episode
    still = prior.actor("episodic", env)
    collect(state, still, fam.episode_steps)
    assert torch.equal(still.params[0]["head.weight"], before[0]["head.weight"])


def test_maml_cli_train_eval_export_compare(tmp_path, capsys):
    run = tmp_path / "run"
    args = ["train", "--algo", "maml", "--task", "planar_runner", "--out", str(run), "--steps", "800", "--json"]
    assert main(args + [a for s in SETS for a in ("--set", s)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--episodes", "2", "--repeats", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["episodic"]) == {"maml", "prior_only"}
    assert main(["export", str(run), "--out", str(tmp_path / "p"), "--adapt-task", "1", "--json"]) == 0
    m = json.loads(capsys.readouterr().out)["manifest"]
    assert m["adaptation"]["kind"] == "none" and m["adaptation"]["maml"]["held_out_index"] == 1
    assert main(["export", str(run), "--out", str(tmp_path / "q"), "--adapt-task", "99"]) == 2
    from deploy.runtime import load_adapter

    assert load_adapter(tmp_path / "p").act(np.zeros(17)).shape == (6,)
    png = tmp_path / "cmp.png"
    assert main(["compare", str(run / "eval.json"), str(run / "eval.json"), "--plot", str(png), "--json"]) == 0
    c = json.loads(capsys.readouterr().out)
    assert [r["algo"] for r in c["algorithms"]] == ["maml", "maml"] and png.stat().st_size > 10_000
    assert c["algorithms"][0]["rise"]["n"] == out["n_test_tasks"] and c["algorithms"][0]["repeats"] == 1
    assert c["algorithms"][0]["vs_prior_only"] == out["episodic"]["maml"]["vs_prior_only"]
    # the online adaptation as eval gave it: the median time's interval; no oracle, so no excess over it
    ci = out["online"]["maml"]["adaptation_time_s"]["median_ci95"]
    assert c["algorithms"][0]["online_adaptation_ci95"] == ci and len(ci) == 2
    assert c["algorithms"][0]["online_excess_steady"] is None
    assert main(["compare", str(tmp_path / "nope.json")]) == 2


def test_maml_gridworld_cli(tmp_path, capsys):
    assert main(["maml-gridworld", "--out", str(tmp_path), "--iterations", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["returns_after_inner_steps"]) == {"maml", "fomaml", "scratch"}
    assert set(out["returns_after_inner_steps"]["maml"]) == {"0", "1", "3", "5"}
    assert (tmp_path / "gridworld.png").stat().st_size > 10_000
