"""`robot-meta export`: a trained run -> a policy dir (ONNX graphs + manifest.json) that runs without torch.

Graphs (opset `OPSET`, named inputs and outputs, dynamic batch, normalizers inside):
- PEARL: `encoder.onnx` transitions (N, T) -> mu (N, L), var (N, L), one Gaussian factor per transition
  (the runtime multiplies them over its window); `policy.onnx` obs (N, O), z (N, L) -> action (N, A), the
  deterministic tanh(mean).
- RL²: `step.onnx` obs (N, O), prev_action (N, A), prev_reward (N,), done (N,), h_in (N, H) -> action (N, A)
  (the mean, clipped to [-1, 1]), h_out (N, H).
- a non-adaptive baseline (`export_baseline`, the domain-randomized SB3 SAC of `robot-meta eval --baselines`):
  `policy.onnx` obs (N, O) -> action (N, A), adaptation kind "none", so that field tests can put it beside
  the adaptive policy through the same runtime and the same robot link.

The manifest's `robot` section says how a robot computer rebuilds the observation from the robot's STATE,
the reward from robot-side signals, and the COMMAND from an action (deploy/robot_io.py reads it).

Before it reports success, export records the trained policy acting in the simulator (two held-out tasks,
an episode reset, a mid-episode payload change) and checks that onnxruntime reproduces torch's outputs on
those inputs to `PARITY_TOL`. The policy dir is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

FORMAT_VERSION = 1
OPSET = 18
PARITY_TOL = 1e-5  # max |action_onnx - action_torch| on the recorded rollout


class ExportError(RuntimeError):
    """Export could not produce a policy dir that matches the trained policy; the message says why."""


class PearlEncoderGraph(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, transitions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(transitions)


class PearlPolicyGraph(nn.Module):
    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.policy(obs, z)


class SB3PolicyGraph(nn.Module):
    """SB3 SAC's deterministic action: tanh(mu(latent_pi(flatten(obs)))), in [-1, 1] (the action space)."""

    def __init__(self, actor: nn.Module) -> None:
        super().__init__()
        self.latent_pi, self.mu = actor.latent_pi, actor.mu

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mu(self.latent_pi(obs)))


class RL2StepGraph(nn.Module):
    def __init__(self, policy: nn.Module) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, obs, prev_action, prev_reward, done, h_in) -> tuple[torch.Tensor, torch.Tensor]:
        mean, _, h_out = self.policy.step(obs, prev_action, prev_reward, done, h_in)
        return mean.clamp(-1.0, 1.0), h_out


def _export_graph(
    module: nn.Module, args: tuple[torch.Tensor, ...], path: Path, inputs: list[str], outputs: list[str]
) -> None:
    batch = torch.export.Dim("batch", min=1, max=4096)
    module = module.eval()
    with contextlib.redirect_stdout(sys.stderr):  # the exporter prints progress; stdout belongs to --json
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def build_manifest(algorithm: Any, record: dict[str, Any], family: Any, graphs: dict[str, Path]) -> dict[str, Any]:
    """Everything the runtime and the robot need, and the checks they make (DESIGN.md, policy dir).

    `algorithm` is None for a non-adaptive baseline (`record["algo"]` names it; `record["trained"]` says what
    it was trained on)."""
    from robot_meta import __version__

    model = family.build_model(family.default_task())
    layout = family.action_layout(model)
    algo = record["algo"]
    if algorithm is None:
        adaptation = {"kind": "none", "note": "a non-adaptive policy: the action depends on the observation only"}
    elif algo == "maml":
        adaptation = {
            "kind": "none",
            "note": "MAML adapts by gradient steps, which the torch-free runtime does not take: this graph holds "
            "fixed parameters (the meta-learned initial policy, or the policy adapted in simulation, see 'maml')",
        }
    elif algo == "pearl":
        cfg = algorithm.cfg
        o, a = algorithm.nets.obs_dim, algorithm.nets.act_dim
        adaptation = {
            "kind": "pearl",
            "latent_dim": cfg.latent_dim,
            "window": cfg.window,
            "infer_every": 1,
            "transition": [
                {"name": "obs", "size": o},
                {"name": "action", "size": a},
                {"name": "reward", "size": 1},
                {"name": "next_obs", "size": o, "zeroed": not cfg.use_next_obs},
            ],
            "posterior": "product of the per-transition Gaussians over the window; the prior N(0, I) when empty",
            "min_var": 1e-7,
        }
    else:
        cfg = algorithm.cfg
        adaptation = {
            "kind": "rl2",
            "hidden_size": cfg.hidden,
            "inputs": ["obs", "prev_action", "prev_reward", "done", "h_in"],
            "episodes_per_trial": cfg.episodes_per_trial,
            "reset": "h_in, prev_action, prev_reward = 0 at a trial start; done = 1 on the first step after an episode end",
        }
    return {
        "format_version": FORMAT_VERSION,
        "project_version": __version__,
        "git_sha": record.get("git_sha", "unknown"),
        "algo": algo,
        "family": family.name,
        "env_id": family.env_id,
        "trained": record["trained"]
        if algorithm is None
        else {"run_seed": record["seed"], "env_steps": algorithm.env_steps, "iterations": algorithm.iteration},
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
            }
            for p in family.params
        ],
        "opset": OPSET,
        "graphs": {name: {"file": path.name, "sha256": _sha256(path), **_io(path)} for name, path in graphs.items()},
    }


class _Recorder:
    """Wraps an actor and records the inputs of every graph evaluation and torch's outputs."""

    def __init__(self, actor: Any, algo: str) -> None:
        self.actor, self.algo = actor, algo
        self.rows: dict[str, list[np.ndarray]] = {}

    def _add(self, **kv: Any) -> None:
        for k, v in kv.items():
            self.rows.setdefault(k, []).append(np.asarray(v, dtype=np.float32))

    def reset(self, mask):
        self.actor.reset(mask)

    def act(self, obs):
        if self.algo == "pearl":
            z = self.actor.z.clone().cpu().numpy()
            action = self.actor.act(obs)
            self._add(obs=obs, z=z, action=action)
        else:
            a = self.actor
            inputs = dict(
                obs=obs,
                prev_action=a.prev_a.cpu().numpy(),
                prev_reward=a.prev_r.cpu().numpy(),
                done=a.done.cpu().numpy(),
                h_in=a.h.cpu().numpy(),
            )
            action = a.act(obs)
            self._add(**inputs, action=action, h_out=a.h.cpu().numpy())
        return action

    def observe(self, obs, action, reward, next_obs, done):
        if self.algo == "pearl":
            nxt = next_obs if self.actor.cfg.use_next_obs else np.zeros_like(next_obs)
            self._add(transitions=np.concatenate([obs, action, np.asarray(reward, np.float32)[:, None], nxt], -1))
        self.actor.observe(obs, action, reward, next_obs, done)


def record_rollout(algorithm: Any, record: dict[str, Any], family: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """The trained policy in its online mode on two held-out tasks, 1.5 episodes long, with a payload change in
    the middle of the first episode: the inputs every graph saw and what torch computed."""
    from robot_meta.collector import CollectorState, collect
    from sim_tasks import BatchedTaskEnv

    tasks = list(family.split().test[:2])
    env = BatchedTaskEnv(family, tasks, seed=seed)
    if family.payload_parent is not None:
        heavy = family.spec_of("payload_mass").train[1]
        for sim in env.sims:
            sim.schedule_payload([(0.5 * family.episode_steps * family.ctrl_dt, heavy)])
    adapted = algorithm.eval_methods(seed=seed)[0]
    rec = _Recorder(adapted.actor("online", env), record["algo"])
    state = CollectorState(env)
    state.reset(seed=seed)
    collect(state, rec, family.episode_steps + family.episode_steps // 2)
    return {k: np.concatenate(v, 0) for k, v in rec.rows.items()}


def check_parity(policy_dir: Path, algo: str, rec: dict[str, np.ndarray]) -> dict[str, float]:
    """Max abs difference between onnxruntime and torch on the recorded inputs; raises above `PARITY_TOL`."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1

    def session(name: str):
        return ort.InferenceSession(str(policy_dir / name), opts, providers=["CPUExecutionProvider"])

    out: dict[str, float] = {}
    if algo == "pearl":
        act = session("policy.onnx").run(["action"], {"obs": rec["obs"], "z": rec["z"]})[0]
        out["action"] = float(np.abs(act - rec["action"]).max())
        mu, var = session("encoder.onnx").run(["mu", "var"], {"transitions": rec["transitions"]})
        out["encoder_mu"] = float(np.abs(mu - rec["mu"]).max())
        out["encoder_var"] = float(np.abs(var - rec["var"]).max() / max(float(np.abs(rec["var"]).max()), 1e-12))  # relative
    else:
        names = ["obs", "prev_action", "prev_reward", "done", "h_in"]
        act, h = session("step.onnx").run(["action", "h_out"], {k: rec[k] for k in names})
        out["action"] = float(np.abs(act - rec["action"]).max())
        out["h_out"] = float(np.abs(h - rec["h_out"]).max())
    worst = max(v for k, v in out.items())
    if worst > PARITY_TOL:
        raise ExportError(
            f"ONNX and torch differ by {worst:.2e} > {PARITY_TOL:g} on the recorded rollout ({out}); "
            "the policy dir was not written"
        )
    return out


def export_run(run_dir: Path, out: Path, adapt_task: int | None = None, adapt_episodes: int = 1) -> dict[str, Any]:
    """Export the newest checkpoint of `run_dir` into the policy dir `out` (must not exist). MAML runs take
    `adapt_task` (a held-out task index to adapt on first) and `adapt_episodes` (inner steps)."""
    from robot_meta.train import load_run

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} already exists and is not empty; choose a new --out")
    algorithm, record = load_run(Path(run_dir))
    if record["algo"] == "maml":
        return export_maml(algorithm, record, out, adapt_task, adapt_episodes)
    if adapt_task is not None:
        raise ExportError(f"--adapt-task is for MAML runs; {run_dir} is a {record['algo']} run (it adapts on the robot)")
    return export_algorithm(algorithm, record, out)


def export_algorithm(algorithm: Any, record: dict[str, Any], out: Path) -> dict[str, Any]:
    """Export an algorithm object (trained or not: the runtime benchmark exports fresh networks)."""
    from sim_tasks import get_family

    out = Path(out)
    family = get_family(record["task"])
    with _policy_dir(out) as tmp:
        graphs: dict[str, Path] = {}
        if record["algo"] == "pearl":
            nets = algorithm.nets.cpu().eval()
            o, a, lat = nets.obs_dim, nets.act_dim, nets.latent_dim
            t_dim = 2 * o + a + 1
            _export_graph(
                PearlEncoderGraph(nets.encoder), (torch.zeros(2, t_dim),), tmp / "encoder.onnx", ["transitions"], ["mu", "var"]
            )
            _export_graph(
                PearlPolicyGraph(nets.policy),
                (torch.zeros(2, o), torch.zeros(2, lat)),
                tmp / "policy.onnx",
                ["obs", "z"],
                ["action"],
            )
            graphs = {"encoder": tmp / "encoder.onnx", "policy": tmp / "policy.onnx"}
        else:
            p = algorithm.policy.cpu().eval()
            args = (
                torch.zeros(2, p.obs_dim),
                torch.zeros(2, p.act_dim),
                torch.zeros(2),
                torch.zeros(2),
                torch.zeros(2, p.hidden),
            )
            _export_graph(
                RL2StepGraph(p),
                args,
                tmp / "step.onnx",
                ["obs", "prev_action", "prev_reward", "done", "h_in"],
                ["action", "h_out"],
            )
            graphs = {"step": tmp / "step.onnx"}
        rec = record_rollout(algorithm, record, family)
        if record["algo"] == "pearl":
            with torch.no_grad():
                mu, var = algorithm.nets.encoder(torch.as_tensor(rec["transitions"]))
            rec["mu"], rec["var"] = mu.numpy(), var.numpy()
        parity = check_parity(tmp, record["algo"], rec)
        manifest = build_manifest(algorithm, record, family, graphs)
        manifest["parity"] = {"max_abs_diff": parity, "tolerance": PARITY_TOL, "steps": len(rec["action"])}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _static_parity(family: Any, graph_path: Path, act: Any) -> tuple[float, int]:
    """Max |ONNX - torch| of a static policy (obs -> action) over one episode on two held-out tasks, with
    `act(obs (N, O)) -> actions (N, A)` the torch side; raises above `PARITY_TOL`."""
    import onnxruntime as ort

    from robot_meta.collector import CollectorState, collect
    from sim_tasks import BatchedTaskEnv

    env = BatchedTaskEnv(family, list(family.split().test[:2]), seed=0)
    rows: list[tuple[np.ndarray, np.ndarray]] = []

    class Rec:
        def reset(self, mask):
            pass

        def act(self, obs):
            a = np.asarray(act(obs), np.float32)
            rows.append((np.asarray(obs, np.float32), a))
            return a

        def observe(self, *args):
            pass

    state = CollectorState(env)
    state.reset(seed=0)
    collect(state, Rec(), family.episode_steps)
    obs = np.concatenate([r[0] for r in rows])
    want = np.concatenate([r[1] for r in rows])
    got = ort.InferenceSession(str(graph_path), providers=["CPUExecutionProvider"]).run(None, {"obs": obs})[0]
    diff = float(np.abs(got - want).max())
    if diff > PARITY_TOL:
        raise ExportError(f"ONNX and torch differ by {diff:.2e} > {PARITY_TOL:g}; the policy dir was not written")
    return diff, len(obs)


class MAMLPolicyGraph(nn.Module):
    """A MAML policy with fixed (initial or adapted) parameters: obs -> clamp(mean, -1, 1)."""

    def __init__(self, policy: nn.Module, params: dict[str, torch.Tensor]) -> None:
        super().__init__()
        import copy

        self.policy = copy.deepcopy(policy)
        with torch.no_grad():
            for name, p in self.policy.named_parameters():
                p.copy_(params[name])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.policy(obs).clamp(-1.0, 1.0)


def export_maml(
    algorithm: Any, record: dict[str, Any], out: Path, adapt_task: int | None, adapt_episodes: int
) -> dict[str, Any]:
    """A MAML run as a static policy dir: its initial policy, or (with `adapt_task`) the policy after
    `adapt_episodes` inner steps on that held-out task in simulation. The torch-free runtime takes no
    gradient steps, so the robot runs the exported parameters as they are."""
    from sim_tasks import get_family

    family = get_family(record["task"])
    out = Path(out)
    task = None
    if adapt_task is not None:
        tests = family.split().test
        if not 0 <= adapt_task < len(tests):
            raise ExportError(f"--adapt-task {adapt_task} is not a held-out task index (0..{len(tests) - 1})")
        task = tests[adapt_task]
        params = algorithm.adapted_params(task, adapt_episodes)
    else:
        params = {k: v.detach() for k, v in algorithm.policy.named_parameters()}
    with _policy_dir(out) as tmp:
        graph = MAMLPolicyGraph(algorithm.policy, params).eval()
        _export_graph(graph, (torch.zeros(2, family.obs_layout.dim),), tmp / "policy.onnx", ["obs"], ["action"])

        def act(obs: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return graph(torch.as_tensor(obs, dtype=torch.float32)).numpy()

        diff, steps = _static_parity(family, tmp / "policy.onnx", act)
        manifest = build_manifest(algorithm, record, family, {"policy": tmp / "policy.onnx"})
        manifest["adaptation"]["maml"] = {
            "adapted_on": task.to_dict() if task is not None else None,
            "held_out_index": adapt_task,
            "inner_steps": adapt_episodes if task is not None else 0,
            "inner_lr": algorithm.cfg.inner_lr,
        }
        manifest["parity"] = {"max_abs_diff": {"action": diff}, "tolerance": PARITY_TOL, "steps": steps}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def export_baseline(run_dir: Path, name: str, out: Path) -> dict[str, Any]:
    """Export the cached SB3 baseline `RUN_DIR/baselines/NAME.pt` (DR: non-adaptive) into the policy dir `out`.

    The oracle is not exportable: on a robot nobody hands it the true task parameters."""
    from robot_meta.baselines import BaselineConfig, SB3Actor, load_policy
    from sim_tasks import get_family

    if name != "dr":
        raise ExportError(f"--baseline {name!r}: only the domain-randomized baseline 'dr' runs on a robot")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ExportError(f"{out} already exists and is not empty; choose a new --out")
    record = json.loads((Path(run_dir) / "config.json").read_text())
    path = Path(run_dir) / "baselines" / f"{name}.pt"
    if not path.exists():
        raise ExportError(f"{path} does not exist: train it with robot-meta eval {run_dir} --baselines")
    family = get_family(record["task"])
    model, meta = load_policy(path, family, list(family.split().train[:1]), BaselineConfig(), oracle=False)
    with _policy_dir(out) as tmp:
        graph = SB3PolicyGraph(model.policy.actor).cpu().eval()
        _export_graph(graph, (torch.zeros(2, family.obs_layout.dim),), tmp / "policy.onnx", ["obs"], ["action"])
        diff, steps = _static_parity(family, tmp / "policy.onnx", SB3Actor(model).act)
        rec = {
            "algo": name,
            "git_sha": record.get("git_sha", "unknown"),
            "trained": {"run_seed": meta.get("seed", record["seed"]), "env_steps": meta.get("steps"), "source": str(path)},
        }
        manifest = build_manifest(None, rec, family, {"policy": tmp / "policy.onnx"})
        manifest["parity"] = {"max_abs_diff": {"action": diff}, "tolerance": PARITY_TOL, "steps": steps}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest
