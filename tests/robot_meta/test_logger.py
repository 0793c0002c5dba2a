"""TensorBoard logs (issue 20): scalars against env steps, grouped tags, one name per quantity across
algorithms, the config recorded; resume keeps them consistent."""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from robot_meta.logger import tensorboard_tag


def _scalars(run_dir):
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc, {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.mark.parametrize("algo", ["pearl", "rl2", "rma"])
def test_scalars_are_grouped_against_env_steps_with_common_names(tiny_runs, algo):
    acc, scalars = _scalars(tiny_runs / algo)
    rows = [json.loads(line) for line in (tiny_runs / algo / "metrics.jsonl").read_text().splitlines()]
    assert "train/tracking_error" in scalars and "time/env_steps_per_s" in scalars, sorted(
        scalars
    )  # (tiny runs: no full episode, no return)
    assert all(tag.split("/")[0] in ("train", "adapt", "eval", "time") for tag in scalars)
    assert [s for s, _ in scalars["time/env_steps_per_s"]] == [r["env_steps"] for r in rows]  # x axis: env steps
    assert "config" in acc.Tags()["tensors"] or any("config" in t for t in acc.Tags()["tensors"])


def test_tags():
    assert tensorboard_tag("return_posterior") == tensorboard_tag("return_mean") == "train/return"
    assert tensorboard_tag("test_return_mean") == "eval/return_mean"
    assert tensorboard_tag("return_prior") == "adapt/return_prior_only"
    assert tensorboard_tag("loss_q") == "train/loss_q" and tensorboard_tag("wall_s") == "time/wall_s"


def test_wandb_logs_the_same_names_offline_and_a_resume_continues_its_run(tmp_path, monkeypatch, capsys):
    """`train --wandb PROJECT` (issue 20): the grouped names against env steps in a W&B run whose id is kept in
    the run dir, so a resume goes on in the same run. Offline here (no network): W&B's own record file is read."""
    import wandb

    from robot_meta.cli import main
    from tests.tiny import RMA_SETS

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    wandb.teardown()  # W&B reads its settings once per process
    run = tmp_path / "run"
    sets = [x for s in RMA_SETS for x in ("--set", s)]
    base = ["train", "--algo", "rma", "--task", "planar_runner", "--out", str(run), "--wandb", "rm-test"]
    assert main([*base, "--steps", "160", *sets]) == 0
    # `run.finish()` hands the records to W&B's service process, which may still hold them in its write buffer
    # (CI read a 7-byte header once); tearing the service down waits for it to exit, so the file is complete, as
    # it is for `wandb sync` after a `train` process has ended.
    wandb.teardown()
    wid = json.loads((run / "wandb.json").read_text())
    assert wid["project"] == "rm-test"
    (first,) = run.glob("wandb/offline-run-*/run-*.wandb")
    assert first.name == f"run-{wid['id']}.wandb"
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    data = first.read_bytes()
    # every iteration's value under the TensorBoard name, with the env-steps axis (W&B writes JSON text values)
    assert len(rows) >= 1 and b"time/env_steps_per_s" in data and b"env_steps" in data
    assert all(repr(r["env_steps_per_s"]).encode() in data for r in rows)
    assert b"train/tracking_error" in data and b"planar_runner" in data  # a scalar and the config
    assert main([*base, "--steps", "320", "--resume"]) == 0
    assert json.loads((run / "wandb.json").read_text()) == wid  # the same W&B run continues
    assert {p.name for p in run.glob("wandb/offline-run-*/run-*.wandb")} == {first.name}


def test_wandb_missing_or_without_credentials_is_refused_before_the_run_dir_is_touched(tmp_path, monkeypatch, capsys):
    import sys

    from robot_meta.cli import main

    run = tmp_path / "run"
    argv = ["train", "--algo", "rma", "--task", "planar_runner", "--out", str(run), "--steps", "10", "--wandb", "p"]
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "cfg"))  # no key saved by an earlier login
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    import wandb

    wandb.teardown()  # W&B keeps its settings per process: an earlier test's offline mode would stay
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--wandb p" in err[0] and "WANDB_MODE=offline" in err[0], err
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install wandb" in err[0], err
    assert not run.exists()


def test_training_wall_time_adds_the_calls_of_a_resumed_run():
    """`wall_s` restarts at each `train` call: a run cut at 1400 s and resumed for 2220 s trained 3620 s."""
    from robot_meta.logger import training_wall_s

    rows = [{"wall_s": 10.0}, {"wall_s": 1400.0}, {"wall_s": 5.0}, {"wall_s": 2220.0}]
    assert training_wall_s(rows) == 3620.0
    assert training_wall_s(rows[:2]) == 1400.0 and training_wall_s([]) == 0.0
