"""`robot-meta play` (issue 20): a policy dir or a run rendered to MP4 and GIF, with its overlay."""

import json

import imageio.v2 as iio
import numpy as np

from robot_meta.cli import main


def test_play_writes_a_video_of_the_policy_dir_with_its_overlay(tiny_policies, tmp_path, capsys):
    video = tmp_path / "runner.mp4"
    args = ["play", str(tiny_policies / "rma"), "--video", str(video), "--seconds", "1.5", "--payload-schedule", "0:0,0.5:8"]
    assert main([*args, "--command", "target_velocity=2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 30 and out["algo"] == "rma" and np.isfinite(out["mean_error"])
    reader = iio.get_reader(video)
    frames = [reader.get_data(i) for i in (0, 29)]
    assert reader.count_frames() == 30 and reader.get_meta_data()["fps"] == 20
    assert frames[0][:30, :200].mean() < frames[0][60:, :].mean()  # the dark text band over the scene
    assert np.abs(frames[1].astype(int) - frames[0]).mean() > 1  # the robot moved
    assert (tmp_path / "runner.gif").stat().st_size > 1000


def test_play_takes_a_run_dir_and_refuses_bad_input_by_name(tiny_runs, tmp_path, capsys):
    assert main(["play", str(tiny_runs / "pearl"), "--video", str(tmp_path / "r.mp4"), "--seconds", "0.5", "--no-gif"]) == 0
    assert (tmp_path / "r.mp4").exists() and not (tmp_path / "r.gif").exists()
    for argv, named in (
        (["--payload-schedule", "2:1,1:3"], "times must be >= 0 and increasing"),
        (["--command", "target_velocity=99"], "target_velocity=99"),
    ):
        capsys.readouterr()
        assert main(["play", str(tiny_runs / "pearl"), "--video", str(tmp_path / "x.mp4"), *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and named in err[0], err
    assert not (tmp_path / "x.mp4").exists()  # refused before anything is written
    assert main(["play", str(tmp_path), "--video", str(tmp_path / "y.mp4")]) == 2
    assert "neither a policy dir" in capsys.readouterr().err


def test_eval_video_shows_every_method_side_by_side_on_the_same_change(tiny_runs, tmp_path, capsys):
    """`eval --video`: the online episode of the heaviest held-out payload, one panel per method, the same start
    and the same change; MP4 and a GIF beside it, named in the report."""
    video = tmp_path / "eval.mp4"
    args = ["eval", str(tiny_runs / "rma"), "--episodes", "2", "--repeats", "1", "--out", str(tmp_path / "e.json")]
    assert main([*args, "--video", str(video), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    v = out["video"]
    assert out["files"]["video"] == str(video) and (tmp_path / "eval.gif").stat().st_size > 1000
    assert v["methods"][0] == "rma" and len(v["methods"]) >= 2 and v["change_time_s"] == out["online_change_time_s"]
    reader = iio.get_reader(video)
    first = reader.get_data(0)
    assert reader.count_frames() == v["frames"] == 200 and first.shape[1] == 256 * len(v["methods"])
    panels = np.split(reader.get_data(v["frames"] - 1).astype(int), len(v["methods"]), axis=1)
    assert np.abs(panels[0] - panels[1]).mean() > 0.5  # different policies, different motion by the end


def test_eval_video_on_a_family_without_payload_changes_is_refused_before_any_work(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"algo": "pearl", "task": "half_cheetah_vel", "seed": 0, "config": {}}))
    assert main(["eval", str(run), "--video", str(tmp_path / "v.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "half_cheetah_vel has no held-out payloads" in err[0], err
    assert not (tmp_path / "v.mp4").exists()
