"""The training runner: small enough to read whole (rsl_rl's OnPolicyRunner is the model).

It builds the algorithm from a resolved config, runs iterations until the env-step budget is spent,
logs each one, checkpoints every `checkpoint_every` iterations and at the end, and resumes from the
newest complete checkpoint after a kill.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from robot_meta import __version__, checkpoint
from robot_meta.config import apply, build_config, to_dict
from robot_meta.logger import RunLogger
from robot_meta.registry import algorithm_class
from sim_tasks import BatchedTaskEnv, family_names, get_family, load_family_module

if TYPE_CHECKING:
    from robot_meta.algorithm import MetaAlgorithm


class RunDirError(ValueError):
    """The run directory cannot be used as asked (exists without --resume, or has a foreign config)."""


def git_sha() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def make_batched_env(family: Any):

    def make(tasks, seed):
        return BatchedTaskEnv(family, list(tasks), seed=seed, resample_commands=True)

    return make


def family_of(task: str, module: str | None = None) -> Any:
    """The task family `task`; a family of the user's own (`family_module`, recorded in the run's config.json)
    is imported first, so that eval and export of such a run need no flag."""

    if module and task not in family_names():
        load_family_module(module)
    return get_family(task)


def build(algo: str, task: str, seed: int, device: torch.device, cfg: Any, family_module: str | None = None) -> MetaAlgorithm:
    family = family_of(task, family_module)
    split = family.split()
    cls = algorithm_class(algo)
    if getattr(cfg, "threads", 0) > 0:
        torch.set_num_threads(cfg.threads)
    return cls(make_batched_env(family), list(split.train), cfg, seed=seed, device=device, test_tasks=list(split.test))


class ProgressLines:
    """Progress for a log file or a pipe (no terminal to redraw a bar on): one line every `every_s` seconds, and
    one after the first iteration, with env steps, steps/s and the time left at that rate."""

    def __init__(self, total: int, done: int, what: str, every_s: float = 30.0) -> None:
        self.total, self.what, self.every_s = total, what, every_s
        self.t0, self.done0 = time.perf_counter(), done
        self.last_print: float | None = None

    def update(self, done: int, iteration: int, ret: float) -> None:
        now = time.perf_counter()
        if self.last_print is not None and now - self.last_print < self.every_s and done < self.total:
            return
        self.last_print = now
        rate = (done - self.done0) / max(now - self.t0, 1e-9)
        left = max(self.total - done, 0) / rate if rate > 0 else float("inf")
        eta = "?" if left == float("inf") else time.strftime("%H:%M:%S", time.gmtime(left))
        print(
            f"[train] {self.what}: {done:,}/{self.total:,} env steps ({100 * min(done / self.total, 1):.0f}%), "
            f"{rate:,.0f} steps/s, ETA {eta} (at most: --max-minutes may stop it first); iteration {iteration}, "
            f"return {ret:.1f}",
            file=sys.stderr,
            flush=True,
        )


def train(
    algo: str,
    task: str,
    out: Path,
    steps: int,
    seed: int,
    device: torch.device,
    config_file: str | None = None,
    sets: tuple[str, ...] = (),
    resume: bool = False,
    progress: bool | str = True,
    max_minutes: float | None = None,
    wandb_project: str | None = None,
) -> dict[str, Any]:
    """Train (or resume) a run in `out` until `steps` env steps, or until `max_minutes` of wall-clock time in
    this call (checked after each iteration). `progress`: True a bar (a terminal), "lines" a line every 30 s
    (a log file or a pipe), False nothing. `wandb_project`: also log to that Weights & Biases project.
    Returns a summary: final metrics, where things are."""
    out = Path(out)
    cfg_cls = algorithm_class(algo).config_class
    config_path = out / "config.json"
    if resume:
        if not config_path.exists():
            raise RunDirError(f"--resume: {out} has no config.json; start a new run without --resume")
        if config_file or sets:
            raise RunDirError("--resume continues with the run's own config.json; drop --config/--set")
        saved = json.loads(config_path.read_text())
        if saved["algo"] != algo or saved["task"] != task:
            raise RunDirError(f"--resume: {out} holds a {saved['algo']} run on {saved['task']}, not {algo} on {task}")
        cfg = build_config(cfg_cls(), None, ())

        cfg = apply(cfg, saved["config"])
        seed, steps = saved["seed"], max(steps, saved["steps"])
    else:
        if out.exists() and any(out.iterdir()):
            raise RunDirError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        cfg = build_config(cfg_cls(), config_file, sets)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "algo": algo,
        "task": task,
        "seed": seed,
        "steps": steps,
        "device": str(device),
        "config": to_dict(cfg),
        "version": __version__,
        "git_sha": git_sha(),
        "family_module": type(family_of(task)).__module__,
        "command": " ".join(["robot-meta", *sys.argv[1:]]) if sys.argv and "robot-meta" in sys.argv[0] else None,
    }
    checkpoint.atomic_write_text(config_path, json.dumps(record, indent=2))

    algorithm = build(algo, task, seed, device, cfg)
    checkpoint.clean_partials(out)  # what a kill left half-written: this run writes its own checkpoints
    ckpt = checkpoint.latest(out) if resume else None
    if ckpt is not None:
        algorithm.load_state_dict(checkpoint.load(ckpt, device))
    logger = RunLogger(out, resume_iteration=algorithm.iteration if resume else None, wandb_project=wandb_project)
    if not resume:
        logger.hyperparameters(record)
    elif logger.wandb is not None:
        logger.wandb.config(record)  # a W&B run first opened by a resume still gets the settings
    from tqdm import tqdm

    upcoming = algorithm.next_iteration_steps()
    if upcoming is not None and algorithm.env_steps + upcoming[0] > steps:
        print(
            f"[train] note: the next {algo} iteration collects {upcoming[0]:,} env steps ({upcoming[1]}), past "
            f"--steps {steps:,}: an iteration is not cut short, so the run stops after it with "
            f"{algorithm.env_steps + upcoming[0]:,}",
            file=sys.stderr,
        )
    bar = tqdm(
        total=steps,
        initial=min(algorithm.env_steps, steps),
        unit="step",
        desc=f"{algo} {task}",
        file=sys.stderr,
        disable=progress is not True,
        dynamic_ncols=True,
    )
    lines = ProgressLines(steps, algorithm.env_steps, f"{algo} {task}") if progress == "lines" else None
    start = time.perf_counter()
    last: dict[str, Any] = {}
    try:
        deadline = None if max_minutes is None else start + 60.0 * max_minutes
        while algorithm.env_steps < steps and (deadline is None or time.perf_counter() < deadline):
            before = algorithm.env_steps
            last = algorithm.train_iteration()
            last["wall_s"] = round(time.perf_counter() - start, 2)
            logger.log(last)
            bar.update(min(algorithm.env_steps, steps) - min(before, steps))
            ret = last.get("return_posterior", last.get("return_mean", float("nan")))
            bar.set_postfix(ret=f"{ret:.1f}", upd=algorithm.updates)
            if lines is not None:
                lines.update(algorithm.env_steps, algorithm.iteration, ret)
            out_of_time = deadline is not None and time.perf_counter() >= deadline
            if algorithm.iteration % cfg.checkpoint_every == 0 or algorithm.env_steps >= steps or out_of_time:
                checkpoint.save(out, algorithm.iteration, algorithm.state_dict())
    finally:
        bar.close()
        logger.close()
    return {
        "run_dir": str(out),
        "iterations": algorithm.iteration,
        "env_steps": algorithm.env_steps,
        "updates": algorithm.updates,
        "wall_s": round(time.perf_counter() - start, 2),
        "last": last,
    }


def load_run(run_dir: Path, device: torch.device | None = None) -> tuple[MetaAlgorithm, dict[str, Any]]:
    """The trained algorithm of a run dir at its newest checkpoint, and the run's config record."""

    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise RunDirError(f"{run_dir} is not a run directory (no config.json); train one with robot-meta train")
    record = json.loads(config_path.read_text())
    cfg = apply(algorithm_class(record["algo"]).config_class(), record["config"])
    device = device or torch.device("cpu")
    algorithm = build(record["algo"], record["task"], record["seed"], device, cfg, record.get("family_module"))
    ckpt = checkpoint.latest(run_dir)
    if ckpt is None:
        raise RunDirError(f"{run_dir} has no checkpoint yet; let training reach its first checkpoint or resume it")
    algorithm.load_state_dict(checkpoint.load(ckpt, device))
    return algorithm, record
