"""The layers and contracts of docs/architecture.md, held by import-linter (setup.cfg's [importlinter])."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(lint), "--config", str(ROOT / "setup.cfg")], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "0 broken" in out.stdout, out.stdout[-4000:] + out.stderr[-2000:]


def test_the_robot_computer_side_imports_no_training_stack():
    """What `import deploy.*` pulls in at run time (import-linter reads the source; this checks the process)."""
    code = (
        "import sys, deploy.runtime, deploy.control, deploy.field, deploy.robot_io, deploy.telemetry, deploy.metrics; "
        "bad = {'torch', 'mujoco', 'robot_meta', 'sim_tasks', 'stable_baselines3'} & {m.split('.')[0] for m in sys.modules}; "
        "print(sorted(bad)); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
