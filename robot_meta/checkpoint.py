"""Checkpoints: state_dicts + JSON + npz arrays, written atomically, loaded without unpickling code.

Layout: `RUN_DIR/checkpoint/iter-000042/{torch.pt, state.json, arrays.npz}` and `checkpoint/latest.json`
naming the newest complete one. A checkpoint directory is written and fsynced in full before
`latest.json` is replaced (temp file, fsync, `os.replace`), so a kill at any moment leaves the previous
checkpoint intact and named. The two newest are kept.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

KEEP = 2


class CheckpointError(RuntimeError):
    """A checkpoint that is missing or unreadable; the message says what and where."""


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes (export's graph hashes, the oracle's record of the DR it started from)."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def save(run_dir: Path, iteration: int, state: dict[str, Any]) -> Path:
    """Write `state` = {"torch": ..., "json": ..., "arrays": ...} as checkpoint `iteration`."""
    root = Path(run_dir) / "checkpoint"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"iter-{iteration:06d}"
    tmp = root / f".iter-{iteration:06d}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    torch.save(state["torch"], tmp / "torch.pt")
    (tmp / "state.json").write_text(json.dumps(state["json"]))
    with open(tmp / "arrays.npz", "wb") as f:
        np.savez(f, **state["arrays"])
    for name in ("torch.pt", "state.json", "arrays.npz"):
        with open(tmp / name, "rb") as f:
            os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    atomic_write_text(root / "latest.json", json.dumps({"iteration": iteration, "dir": final.name}))
    for old in sorted(p for p in root.glob("iter-*") if p.is_dir())[:-KEEP]:
        shutil.rmtree(old, ignore_errors=True)
    clean_partials(run_dir)
    return final


def clean_partials(run_dir: Path) -> list[str]:
    """Remove checkpoint writes that a kill interrupted (`.iter-N.partial`, up to the size of a checkpoint each);
    a run dir has one writer, so any partial there when a run starts or has just saved is stale. Returns names."""
    root = Path(run_dir) / "checkpoint"
    stale = sorted(p for p in root.glob(".iter-*.partial") if p.is_dir()) if root.is_dir() else []
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in stale]


def latest(run_dir: Path) -> Path | None:
    """The newest complete checkpoint directory, or None when there is none."""
    pointer = Path(run_dir) / "checkpoint" / "latest.json"
    if not pointer.exists():
        return None
    try:
        name = json.loads(pointer.read_text())["dir"]
    except (json.JSONDecodeError, KeyError) as exc:
        raise CheckpointError(f"{pointer} is unreadable ({exc}); delete it to fall back to no checkpoint") from None
    path = pointer.parent / name
    if not path.is_dir():
        raise CheckpointError(f"{pointer} names {name}, which does not exist")
    return path


def load_torch(path: Path, device: torch.device | str = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`: tensors and plain containers only. A file that needs anything else
    unpickled (a replaced or malicious file) is refused with one line naming it, never run."""
    import pickle

    try:
        return torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} is not a file this project wrote: it holds objects other than tensors and plain containers, "
            "and unpickling them could run code; refused (replace it with one robot-meta saved)"
        ) from None
    except (OSError, RuntimeError, EOFError, ValueError) as exc:
        raise CheckpointError(f"{path} is unreadable: {str(exc).strip().splitlines()[0][:200]}") from None


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Read a checkpoint directory; torch state with `weights_only=True`, arrays with `allow_pickle=False`."""
    try:
        torch_state = load_torch(path / "torch.pt", device)
        json_state = json.loads((path / "state.json").read_text())
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable: {exc}") from None
    return {"torch": torch_state, "json": json_state, "arrays": arrays}
