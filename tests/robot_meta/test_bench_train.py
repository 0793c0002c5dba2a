"""`robot-meta bench train`: the JSON contract (keys per algorithm), on tiny configs; the real sizes run slow."""

import json
from dataclasses import replace

import pytest
import torch

from robot_meta.bench_train import bench_pearl, bench_rl2
from robot_meta.cli import main
from robot_meta.pearl import PearlConfig
from robot_meta.rl2 import RL2Config

KEYS = {"algo", "task", "device", "env_steps_per_s", "updates_per_s"}


def test_bench_entries_have_the_contract_keys():
    cpu = torch.device("cpu")
    tiny = PearlConfig(hidden=(16,), encoder_hidden=(16,), meta_batch=2, batch_size=8, context_batch=4, tasks_per_iteration=2)
    p, ps = bench_pearl("planar_arm", cpu, seconds=0.2, configs={"tiny": tiny, "sup": replace(tiny, task_supervision=1.0)})
    rl2 = RL2Config(hidden=16, embed=8, num_envs=2, minibatches=2, epochs=1, eval_every=0)
    r, rs = bench_rl2("planar_arm", cpu, seconds=0.1, configs={"tiny": rl2, "sup": replace(rl2, task_supervision=1.0)})
    for entry, algo in ((p, "pearl"), (ps, "pearl"), (r, "rl2"), (rs, "rl2")):
        assert KEYS <= set(entry) and entry["algo"] == algo
        assert entry["env_steps_per_s"] > 0 and entry["updates_per_s"] > 0
    assert [e["config"] for e in (p, ps, r, rs)] == ["tiny", "sup", "tiny", "sup"]  # each objective's cost, by name


@pytest.mark.slow
def test_bench_train_cli(capsys):
    assert main(["bench", "train", "--seconds", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["algo"] for r in out["results"]} == {"pearl", "rl2"}


def test_every_task_given_is_measured(monkeypatch, capsys):
    """`--task A --task B` measures both, in that order (it used to take the first and drop the rest silently);
    the real benchmarks, at tiny sizes."""
    import robot_meta.bench_train as bt

    pearl, rl2 = bt.bench_pearl, bt.bench_rl2
    tiny_p = PearlConfig(
        hidden=(16,), encoder_hidden=(16,), meta_batch=2, batch_size=8, context_batch=4, tasks_per_iteration=2
    )
    tiny_r = RL2Config(hidden=16, embed=8, num_envs=2, minibatches=2, epochs=1, eval_every=0)
    monkeypatch.setattr(bt, "bench_pearl", lambda t, d, seconds, seed: pearl(t, d, 0.2, seed, {"tiny": tiny_p}))
    monkeypatch.setattr(bt, "bench_rl2", lambda t, d, seconds, seed: rl2(t, d, 0.1, seed, {"tiny": tiny_r}))
    argv = ["bench", "train", "--task", "planar_arm", "--task", "planar_runner", "--device", "cpu", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert [(r["task"], r["algo"]) for r in out["results"]] == [
        ("planar_arm", "pearl"),
        ("planar_arm", "rl2"),
        ("planar_runner", "pearl"),
        ("planar_runner", "rl2"),
    ]
    assert main(["bench", "runtime", "--task", "planar_arm", "--task", "planar_runner", "--seconds", "0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["task"] for r in out["results"]] == ["planar_arm"] * 2 + ["planar_runner"] * 2
