"""Editing an exported policy dir in a test as someone would by hand: the manifest rewritten and its line in
SHA256SUMS updated (as `sha256sum manifest.json` would give it), so that the checks after the digest's are what
the test meets: a digest that matches does not make a bad value acceptable."""

import hashlib
import json
from pathlib import Path
from typing import Any

from deploy.manifest import DIGEST_FILE


def write_manifest(policy_dir: Path, manifest: Any) -> None:
    """Write `manifest` (a dict, or raw text) as the dir's manifest.json and record its sha256 in SHA256SUMS."""
    policy_dir = Path(policy_dir)
    data = (manifest if isinstance(manifest, str) else json.dumps(manifest)).encode()
    (policy_dir / "manifest.json").write_bytes(data)
    sums = policy_dir / DIGEST_FILE
    lines = [ln for ln in (sums.read_text().splitlines() if sums.exists() else []) if not ln.endswith("  manifest.json")]
    sums.write_text("".join(f"{ln}\n" for ln in [*lines, f"{hashlib.sha256(data).hexdigest()}  manifest.json"]))
