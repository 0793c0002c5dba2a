"""Training logs: `metrics.jsonl` (one JSON object per iteration) and TensorBoard scalars."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


class RunLogger:
    """Appends metrics; on resume, drops what was logged after the checkpoint so the run dir stays consistent.

    Args:
        run_dir: the run directory.
        resume_iteration: the checkpoint's iteration when resuming (lines after it are removed and
            TensorBoard events after it are purged), else None.
    """

    def __init__(self, run_dir: Path, resume_iteration: int | None = None) -> None:
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
        purge = None if resume_iteration is None else resume_iteration + 1
        self.tb = SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard"), purge_step=purge)

    def log(self, metrics: dict[str, Any]) -> None:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
        self._file.write(json.dumps(clean) + "\n")
        self._file.flush()
        step = int(metrics.get("iteration", 0))
        for k, v in metrics.items():
            if isinstance(v, int | float) and k != "iteration" and math.isfinite(float(v)):
                self.tb.add_scalar(k, float(v), step)
        self.tb.flush()

    def close(self) -> None:
        self._file.close()
        self.tb.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
