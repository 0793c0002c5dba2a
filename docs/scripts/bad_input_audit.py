"""Issue 17's bad-input audit: each class of bad input the issue lists, given to a checkout's `robot-meta` in a
subprocess, and the outcome classified; then kills of a logging deploy and what opens the killed logs.

    python docs/scripts/bad_input_audit.py [--tree DIR] [--out AUDIT.json] [--only CLASS] [--kills N]
    python docs/scripts/bad_input_audit.py --table BEFORE.json AFTER.json     (the markdown table of two audits)

`--tree` is the checkout audited (default: this one); its `robot-meta` runs as `python -m robot_meta.cli` with
PYTHONPATH=DIR, with this venv's packages. The robot is this checkout's virtual robot (real MuJoCo, a pty),
served from this process and counting the ARM frames it gets: the host side is what is audited. The fixtures (a
tiny PEARL run and its export) are made by the audited tree itself.

Outcomes: `refused` (exit 2, one stderr line naming the value or field), `refused, unnamed` (non-zero exit
without a traceback, the line does not name it), `accepted` (exit 0), `traceback`, `internal error` (one line,
exit 1: an unexpected exception), `hang` (no exit within the timeout), `CODE RAN` (a pickle's or YAML tag's
payload created its marker file), `+ ARMED` (the virtual robot was armed). Every case here should be refused.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))

PEARL_SETS = [  # tests/tiny.py's, spelled out: the audited tree may predate any of its changes
    "initial_steps=30", "steps_prior=30", "steps_posterior=30", "updates_per_iteration=3", "tasks_per_iteration=2",
    "hidden=16", "encoder_hidden=16", "meta_batch=2", "batch_size=8", "context_batch=6", "eval_every=0", "window=8",
]  # fmt: skip


@dataclass
class Case:
    cls: str
    name: str
    argv: Callable[[Ctx], list[str]]  # robot-meta's arguments, given the context
    names: tuple[str, ...]  # the refusal line must contain one of these
    deploy: bool = False  # run against a freshly booted virtual robot ({port} in argv)
    timeout: float = 60.0


class Ctx:
    """The audited tree's fixtures and a scratch dir per case."""

    def __init__(self, tree: Path, work: Path) -> None:
        self.tree, self.work = tree, work
        self.env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
        self.run, self.policy = work / "run", work / "policy"
        self.marker = work / "PWNED"
        self.port = ""
        self._n = 0

    def cli(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "robot_meta.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.work,
        )

    def fresh(self, stem: str) -> Path:
        self._n += 1
        return self.work / f"{stem}{self._n:03d}"

    def setup(self) -> None:
        sets = [a for s in PEARL_SETS for a in ("--set", s)]
        r = self.cli("train", "--algo", "pearl", "--task", "planar_runner", "--out", str(self.run), "--steps", "200", *sets)
        assert r.returncode == 0, r.stderr[-2000:]
        r = self.cli("export", str(self.run), "--out", str(self.policy))
        assert r.returncode == 0, r.stderr[-2000:]

    # ---- policy dirs edited as a careless user or a corruption would ----
    def policy_copy(self) -> Path:
        d = self.fresh("policy_")
        shutil.copytree(self.policy, d, symlinks=True)
        return d

    def edited(self, edit: Callable[[dict], object], reseal: bool = True) -> Path:
        """A copy of the policy dir with its manifest edited; `reseal`: its SHA256SUMS line updated too (as
        `sha256sum` would), so that what meets the edit is the value checks, not the digest."""
        d = self.policy_copy()
        raw = json.loads((d / "manifest.json").read_text())
        out = edit(raw)
        raw = raw if out is None else out
        data = json.dumps(raw).encode()
        (d / "manifest.json").write_bytes(data)
        sums = d / "SHA256SUMS"
        if reseal and sums.exists():
            import hashlib

            lines = [ln for ln in sums.read_text().splitlines() if not ln.endswith("  manifest.json")]
            lines.append(f"{hashlib.sha256(data).hexdigest()}  manifest.json")
            sums.write_text("".join(f"{ln}\n" for ln in lines))
        return d

    def graph_file(self, file: str, prepare: Callable[[Path], None] | None = None) -> Path:
        def edit(m: dict) -> None:
            m["graphs"]["policy"]["file"] = file

        d = self.edited(edit)
        if prepare is not None:
            prepare(d)
        return d

    def evil_run(self, checkpoint: bool = True) -> Path:
        """The run with its newest checkpoint (unless not `checkpoint`) and its baseline caches replaced by pickles
        that touch a marker."""
        import torch

        class Evil:
            def __reduce__(self):
                return (Path.touch, (self.marker,))

        Evil.marker = self.marker  # type: ignore[attr-defined]
        d = self.fresh("evil_run_")
        shutil.copytree(self.run, d)
        latest = sorted((d / "checkpoint").glob("iter-*"))[-1]
        for pt in latest.glob("*.pt") if checkpoint else ():
            torch.save({"nets": Evil()}, pt)
        (d / "baselines").mkdir(exist_ok=True)
        for stem in ("dr", "oracle", "dr_ppo", "oracle_ppo"):
            torch.save({"policy": Evil(), "meta": "{}"}, d / "baselines" / f"{stem}.pt")
        return d

    def file(self, name: str, data: bytes | str) -> Path:
        p = self.fresh("f_").with_suffix("") / name
        p.parent.mkdir(parents=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
        return p

    def train(self, *extra: str) -> list[str]:
        sets = [a for s in PEARL_SETS for a in ("--set", s)]
        return ["train", "--algo", "pearl", "--task", "planar_runner", "--out", str(self.fresh("train_")), "--steps", "200",
                *sets, *extra]  # fmt: skip


def deploy(policy: Callable[[Ctx], Path] | None = None, *extra: str) -> Callable[[Ctx], list[str]]:
    def argv(c: Ctx) -> list[str]:
        d = policy(c) if policy else c.policy
        return ["deploy", str(d), "--port", c.port, "--duration", "1.0", *(extra or ("--target", "target_velocity=1.5"))]

    return argv


def _set(path: str, value: object) -> Callable[[dict], None]:
    def edit(m: dict) -> None:
        keys = path.split(".")
        node = m
        for k in keys[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[keys[-1]] = value

    return edit


def _drop(path: str) -> Callable[[dict], None]:
    def edit(m: dict) -> None:
        keys = path.split(".")
        node = m
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]

    return edit


def _fifo(name: str) -> Callable[[Path], None]:
    def prepare(d: Path) -> None:
        (d / name).unlink(missing_ok=True)
        os.mkfifo(d / name)

    return prepare


def _nest(depth: int) -> str:
    return '{"family": "planar_runner", "x": ' + "[" * depth + "]" * depth + "}"


NAN, INF = float("nan"), float("inf")
CASES: list[Case] = [
    # -- a corrupted manifest (its digest updated: the value checks must hold on their own)
    Case("manifest values", "action.scale 1e308", deploy(lambda c: c.edited(_set("action.scale", [1e308] * 6))), ("scale",), True),
    Case("manifest values", "action.scale NaN", deploy(lambda c: c.edited(_set("action.scale", [NAN] * 6))), ("scale",), True),
    Case("manifest values", "ctrl_dt NaN", deploy(lambda c: c.edited(_set("ctrl_dt", NAN))), ("ctrl_dt",), True),
    Case("manifest values", "ctrl_dt 0", deploy(lambda c: c.edited(_set("ctrl_dt", 0.0))), ("ctrl_dt",), True),
    Case("manifest values", "ctrl_dt -0.05", deploy(lambda c: c.edited(_set("ctrl_dt", -0.05))), ("ctrl_dt",), True),
    Case("manifest values", "ctrl_dt 1e308", deploy(lambda c: c.edited(_set("ctrl_dt", 1e308))), ("ctrl_dt",), True),
    Case("manifest values", "ctrl_high 1e30", deploy(lambda c: c.edited(_set("action.ctrl_high", [1e30] * 6))), ("ctrl_high",), True),
    Case("manifest values", "sim_dt 0", deploy(lambda c: c.edited(_set("sim_dt", 0.0))), ("sim_dt",), True),
    Case("manifest values", "adaptation.window 1e9", deploy(lambda c: c.edited(_set("adaptation.window", 10**9))), ("window",), True),
    Case("manifest values", "max_tilt_deg -5", deploy(lambda c: c.edited(_set("robot.safety.max_tilt_deg", -5.0))), ("max_tilt",), True),
    Case("manifest values", "kd 1e12", deploy(lambda c: c.edited(_set("robot.command.kd", [1e12] * 6))), ("kd",), True),
    Case("manifest values", "missing joints", deploy(lambda c: c.edited(_drop("joints"))), ("joints",), True),
    Case("manifest values", "missing observation", deploy(lambda c: c.edited(_drop("observation"))), ("observation",), True),
    Case("manifest values", "missing family", deploy(lambda c: c.edited(_drop("family"))), ("family",), True),
    Case("manifest values", "missing graphs.policy.file", deploy(lambda c: c.edited(_drop("graphs.policy.file"))), ("file",), True),
    Case("manifest values", "a list as manifest", deploy(lambda c: c.edited(lambda m: [m])), ("list",), True),
    Case("manifest values", "action: null", deploy(lambda c: c.edited(_set("action", None))), ("action",), True),
    Case("manifest values", "format_version 99", deploy(lambda c: c.edited(_set("format_version", 99))), ("format_version",), True),
    # -- the manifest changed after export, its digest not (the "not covered by any hash")
    Case("digest", "tilt limit edited, digest not", deploy(lambda c: c.edited(_set("robot.safety.max_tilt_deg", 179.0), reseal=False)), ("SHA256SUMS", "sha256"), True),
    Case("digest", "torque per ctrl x100, digest not", deploy(lambda c: c.edited(lambda m: m["robot"]["command"].update(target_per_ctrl=[100 * v for v in m["robot"]["command"]["target_per_ctrl"]]), reseal=False)), ("SHA256SUMS", "sha256"), True),
    Case("digest", "graph replaced", deploy(lambda c: (lambda d: ((d / "policy.onnx").write_bytes(b"\x08\x07garbage"), d)[1])(c.policy_copy())), ("sha256",), True),
    # -- commands and the operator's flags
    Case("commands", "--target target_velocity=nan", deploy(None, "--target", "target_velocity=nan"), ("target_velocity",), True),
    Case("commands", "--target target_velocity=99", deploy(None, "--target", "target_velocity=99"), ("target_velocity",), True),
    Case("commands", "--target nope=1", deploy(None, "--target", "nope=1"), ("nope",), True),
    Case("commands", "--max-delta nan", deploy(None, "--target", "target_velocity=1.5", "--max-delta", "nan"), ("max-delta", "nan"), True),
    Case("commands", "--max-delta -1", deploy(None, "--target", "target_velocity=1.5", "--max-delta", "-1"), ("max-delta", "-1"), True),
    Case("commands", "--duration nan", deploy(None, "--target", "target_velocity=1.5", "--duration", "nan"), ("duration", "nan"), True, 20.0),
    # -- graph paths out of the policy dir
    Case("graph paths", "../../etc/passwd", deploy(lambda c: c.graph_file("../../etc/passwd")), ("../../etc/passwd", "graphs.policy"), True),
    Case("graph paths", "/etc/passwd", deploy(lambda c: c.graph_file("/etc/passwd")), ("/etc/passwd", "graphs.policy"), True),
    Case("graph paths", "symlink out", deploy(lambda c: c.graph_file("link.onnx", lambda d: os.symlink("/etc/passwd", d / "link.onnx"))), ("link.onnx", "symbolic"), True),
    Case("graph paths", "/dev/zero", deploy(lambda c: c.graph_file("/dev/zero")), ("/dev/zero", "graphs.policy"), True, 30.0),
    Case("graph paths", "FIFO as graph", deploy(lambda c: c.graph_file("fifo.onnx", _fifo("fifo.onnx"))), ("fifo.onnx",), True, 20.0),
    Case("graph paths", "FIFO as manifest.json", deploy(lambda c: (lambda d: (_fifo("manifest.json")(d), d)[1])(c.policy_copy())), ("manifest.json",), True, 20.0),
    # -- pickles that would run code
    Case("pickles", "export", lambda c: ["export", str(c.evil_run()), "--out", str(c.fresh("p_"))], ("torch.pt", "not a file this project wrote", ".pt")),
    Case("pickles", "eval", lambda c: ["eval", str(c.evil_run()), "--episodes", "2", "--repeats", "1"], (".pt",)),
    Case("pickles", "train --resume", lambda c: (lambda d: ["train", "--algo", "pearl", "--task", "planar_runner", "--out", str(d), "--steps", "400", "--resume"])(c.evil_run()), (".pt",)),
    Case("pickles", "export --baseline dr", lambda c: ["export", str(c.evil_run(checkpoint=False)), "--baseline", "dr", "--baseline-algo", "sac", "--out", str(c.fresh("p_"))], ("dr.pt",)),
    Case("pickles", "eval --baselines", lambda c: ["eval", str(c.evil_run(checkpoint=False)), "--baselines", "--baseline-algo", "sac", "--episodes", "2", "--repeats", "1", "--scratch-tasks", "0"], (".pt",)),
    # -- configs and --set
    Case("configs", "--set lr=nan", lambda c: c.train("--set", "lr=nan"), ("lr",)),
    Case("configs", "--set lr=inf", lambda c: c.train("--set", "lr=inf"), ("lr",)),
    Case("configs", "--set batch_size=true", lambda c: c.train("--set", "batch_size=true"), ("batch_size",)),
    Case("configs", "--set batch_size=1e20", lambda c: c.train("--set", "batch_size=1e20"), ("batch_size",)),
    Case("configs", "--set buffer_capacity=1e12", lambda c: c.train("--set", "buffer_capacity=1e12"), ("buffer_capacity",)),
    Case("configs", "--set updates_per_iteration=-1", lambda c: c.train("--set", "updates_per_iteration=-1"), ("updates_per_iteration",)),
    Case("configs", "--set hidden=10**12", lambda c: c.train("--set", "hidden=1000000000000"), ("hidden",)),
    Case("configs", "--set expression", lambda c: c.train("--set", f"lr=__import__('pathlib').Path('{c.marker}').touch()"), ("lr",)),
    Case("configs", "binary config file", lambda c: c.train("--config", str(c.file("cfg.yaml", bytes(range(128, 256)) * 4))), ("cfg.yaml",)),
    Case("configs", "YAML python tag", lambda c: c.train("--config", str(c.file("cfg.yaml", f"lr: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{c.marker}']]\n"))), ("cfg.yaml",)),
    Case("configs", "config lr: .nan", lambda c: c.train("--config", str(c.file("cfg.yaml", "lr: .nan\n"))), ("lr",)),
    # -- task JSON
    Case("task JSON", "payload Infinity", lambda c: ["tasks", "--check", str(c.file("t.json", '{"family": "planar_runner", "payload_mass": Infinity}'))], ("payload_mass",)),
    Case("task JSON", "payload NaN", lambda c: ["tasks", "--check", str(c.file("t.json", '{"family": "planar_runner", "payload_mass": NaN}'))], ("payload_mass",)),
    Case("task JSON", "1e400 in an integer field", lambda c: ["tasks", "--check", str(c.file("t.json", '{"family": "planar_runner", "action_latency": 1e400}'))], ("action_latency",)),
    Case("task JSON", "2.5 in an integer field", lambda c: ["tasks", "--check", str(c.file("t.json", '{"family": "planar_runner", "action_latency": 2.5}'))], ("action_latency",)),
    Case("task JSON", "100k-deep nesting", lambda c: ["tasks", "--check", str(c.file("t.json", _nest(100_000)))], ("JSON", "deep", "recursion")),
    Case("task JSON", "binary file", lambda c: ["tasks", "--check", str(c.file("t.json", bytes(range(128, 256))))], ("t.json",)),
    # -- numbers on the command line
    Case("CLI numbers", "train --seed -1", lambda c: c.train("--seed", "-1"), ("seed",)),
    Case("CLI numbers", "train --seed 2**70", lambda c: c.train("--seed", str(2**70)), ("seed",)),
    Case("CLI numbers", "train --max-minutes nan", lambda c: c.train("--max-minutes", "nan"), ("max-minutes",)),
    Case("CLI numbers", "train --steps -5", lambda c: c.train("--steps", "-5"), ("steps",)),
    Case("CLI numbers", "sim2sim --sim-dt 0", lambda c: ["sim2sim", str(c.policy), "--sim-dt", "0", "--tasks", "1"], ("sim-dt",)),
    Case("CLI numbers", "sim2sim --tasks -3", lambda c: ["sim2sim", str(c.policy), "--tasks", "-3"], ("tasks",)),
    Case("CLI numbers", "sim2sim --latency -1", lambda c: ["sim2sim", str(c.policy), "--latency", "-1", "--tasks", "1"], ("latency",)),
    # -- field plans
    Case("field plans", "payload NaN", lambda c: ["field", str(c.policy), "--port", "virtual", "--out", str(c.fresh("field_")), "--plan", str(c.file("plan.yaml", "payloads_kg: [.nan]\n"))], ("payloads_kg", "payload")),
    Case("field plans", "hold_s -1", lambda c: ["field", str(c.policy), "--port", "virtual", "--out", str(c.fresh("field_")), "--plan", str(c.file("plan.yaml", "hold_s: -1\n"))], ("hold_s",)),
    Case("field plans", "binary file", lambda c: ["field", str(c.policy), "--port", "virtual", "--out", str(c.fresh("field_")), "--plan", str(c.file("plan.yaml", bytes(range(128, 256))))], ("plan.yaml",)),
    Case("field plans", "YAML python tag", lambda c: ["field", str(c.policy), "--port", "virtual", "--out", str(c.fresh("field_")), "--plan", str(c.file("plan.yaml", f"hold_s: !!python/object/apply:pathlib.Path.touch ['{c.marker}']\n"))], ("plan.yaml",)),
    Case("field plans", "payload 1e400", lambda c: ["field", str(c.policy), "--port", "virtual", "--out", str(c.fresh("field_")), "--plan", str(c.file("plan.json", '{"payloads_kg": [1e400]}'))], ("payloads_kg", "payload")),
]  # fmt: skip


def classify(c: Ctx, case: Case, proc: subprocess.CompletedProcess | None, armed: int) -> tuple[str, str]:
    """(outcome, the stderr line it rests on)."""
    if proc is None:
        out = "hang"
        line = ""
    else:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        line = lines[-1] if lines else ""
        if "Traceback (most recent call last)" in proc.stderr:
            out = "traceback"
        elif proc.returncode == 0:
            out = "accepted"
        elif "internal error" in line:
            out = "internal error"
        elif proc.returncode == 2 and any(n.lower() in line.lower() for n in case.names):
            out = "refused"
        else:
            out = f"refused, unnamed (exit {proc.returncode})"
    if c.marker.exists():
        c.marker.unlink()
        out = "CODE RAN"
    if armed:
        out += " + ARMED"
    return out, line


def virtual_firmware():
    """This checkout's virtual robot of the runner's default task at 20 Hz (it counts the ARM frames it gets)."""
    from firmware_bridge.virtual_robot import FirmwareConfig, VirtualFirmware, default_watchdog_ms
    from sim_tasks import get_family

    fam = get_family("planar_runner")
    return VirtualFirmware(
        fam, task=fam.default_task(), config=FirmwareConfig(rate_hz=20, watchdog_ms=default_watchdog_ms(20))
    )


def run_case(c: Ctx, case: Case) -> dict:
    from firmware_bridge.virtual_robot_server import VirtualRobotThread

    robot = None
    if case.deploy:
        fw = virtual_firmware()
        robot = VirtualRobotThread(fw)
        c.port = robot.port
    t0 = time.monotonic()
    proc = None
    try:
        argv = case.argv(c)
        try:
            proc = c.cli(*argv, timeout=case.timeout)
        except subprocess.TimeoutExpired:
            proc = None
        armed = fw.arm_requests if robot is not None else 0
    finally:
        if robot is not None:
            robot.close()
    outcome, line = classify(c, case, proc, armed)
    return {"class": case.cls, "case": case.name, "outcome": outcome, "line": line[:300],
            "exit": None if proc is None else proc.returncode, "seconds": round(time.monotonic() - t0, 1)}  # fmt: skip


def kills(c: Ctx, n: int, seed: int) -> list[dict]:
    """Kill -9 a logging deploy n times (the first while arming, the others at random times); for each killed
    log: does the mcap library's make_reader open it, and after `robot-meta log recover` (when the tree has it)
    the recovered file?"""
    from mcap.reader import make_reader

    from firmware_bridge.virtual_robot_server import VirtualRobotThread

    def opens(path: Path) -> str:
        try:
            with open(path, "rb") as f:
                k = sum(1 for _ in make_reader(f).iter_messages())
            return f"yes ({k} messages)"
        except Exception as exc:  # the mcap library's error types vary: any is a "no"
            return f"no ({type(exc).__name__})"

    rng = random.Random(seed)
    rows = []
    for i in range(n):
        at = 0.3 if i == 0 else rng.uniform(1.5, 4.0)  # the soft start lasts 1 s: the first kill comes while arming
        fw = virtual_firmware()
        with VirtualRobotThread(fw) as robot:
            log = c.fresh("kill_").with_suffix(".mcap")
            proc = subprocess.Popen(
                [sys.executable, "-m", "robot_meta.cli", "deploy", str(c.policy), "--port", robot.port, "--duration", "20",
                 "--target", "target_velocity=1.5", "--log", str(log)],
                env=c.env, cwd=c.work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            # the deploy process imports onnxruntime first: count from its first ARM, not from its start
            deadline = time.monotonic() + 60
            while fw.arm_requests == 0 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.01)
            time.sleep(at)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        size = log.stat().st_size if log.exists() else None
        row = {"kill_after_arm_s": round(at, 2), "log_bytes": size, "make_reader_killed": opens(log) if size else "no file"}
        rec = c.cli("log", "recover", str(log), "--out", str(log.with_suffix(".recovered.mcap")), timeout=60)
        if rec.returncode == 0:
            row["make_reader_recovered"] = opens(log.with_suffix(".recovered.mcap"))
        else:
            row["make_reader_recovered"] = f"no recover ({(rec.stderr.strip().splitlines() or ['?'])[-1][:80]})"
        rows.append(row)
        print(f"  kill {i}: {row}", flush=True)
    return rows


def table(before: dict, after: dict) -> str:
    """Markdown: class -> case -> outcome before and after, then the kills."""
    rows = ["| class | case | before | after |", "|---|---|---|---|"]
    old = {(r["class"], r["case"]): r["outcome"] for r in before["rows"]}
    for r in after["rows"]:
        rows.append(f"| {r['class']} | {r['case']} | {old.get((r['class'], r['case']), 'not run')} | {r['outcome']} |")
    rows += [
        "",
        "| kill (s after ARM) | log bytes | make_reader, killed log | make_reader after `log recover` |",
        "|---|---|---|---|",
    ]
    for k in after["kills"]:
        rows.append(
            f"| {k['kill_after_arm_s']} | {k['log_bytes']} | {k['make_reader_killed']} | {k['make_reader_recovered']} |"
        )
    for name, audit in (("before", before), ("after", after)):
        counts: dict[str, int] = {}
        for r in audit["rows"]:
            key = re.sub(r" \(exit \d+\)", "", r["outcome"])
            counts[key] = counts.get(key, 0) + 1
        opened = sum(k["make_reader_recovered"].startswith("yes") for k in audit["kills"])
        rows.append(f"\n{name} ({audit['commit']}): {len(audit['rows'])} cases: "
                    + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                    + f"; killed logs opened by make_reader after recover: {opened}/{len(audit['kills'])}")  # fmt: skip
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--table",
        nargs=2,
        type=Path,
        metavar=("BEFORE.json", "AFTER.json"),
        help="print the markdown table of two audits and exit",
    )
    ap.add_argument("--tree", type=Path, default=HERE, help="the checkout audited (default: this one)")
    ap.add_argument("--out", type=Path, help="write the rows as JSON here")
    ap.add_argument("--only", help="only the cases of this class")
    ap.add_argument("--kills", type=int, default=5, help="deploys to kill -9 (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.table:
        print(table(*(json.loads(p.read_text()) for p in args.table)))
        return
    tree = args.tree.resolve()
    sha = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="audit17_") as tmp:
        c = Ctx(tree, Path(tmp))
        print(f"auditing {tree} ({sha}); fixtures in {tmp}", flush=True)
        c.setup()
        rows = []
        for case in CASES:
            if args.only and case.cls != args.only:
                continue
            row = run_case(c, case)
            rows.append(row)
            print(f"  {row['class']:16} {row['case']:36} {row['outcome']:28} {row['line'][:110]}", flush=True)
        kill_rows = kills(c, args.kills, args.seed) if args.kills else []
    summary: dict[str, dict[str, int]] = {}
    for r in rows:
        summary.setdefault(r["class"], {}).setdefault(r["outcome"], 0)
        summary[r["class"]][r["outcome"]] += 1
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(
            json.dumps({"tree": str(tree), "commit": sha, "rows": rows, "summary": summary, "kills": kill_rows}, indent=1)
        )


if __name__ == "__main__":
    main()
