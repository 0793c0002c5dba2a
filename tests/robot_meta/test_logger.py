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
