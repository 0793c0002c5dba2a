"""Training logs: `metrics.jsonl` (one JSON object per iteration), TensorBoard scalars and, when asked for and
installed, Weights & Biases (the same grouped names, against env steps)."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

# The same quantity under the same TensorBoard name whatever the algorithm, so runs overlay: the return and the
# tracking error of the policy as it acts in training (PEARL's posterior, RL²'s and RMA's mean), then its prior-only
# counterpart (adapt/), and the held-out check (eval/).
COMMON_TAGS = {
    "return_posterior": "train/return",
    "return_mean": "train/return",
    "tracking_error_posterior": "train/tracking_error",
    "tracking_error": "train/tracking_error",
    "return_prior": "adapt/return_prior_only",
    "tracking_error_prior": "adapt/tracking_error_prior_only",
}
TIME_KEYS = ("env_steps_per_s", "updates_per_s", "wall_s", "updates", "iteration")


def tensorboard_tag(key: str) -> str:
    """A metrics.jsonl key as a grouped TensorBoard tag: train/, adapt/, eval/ or time/."""
    if key in COMMON_TAGS:
        return COMMON_TAGS[key]
    if key.startswith("test_"):
        return "eval/" + key.removeprefix("test_")
    if key in TIME_KEYS:
        return "time/" + key
    if key.startswith("return_episode_"):  # RL²'s return per episode of a trial: adaptation across episodes
        return "adapt/" + key
    return "train/" + key


class RunLogger:
    """Appends metrics; on resume, drops what was logged after the checkpoint so the run dir stays consistent.

    Args:
        run_dir: the run directory.
        resume_iteration: the checkpoint's iteration when resuming (lines after it are removed and
            TensorBoard events after it are purged), else None.
    """

    def __init__(self, run_dir: Path, resume_iteration: int | None = None, wandb_project: str | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.path = Path(run_dir) / "metrics.jsonl"
        if resume_iteration is not None and self.path.exists():
            kept = []
            for line in self.path.read_text().splitlines():
                try:
                    if json.loads(line).get("iteration", 0) <= resume_iteration:
                        kept.append(line)
                except json.JSONDecodeError:
                    break  # a line cut by a kill: everything after it is dropped too
            self.path.write_text("".join(k + "\n" for k in kept))
        self._file = open(self.path, "a")
        # TensorBoard's x axis is env steps (comparable across algorithms and budgets): on resume, purge what
        # was written after the checkpoint's env steps
        purge = None
        if resume_iteration is not None:
            kept_steps = [r.get("env_steps", 0) for r in read_metrics(Path(run_dir))]
            purge = (kept_steps[-1] if kept_steps else 0) + 1
        self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge)
        self.wandb = WandbRun(Path(run_dir), wandb_project) if wandb_project else None

    def log(self, metrics: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        step = int(metrics.get("env_steps", metrics.get("iteration", 0)))
        scalars = {
            tensorboard_tag(k): float(v)
            for k, v in metrics.items()
            if not isinstance(v, bool) and isinstance(v, int | float) and k != "env_steps" and math.isfinite(float(v))
        }
        for tag, v in scalars.items():
            self.tb.add_scalar(tag, v, step)
        self.tb.flush()
        if self.wandb is not None:
            self.wandb.log(scalars, step)

    def hyperparameters(self, record: dict[str, Any]) -> None:
        """The run's config record (algorithm, family, seed, every setting) as TensorBoard text."""
        self.tb.add_text("config", "```\n" + json.dumps(record, indent=2, default=str) + "\n```", 0)
        self.tb.flush()
        if self.wandb is not None:
            self.wandb.config(record)

    def close(self) -> None:
        self._file.close()
        self.tb.close()
        if self.wandb is not None:
            self.wandb.close()


class WandbRun:
    """A Weights & Biases run for a run dir: its id is kept in RUN_DIR/wandb.json, so a resumed training goes on
    in the same W&B run; scalars are plotted against `env_steps` (a defined step metric, not W&B's own step,
    which must only grow: a resume rewinds to its checkpoint). `WANDB_MODE=offline` logs to RUN_DIR/wandb for
    `wandb sync` later. Needs `pip install wandb` (the CLI checks before anything is written)."""

    def __init__(self, run_dir: Path, project: str) -> None:
        import wandb

        meta_path = run_dir / "wandb.json"
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if meta.get("project") != project:
            meta = {"project": project, "id": uuid.uuid4().hex[:12]}  # W&B run ids: letters and digits
            meta_path.write_text(json.dumps(meta))
        self.run = wandb.init(project=project, id=meta["id"], resume="allow", dir=str(run_dir), name=run_dir.name)
        self.run.define_metric("env_steps")
        self.run.define_metric("*", step_metric="env_steps")

    def config(self, record: dict[str, Any]) -> None:
        self.run.config.update(record, allow_val_change=True)

    def log(self, scalars: dict[str, float], env_steps: int) -> None:
        self.run.log({**scalars, "env_steps": env_steps})

    def close(self) -> None:
        self.run.finish()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def training_wall_s(rows: list[dict[str, Any]]) -> float:
    """Wall-clock seconds of training the logged iterations took: `wall_s` counts from each `train` call's start,
    so a resumed run's rows restart from zero; the sum of each call's last value."""
    total, last = 0.0, 0.0
    for row in rows:
        wall = float(row.get("wall_s", last))
        if wall < last:  # a resume: the previous call ended at `last`
            total += last
        last = wall
    return total + last
