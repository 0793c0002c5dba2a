"""`robot-meta export`: a trained run -> a policy dir (ONNX graphs + manifest.json) that runs without torch.

The algorithm says what to export (`MetaAlgorithm.export_spec`: graphs with named I/O, the manifest's
adaptation section, how to record a rollout for the parity check); this module writes it, with no branch on
which algorithm it is. Graphs use opset `OPSET`, a dynamic batch dimension, and the normalizers inside.
A non-adaptive baseline (`export_baseline`, the domain-randomized SB3 SAC of `robot-meta eval --baselines`)
is one `policy.onnx` obs (N, O) -> action (N, A) with adaptation kind "none", so that field tests can put it
beside the adaptive policy through the same runtime and the same robot link.

The manifest's `robot` section says how a robot computer rebuilds the observation from the robot's STATE,
the reward from robot-side signals, and the COMMAND from an action (deploy/robot_io.py reads it).

Before it reports success, export records the trained policy acting in the simulator and checks that
onnxruntime reproduces torch's outputs on those inputs to `PARITY_TOL`. The policy dir is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from deploy.manifest import FORMAT_VERSION, PolicyManifest, seal
from robot_meta import __version__
from robot_meta.baselines import BaselineConfig, SB3Actor, baseline_path, load_policy
from robot_meta.checkpoint import file_sha256
from robot_meta.export_spec import ExportError, ExportSpec, static_policy_spec
from robot_meta.train import family_of, load_run

OPSET = 18
PARITY_TOL = 1e-5  # max |action_onnx - action_torch| on the recorded rollout

__all__ = ["OPSET", "PARITY_TOL", "ExportError", "export_algorithm", "export_baseline", "export_run"]


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's known noise, silenced at its source (13 lines per export otherwise):
    - torch.onnx's op registry logs a WARNING per torchvision op it skips: torchvision is not a dependency and
      no policy uses its ops;
    - torch.export's pytree emits a FutureWarning about `LeafSpec` from inside torch (not our code);
    - the dynamic-shape renamer warns that our single dynamic axis "batch" shares constraints with itself on
      multi-input graphs: every input's axis 0 is the same batch by design;
    - tracing a GRU (RL²'s core) warns that torch's own `_check_is_size` is deprecated, from code torch generates,
      and that the GRU's `_flat_weights` were "assigned during export" (torch's cache of its own parameters; the
      parity check compares the graph with torch on a recorded rollout either way)."""
    import logging
    import warnings

    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r".*The axis name: batch will not be used", category=UserWarning)
            warnings.filterwarnings("ignore", message=r".*_check_is_size will be removed", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r".*_flat_weights.* were assigned during export", category=UserWarning)
            yield
    finally:
        registry.setLevel(level)


def _export_graph(
    module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str], outputs: list[str]
) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    module = module.eval()
    with contextlib.redirect_stdout(sys.stderr), _quiet_exporter():  # stdout belongs to --json
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=True,
            opset_version=OPSET,
            input_names=inputs,
            output_names=outputs,
            dynamic_shapes=tuple({0: batch} for _ in args),
            verbose=False,
            external_data=False,
        )


@contextlib.contextmanager
def _policy_dir(out: Path):
    """Write a policy dir under a temporary name and rename it into place only when complete; on any error
    (a failed parity check included) nothing is left behind."""
    tmp = out.with_name(f".{out.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _io(session_path: Path) -> dict[str, Any]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(session_path), providers=["CPUExecutionProvider"])
    return {
        "inputs": [{"name": i.name, "shape": [d if isinstance(d, int) else "batch" for d in i.shape]} for i in s.get_inputs()],
        "outputs": [
            {"name": o.name, "shape": [d if isinstance(d, int) else "batch" for d in o.shape]} for o in s.get_outputs()
        ],
    }


def joints_of(family: Any) -> list[dict[str, Any]]:
    """Per actuator, in action order: its joint's name, position limits (rad) and the actuator's force range."""
    model = family.build_model(family.default_task())
    out = []
    for i in range(model.nu):
        j = int(model.actuator_trnid[i, 0])
        out.append(
            {
                "actuator": model.actuator(i).name,
                "joint": model.joint(j).name,
                "position_limits": model.jnt_range[j].tolist() if model.jnt_limited[j] else None,
                "force_limits": model.actuator_forcerange[i].tolist() if model.actuator_forcelimited[i] else None,
            }
        )
    return out


def robot_section(family: Any, model: Any = None) -> dict[str, Any]:
    """How the robot computer maps STATE -> observation and reward, and action -> COMMAND (deploy/robot_io.py).

    `observation` maps every slice to a robot signal (the family's `robot_signals`; a slice without one is
    left out and deploy refuses the policy naming it); `command` holds the actuator gear (torque mode: N m per
    unit of ctrl) or the servo gains (position mode), and what to hold during soft start and e-stop.
    """
    import mujoco

    model = model if model is not None else family.build_model(family.default_task())
    n = model.nu
    position = bool(np.all(model.actuator_biastype == mujoco.mjtBias.mjBIAS_AFFINE))
    layout = family.action_layout(model)
    if position:
        command = {
            "mode": "position",
            "target_per_ctrl": [1.0] * n,
            "kp": model.actuator_gainprm[:, 0].tolist(),
            "kd": (-model.actuator_biasprm[:, 2]).tolist(),
            "hold_target": np.clip(layout.offset, layout.ctrl_low, layout.ctrl_high).tolist(),
        }
    else:
        command = {
            "mode": "torque",
            "target_per_ctrl": model.actuator_gear[:, 0].tolist(),
            "kp": [0.0] * n,
            "kd": [0.0] * n,
            "hold_target": [0.0] * n,
        }
    names = {s.name for s in family.obs_layout.slices}
    return {
        "observation": {k: dict(v) for k, v in family.robot_signals.items() if k in names},
        "reward": dict(family.robot_reward) if family.robot_reward else None,
        "command": command,
        "rate_hz": round(1.0 / family.ctrl_dt),
        "safety": {"max_tilt_deg": family.max_tilt_deg},
    }


def kinematic_chain(model: Any, site: str) -> dict[str, Any]:
    """The chain from the world to `site` in a compiled MuJoCo model, as the manifest's `KinematicChain`: each
    body's offset from its parent and its joints (hinge or slide), then the site's offset; what
    `deploy.kinematics.ForwardKinematics` repeats without MuJoCo. A ball or free joint on the way is refused
    (a fixed-base serial chain is what a robot's encoders place)."""
    import mujoco

    try:
        sid = model.site(site).id
    except KeyError:
        raise ExportError(f"the family's robot signals name site {site!r}, which its model lacks") from None
    bodies = []
    b = int(model.site_bodyid[sid])
    while b != 0:
        bodies.append(b)
        b = int(model.body_parentid[b])
    links = []
    for b in reversed(bodies):
        joints = []
        for j in range(int(model.body_jntadr[b]), int(model.body_jntadr[b]) + int(model.body_jntnum[b])):
            kind = int(model.jnt_type[j])
            if kind not in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE):
                raise ExportError(
                    f"site {site!r}: joint {model.joint(j).name!r} is a ball or free joint; forward kinematics on the "
                    "robot takes hinge and slide joints"
                )
            joints.append(
                {
                    "name": model.joint(j).name,
                    "type": "hinge" if kind == mujoco.mjtJoint.mjJNT_HINGE else "slide",
                    "axis": model.jnt_axis[j].tolist(),
                    "anchor": model.jnt_pos[j].tolist(),
                    "qpos0": float(model.qpos0[model.jnt_qposadr[j]]),
                }
            )
        links.append(
            {
                "body": model.body(b).name,
                "pos": model.body_pos[b].tolist(),
                "quat": model.body_quat[b].tolist(),
                "joints": joints,
            }
        )
    return {"site": site, "links": links, "site_pos": model.site_pos[sid].tolist()}


def build_manifest(
    adaptation: dict[str, Any], record: dict[str, Any], trained: dict[str, Any], family: Any, graphs: dict[str, Path]
) -> dict[str, Any]:
    """Everything the runtime and the robot need, and the checks they make (DESIGN.md, policy dir).

    `record` is the run's config record (algo, git sha); `trained` what the policy was trained on."""

    model = family.build_model(family.default_task())
    layout = family.action_layout(model)
    return {
        "format_version": FORMAT_VERSION,
        "project_version": __version__,
        "git_sha": record.get("git_sha", "unknown"),
        "algo": record["algo"],
        "family": family.name,
        "env_id": family.env_id,
        "trained": trained,
        "ctrl_dt": family.ctrl_dt,
        "sim_dt": family.sim_dt,
        "observation": family.obs_layout.to_dict(),
        "obs_dim": family.obs_layout.dim,
        "action": {**layout.to_dict(), "clip": [-1.0, 1.0]},
        "joints": joints_of(family),
        "reward": {"definition": family.reward_doc},
        "robot": robot_section(family, model),
        "adaptation": adaptation,
        "task_params": [
            {
                "name": p.name,
                "unit": p.unit,
                "allowed": list(p.allowed),
                "train": list(p.train),
                "test_only": [list(i) for i in p.test_only],
                "role": p.role,
            }
            for p in family.params
        ],
        "opset": OPSET,
        "tracking_error_floor": family.adaptation_floor,
        **_kinematics(family, model),
        **({"field_plan": dict(family.field_plan)} if family.field_plan else {}),
        "graphs": {name: {"file": path.name, "sha256": file_sha256(path), **_io(path)} for name, path in graphs.items()},
    }


def _kinematics(family: Any, model: Any) -> dict[str, Any]:
    """{"kinematics": {site: chain}} for the sites the family's robot signals place, or {} if none does."""
    sites = sorted({sig["site"] for sig in family.robot_signals.values() if sig.get("site")})
    return {"kinematics": {site: kinematic_chain(model, site) for site in sites}} if sites else {}


def check_parity(policy_dir: Path, spec: ExportSpec, rows: dict[str, np.ndarray]) -> dict[str, float]:
    """Max abs difference between onnxruntime and torch on the recorded inputs, per check of the spec; raises
    `ExportError` above `PARITY_TOL`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    outputs: dict[str, dict[str, np.ndarray]] = {}
    for name, g in spec.graphs.items():
        session = ort.InferenceSession(str(policy_dir / g.file), opts, providers=["CPUExecutionProvider"])
        got = session.run(list(g.outputs), {k: rows[k] for k in g.inputs})
        outputs[name] = dict(zip(g.outputs, got, strict=True))
    out: dict[str, float] = {}
    for c in spec.checks:
        got, want = outputs[c.graph][c.output], rows[c.expected]
        diff = np.abs(got - want).max()  # float32, and so is the relative value (as reported since format 1)
        out[c.label] = float(diff / max(float(np.abs(want).max()), 1e-12) if c.relative else diff)
    worst = max(out.values())
    if worst > PARITY_TOL:
        raise ExportError(
            f"ONNX and torch differ by {worst:.2e} > {PARITY_TOL:g} on the recorded rollout ({out}); "
            "the policy dir was not written"
        )
    return out


def write_policy_dir(
    spec: ExportSpec,
    record: dict[str, Any],
    trained: dict[str, Any],
    family: Any,
    out: Path,
    readout: dict[str, Any] | None = None,
) -> PolicyManifest:
    """Export the spec's graphs, check parity on its recorded rollout, write the manifest (checked by the
    runtime's own reader before it is written) with the belief read-out `readout` when given; all or nothing."""
    with _policy_dir(Path(out)) as tmp:
        graphs: dict[str, Path] = {}
        for name, g in spec.graphs.items():
            _export_graph(g.module, g.example, tmp / g.file, list(g.inputs), list(g.outputs))
            graphs[name] = tmp / g.file
        rows = spec.record(family)
        parity = check_parity(tmp, spec, rows)
        raw = build_manifest(spec.adaptation, record, trained, family, graphs)
        raw["parity"] = {"max_abs_diff": parity, "tolerance": PARITY_TOL, "steps": len(rows["action"])}
        if readout is not None:
            raw["belief_readout"] = readout
        manifest = PolicyManifest.from_dict(raw)
        (tmp / "manifest.json").write_text(manifest.to_json())
        seal(tmp)  # SHA256SUMS: the robot computer refuses a manifest or graph changed after this
    return manifest


def export_run(run_dir: Path, out: Path, adapt_task: int | None = None, adapt_episodes: int = 1) -> PolicyManifest:
    """Export the newest checkpoint of `run_dir` into the policy dir `out` (must not exist). Algorithms that
    adapt by gradient steps (MAML) take `adapt_task` (a held-out task index to adapt on first in simulation)
    and `adapt_episodes` (inner steps); the others adapt on the robot and refuse them."""

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} already exists and is not empty; choose a new --out")
    algorithm, record = load_run(Path(run_dir))
    options = {"adapt_task": adapt_task, "adapt_episodes": adapt_episodes} if adapt_task is not None else {}
    refused = sorted(set(options) - set(algorithm.export_options))
    if refused:
        flags = ", ".join("--" + k.replace("_", "-") for k in refused)
        raise ExportError(f"{flags}: not an export option of {record['algo']} runs ({run_dir} adapts on the robot)")
    return export_algorithm(algorithm, record, out, **options)


READOUT_TASKS = 48  # training tasks the payload read-out is fitted on, one episode each per seed
READOUT_SEEDS = (0, 1)  # starts and sensor noise of those episodes (and the actor's generator)


def export_algorithm(
    algorithm: Any, record: dict[str, Any], out: Path, readout: bool = True, **options: Any
) -> PolicyManifest:
    """Export an algorithm object (trained or not: the runtime benchmark exports fresh networks, with
    `readout` False: an untrained belief says nothing about the payload). It must live on the CPU, as `export_run`
    loads runs: the export moves its networks there, which would strand a CUDA algorithm's own tensors."""
    device = getattr(algorithm, "device", None)
    if device is not None and torch.device(device).type != "cpu":
        raise ExportError(f"export an algorithm on the CPU (this one is on {device}): load its run with export_run")
    spec = algorithm.export_spec(**options)
    trained = {"run_seed": record["seed"], "env_steps": algorithm.env_steps, "iterations": algorithm.iteration}
    if spec.algo is not None and spec.algo != record["algo"]:  # e.g. RMA's unprivileged teacher, exported as DR
        trained["source"] = f"{record['algo']} run, exported as {spec.algo}"
        record = {**record, "algo": spec.algo}
    fit = payload_readout(algorithm, spec) if readout else None
    return write_policy_dir(spec, record, trained, algorithm.family, out, readout=fit)


def payload_readout(algorithm: Any, spec: ExportSpec) -> dict[str, Any] | None:
    """The manifest's `belief_readout`: payload mass from the belief the runtime reports (`spec.belief`),
    fitted on the first `READOUT_TASKS` training tasks, payload from the start (`evaluation.belief_readout`).
    None when the runtime reports no belief or the family has no payload."""
    if spec.belief is None or algorithm.family.payload_parent is None:
        return None
    from robot_meta.evaluation import belief_readout

    tasks = list(algorithm.family.split().train[:READOUT_TASKS])
    method = algorithm.eval_methods(seed=READOUT_SEEDS[0])[0]
    fit = belief_readout(method, algorithm.family, tasks, list(READOUT_SEEDS))
    return None if fit is None else {**fit, "belief": spec.belief}


def export_baseline(
    run_dir: Path, name: str, out: Path, algo: str | None = None, cache_dir: Path | None = None
) -> PolicyManifest:
    """Export the cached SB3 baseline `RUN_DIR/baselines/NAME.pt` (SAC) or `NAME_ppo.pt` (DR: non-adaptive) into
    the policy dir `out`; `algo` None takes the one cached, and refuses to guess when both are. `cache_dir`: the
    cache `eval --baseline-dir` or `sensitivity --baseline-dir` trained it into (default RUN_DIR/baselines).

    The oracle is not exportable: on a robot nobody hands it the true task parameters."""

    if name != "dr":
        raise ExportError(f"--baseline {name!r}: only the domain-randomized baseline 'dr' runs on a robot")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} already exists and is not empty; choose a new --out")
    record = json.loads((Path(run_dir) / "config.json").read_text())
    cache = Path(cache_dir) if cache_dir is not None else Path(run_dir) / "baselines"
    if algo is None:
        cached = [a for a in ("sac", "ppo") if baseline_path(cache, name, a).exists()]
        if len(cached) > 1:
            raise ExportError(f"{cache} holds both a SAC and a PPO {name!r}: choose one with --baseline-algo sac|ppo")
        algo = cached[0] if cached else "sac"
    path = baseline_path(cache, name, algo)
    if not path.exists():
        raise ExportError(f"{path} does not exist: train it with robot-meta eval {run_dir} --baselines")
    family = family_of(record["task"], record.get("family_module"))
    model = load_policy(path, family, list(family.split().train[:1]), BaselineConfig(), oracle=False)
    adaptation = {"kind": "none", "note": "a non-adaptive policy: the action depends on the observation only"}
    spec = static_policy_spec(model.graph(), family.obs_layout.dim, adaptation, act=SB3Actor(model).act)
    rec = {"algo": name, "git_sha": record.get("git_sha", "unknown")}
    trained = {"run_seed": model.meta.get("seed", record["seed"]), "env_steps": model.meta.get("steps"), "source": str(path)}
    return write_policy_dir(spec, rec, trained, family, out)
