"""docs/scripts/adopt_baselines.py: a variant's cached baselines become the family's only when the two are the same
family, and the adopted cache is then used as it is (no retraining), its oracle still pointing at its DR."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "docs" / "scripts"
TRAIN = """
import sys
from pathlib import Path
from robot_meta.baselines import BaselineConfig
from robot_meta.eval_run import ensure_population_baselines
from robot_meta.train import family_of
fam = family_of(sys.argv[1], sys.argv[3] if len(sys.argv) > 3 else None)
cfg = BaselineConfig(steps=64, n_envs=2, hidden=(8,), algo="ppo", ppo_n_steps=32, ppo_batch_size=32, ppo_epochs=1)
ensure_population_baselines(Path(sys.argv[2]), fam, cfg, 0)
"""


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join((str(SCRIPTS), str(ROOT))), "OMP_NUM_THREADS": "1", **env}
    for k in ("SPEEDS", "SMOOTH", "GEAR_SCALE", "MOUNT_X", "STIFFNESS", "PD", "SLOPES"):
        if f"RUNNER_{k}" not in env:
            full.pop(f"RUNNER_{k}", None)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full, timeout=600)


def test_adopted_baselines_are_used_as_they_are(tmp_path):
    src, dst = tmp_path / "variant", tmp_path / "family"
    same = {"RUNNER_SPEEDS": "1.5,3", "RUNNER_SMOOTH": "0.2"}  # the family's own: this variant is planar_runner renamed
    out = _run(["-c", TRAIN, "planar_runner_v15to30_smooth20", str(src), "runner_variant_family"], **same)
    assert out.returncode == 0, out.stderr
    adopt = [str(SCRIPTS / "adopt_baselines.py"), "--family-module", "runner_variant_family"]

    smooth = _run(
        [*adopt, "planar_runner_v15to30_smooth0", "planar_runner", str(src), str(dst)], **(same | {"RUNNER_SMOOTH": "0"})
    )
    assert smooth.returncode != 0 and "differ in observations, rewards or tracking errors" in smooth.stderr
    assert not dst.exists()  # nothing written
    other = _run(
        [*adopt, "planar_runner_v20to30_smooth20", "planar_runner", str(src), str(dst)], **(same | {"RUNNER_SPEEDS": "2,3"})
    )
    assert other.returncode != 0 and "differ in params" in other.stderr and not dst.exists()

    ok = _run([*adopt, "planar_runner_v15to30_smooth20", "planar_runner", str(src), str(dst)], **same)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in dst.iterdir()) == ["dr_ppo.pt", "oracle_ppo.pt"]
    stamped = {p.name: p.stat().st_mtime_ns for p in dst.iterdir()}
    used = _run(["-c", TRAIN + "print('loaded')", "planar_runner", str(dst)])
    assert used.returncode == 0 and "loaded" in used.stdout, used.stderr
    assert "training the" not in used.stderr and "retraining" not in used.stderr  # the cache was taken as it is
    assert {p.name: p.stat().st_mtime_ns for p in dst.iterdir()} == stamped
    meta = _run(
        ["-c", f"from robot_meta.baselines import read_meta; import json; print(json.dumps(read_meta('{dst}/oracle_ppo.pt')))"]
    )
    adopted = json.loads(meta.stdout)
    assert adopted["family"] == "planar_runner" and adopted["adopted_from"]["family"] == "planar_runner_v15to30_smooth20"
    assert adopted["adopted_from"]["path"] == str(src / "oracle_ppo.pt")
