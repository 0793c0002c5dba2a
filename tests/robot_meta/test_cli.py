"""The `robot-meta` CLI: help, JSON output, exit codes, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from robot_meta.cli import main


def run(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "robot_meta.cli", *args], capture_output=True, text=True, input=stdin)


def test_help_lists_subcommands():
    out = run("--help")
    assert out.returncode == 0
    for cmd in ("tasks", "bench", "demo"):
        assert cmd in out.stdout


@pytest.mark.parametrize("cmd", ["tasks", "bench", "demo"])
def test_every_subcommand_has_help(cmd):
    out = run(cmd, "--help")
    assert out.returncode == 0 and "usage: robot-meta" in out.stdout


def test_bad_arguments_exit_2_with_one_line():
    out = run("tasks", "--no-such-flag")
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "--no-such-flag" in out.stderr
    out = run("bench", "gpu")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_unknown_family_exit_2_names_it():
    out = run("tasks", "cheeta")
    assert out.returncode == 2
    assert "unknown task family 'cheeta'" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_tasks_json_is_one_object(capsys):
    assert main(["tasks", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = {f["name"] for f in payload["families"]}
    assert {"planar_runner", "quadruped", "planar_arm", "half_cheetah_vel"} <= names


def test_tasks_one_family_json(capsys):
    assert main(["tasks", "quadruped", "--json"]) == 0
    fam = json.loads(capsys.readouterr().out)["family"]
    assert fam["obs_dim"] == 35 and len(fam["action"]["names"]) == 12  # 33 read-outs, 2 commands
    assert [p["name"] for p in fam["params"] if p["role"] == "command"] == ["target_velocity", "target_heading"]


def test_tasks_shows_each_parameters_nominal_value(capsys):
    """The nominal task is what the virtual robot runs and where sensitivity holds the other dynamics: the
    runner's climbs 8 deg, and the table says so."""
    assert main(["tasks", "planar_runner"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("    ")}
    assert rows["slope"][1:4] == ["hidden", "deg", "8"] and rows["target_velocity"][1:4] == ["command", "m/s", "1.5"]


def test_tasks_check_validates_a_task_file(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text('{"family": "planar_runner", "payload_mass": 8.0}')
    assert main(["tasks", "--check", str(good), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["valid"] and out["holdout_regions"] == {"payload_mass": "extrapolation"}
    bad = tmp_path / "bad.json"
    bad.write_text('{"family": "planar_runner", "payload_mass": 80.0}')
    assert main(["tasks", "--check", str(bad)]) == 2
    assert "payload_mass=80.0 kg is outside its allowed range [0.0, 15.0]" in capsys.readouterr().err
    assert main(["tasks", "--check", str(tmp_path / "missing.json")]) == 2
    out = run("tasks", "--check", "-", stdin="{oops")
    assert out.returncode == 2 and "malformed task JSON" in out.stderr


def test_bench_sim_json_keys(capsys):
    assert main(["bench", "sim", "--task", "planar_arm", "--seconds", "0.2", "--num-envs", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    (entry,) = payload["results"]
    assert {"task", "env_steps_per_s", "raw_steps_per_s", "ratio"} <= set(entry)
    assert entry["task"] == "planar_arm" and entry["env_steps_per_s"] > 0 and entry["ratio"] > 0


def test_bench_rejects_unknown_family_before_timing():
    assert main(["bench", "sim", "--task", "nope"]) == 2


def test_demo_runs_the_field_test_of_the_embedded_policies(tmp_path, capsys):
    proto = tmp_path / "short.yaml"
    proto.write_text("settle_s: 0.5\nbaseline_s: 2\nhold_s: 2\nsmooth_s: 0.5\n")
    args = ["demo", "--out", str(tmp_path / "d"), "--episodes", "1", "--train-seconds", "0", "--plan", str(proto)]
    assert main([*args, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert len(payload["families"]) >= 4
    assert (tmp_path / "d" / "demo.json").exists() and (tmp_path / "d" / "splits.png").stat().st_size > 10_000
    assert (tmp_path / "d" / "field" / "report.md").exists() and len(payload["field"]["verdicts"]) == 1
    (entry,) = payload["field"]["comparison"]
    assert entry["payload_kg"] > 6.0  # heavier than any payload of the training range
    assert entry["rl2"]["complete"] and entry["domain_randomized"]["complete"]
    assert (
        payload["field"]["report"].endswith("report.md")
        and "target_velocity': 2.5" in (tmp_path / "d" / "field" / "report.md").read_text()
    )
    from robot_meta.demo import _field_lines

    assert "payload_estimate_after" in entry["rl2"]  # RL²'s manifest reads the payload from its hidden state
    text = "\n".join(_field_lines(payload["field"], ("rl2", "domain_randomized"), 1.0, ".2f"))
    assert text.count("payload read from its belief") == 1 and f"(true {entry['payload_kg']:g})" in text
    (arm,) = payload["field_arm"]["comparison"]  # the arm's pick-up, heavier than training's 1.5 kg
    assert arm["payload_kg"] == 2.2 and arm["rma"]["complete"] and arm["domain_randomized"]["complete"]
    assert (tmp_path / "d" / "field_arm" / "latent.png").exists()
    assert main(["demo", "--out", str(tmp_path / "e"), "--episodes", "0"]) == 2


def test_demo_pipeline_check_trains_exports_and_deploys(tmp_path):
    from robot_meta.demo import pipeline_check
    from tests.tiny import PEARL_SETS

    out = pipeline_check(tmp_path, seconds=1.0, seed=0, progress=False, sets=PEARL_SETS)
    assert out["env_steps"] > 0 and out["parity_max_abs_diff"] < 1e-5
    assert out["deploy"]["reason"] == "duration" and out["deploy"]["ticks"] >= 50


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["train", "--algo", "pearl", "--task", "planar_arm", "--steps", "10", "--seed", "-1"], "--seed: -1 is not a seed"),
        (["train", "--algo", "pearl", "--task", "planar_arm", "--steps", "10", "--seed", str(2**70)], "is not a seed"),
        (["train", "--algo", "pearl", "--task", "planar_arm", "--steps", "10", "--max-minutes", "nan"], "--max-minutes: nan"),
        (["train", "--algo", "pearl", "--task", "planar_arm", "--steps", "0"], "--steps: 0 must be an integer >= 1"),
        (["sim2sim", "POLICY", "--sim-dt", "0"], "--sim-dt: 0 must be a finite number > 0"),
        (["sim2sim", "POLICY", "--tasks", "-3"], "--tasks: -3 must be an integer >= 1"),
        (["deploy", "POLICY", "--port", "loop://", "--duration", "nan"], "--duration: nan must be a finite number > 0"),
        (["deploy", "POLICY", "--port", "loop://", "--max-delta", "-1"], "--max-delta: -1 must be a finite number > 0"),
        (
            ["deploy", "POLICY", "--port", "loop://", "--command", "target_velocity=nan"],
            "target_velocity=nan must be a finite number",
        ),
        (["bench", "bridge", "--task", "planar_arm"], "--task planar_arm: bench bridge runs a 12-joint loop"),
    ],
)
def test_bad_numbers_are_refused_by_name_and_nothing_is_written(tmp_path, capsys, args, named):
    """Issue 17: values that gave tracebacks, ran forever or ran nothing with exit 0 are one line and exit 2."""
    args = [a.replace("POLICY", str(tmp_path / "policy")) for a in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "run")]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert list(tmp_path.iterdir()) == []  # no run dir, nothing half-written


class _Evil:
    """A pickle that would create a file if it were ever unpickled."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_a_malicious_checkpoint_or_baseline_is_refused_in_one_line_and_never_run(tiny_runs, tmp_path, capsys):
    """Issue 17: a checkpoint or baseline file replaced by a pickle that runs code is refused by every command that
    reads one, with one line naming the file and exit 2, and the code never runs."""
    import shutil

    import torch

    run = tmp_path / "run"
    shutil.copytree(tiny_runs / "pearl", run)
    marker = tmp_path / "PWNED"
    latest = sorted((run / "checkpoint").glob("iter-*"))[-1]
    torch.save({"nets": _Evil(str(marker))}, latest / "torch.pt")
    (run / "baselines").mkdir(exist_ok=True)
    torch.save({"policy": _Evil(str(marker)), "meta": "{}"}, run / "baselines" / "dr.pt")
    for args in (
        ["export", str(run), "--out", str(tmp_path / "p1")],
        ["export", str(run), "--baseline", "dr", "--out", str(tmp_path / "p2")],
        ["eval", str(run), "--episodes", "2", "--repeats", "1"],
        ["train", "--algo", "pearl", "--task", "planar_runner", "--out", str(run), "--steps", "400", "--resume"],
    ):
        capsys.readouterr()
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is not a file this project wrote" in err[0], err
        assert "torch.pt" in err[0] or "dr.pt" in err[0], err
    assert not marker.exists() and not (tmp_path / "p1").exists() and not (tmp_path / "p2").exists()


def test_an_unexpected_error_is_one_line_and_its_traceback_only_with_debug(monkeypatch, capsys):
    """Issue 17: a bug is not a 30-line traceback for a user: one line naming the exception, exit 1, and the
    hint to rerun with --debug, which prints the traceback (--debug goes anywhere on the line)."""
    from robot_meta.cli import tasks

    def broken(args):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(tasks, "cmd_tasks", broken)
    assert main(["tasks"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error: ZeroDivisionError: float division by zero" in err[0], err
    assert "--debug" in err[0]
    for argv in (["--debug", "tasks"], ["tasks", "--debug"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and "in broken" in err


def test_known_errors_of_any_command_map_to_their_exit_code(monkeypatch, capsys):
    """A typed error is one line wherever it is raised: bad input exit 2, a failed run exit 1."""
    from firmware_bridge.link import LinkError
    from robot_meta.cli import tasks
    from sim_tasks.params import TaskParamError

    for exc, code in (
        (TaskParamError("payload_mass=99 is outside [0, 15]"), 2),
        (LinkError("link closed"), 1),
        (FileNotFoundError(2, "No such file or directory", "x.json"), 2),
        (OSError(28, "No space left"), 1),
    ):
        monkeypatch.setattr(tasks, "cmd_tasks", lambda args, exc=exc: (_ for _ in ()).throw(exc))
        assert main(["tasks"]) == code, exc
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("robot-meta tasks: error: "), err


BINARY = bytes(range(128, 256)) * 4  # not UTF-8 text


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["tasks", "--check", "FILE"], "bad.yaml is not UTF-8 text"),
        (["train", "--algo", "pearl", "--task", "planar_arm", "--config", "FILE", "--out", "RUN"], "bad.yaml is not UTF-8"),
        (["field", "POLICY", "--port", "virtual", "--out", "RUN", "--plan", "FILE"], "bad.yaml is not UTF-8 text"),
        (["field", "POLICY", "--port", "virtual", "--out", "RUN", "--plan", "TAG"], "tag.yaml is not a valid YAML/JSON"),
    ],
)
def test_files_that_are_not_text_or_not_plain_yaml_are_refused_by_name(tmp_path, capsys, args, named):
    """Issue 17: a binary file given as a config, task or field plan, or a plan with a Python tag, is one line
    naming the file, exit 2, nothing written (they were internal errors)."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.yaml").write_bytes(BINARY)
    (tmp_path / "in" / "tag.yaml").write_text(f"hold_s: !!python/object/apply:pathlib.Path.touch ['{tmp_path / 'PWNED'}']\n")
    policy = Path(__file__).resolve().parents[2] / "robot_meta" / "assets" / "planar_runner_pearl"
    subs = {
        "FILE": tmp_path / "in" / "bad.yaml",
        "TAG": tmp_path / "in" / "tag.yaml",
        "RUN": tmp_path / "out",
        "POLICY": policy,
    }
    assert main([str(subs.get(a, a)) for a in args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no run or report dir, no PWNED


def test_train_says_when_an_iteration_overruns_the_budget_and_reports_progress_in_a_log(tmp_path, capsys):
    """Issue 20: PEARL's first iteration collects every training task's initial steps; with --steps below that,
    a note says so before it starts; with stderr not a terminal, progress comes as lines with steps/s."""
    from tests.tiny import PEARL_SETS

    sets = [a for s in PEARL_SETS for a in ("--set", s)]
    argv = ["train", "--algo", "pearl", "--task", "planar_runner", "--out", str(tmp_path / "r"), "--steps", "200", *sets]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "the next pearl iteration collects 1,920 env steps (initial_steps=30 on each of the 60 training tasks" in err
    assert "past --steps 200" in err
    assert "[train] pearl planar_runner: 1,920/200 env steps (100%)" in err and "steps/s" in err
