"""Export: self-contained ONNX graphs, a complete manifest, parity with torch, and refusals."""

import hashlib
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from robot_meta.export import PARITY_TOL, READOUT_TASKS, ExportError, export_run


@pytest.fixture(scope="module")
def runs(tiny_runs):
    return tiny_runs


@pytest.mark.parametrize(("algo", "graphs"), [("pearl", {"encoder", "policy"}), ("rl2", {"step"})])
def test_export_writes_self_contained_graphs_and_a_manifest(runs, tmp_path, algo, graphs):
    out = tmp_path / "policy"
    manifest = export_run(runs / algo, out).to_dict()
    assert set(manifest["graphs"]) == graphs
    assert sorted(p.name for p in out.iterdir()) == sorted([*(f"{g}.onnx" for g in graphs), "manifest.json", "SHA256SUMS"])
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    for g in manifest["graphs"].values():
        assert hashlib.sha256((out / g["file"]).read_bytes()).hexdigest() == g["sha256"]
    assert manifest["obs_dim"] == 17 and len(manifest["action"]["names"]) == 6 == len(manifest["joints"])
    assert manifest["ctrl_dt"] == 0.05 and manifest["opset"] == 18 and manifest["format_version"] == 1
    assert max(manifest["parity"]["max_abs_diff"].values()) <= PARITY_TOL
    assert manifest["adaptation"]["kind"] == algo
    # The payload read from the belief (field reports plot it): PEARL's z, RL²'s hidden state
    readout = manifest.get("belief_readout")
    belief, dim = {"pearl": ("z", "latent_dim"), "rl2": ("h", "hidden_size")}[algo]
    assert readout["belief"] == belief and readout["param"] == "payload_mass" and readout["unit"] == "kg"
    assert len(readout["weights"]) == manifest["adaptation"][dim] and readout["tasks"] == READOUT_TASKS
    from deploy.manifest import PolicyManifest
    from deploy.runtime import load_adapter

    adapter = load_adapter(out)  # on the robot the estimate reads the adapter's belief() of the same length
    adapter.act(np.zeros(manifest["obs_dim"], np.float32))
    estimate = PolicyManifest.read(out).belief_readout.estimate(adapter.belief().tolist())
    assert len(adapter.belief()) == len(readout["weights"]) and np.isfinite(estimate)


def test_the_payload_readout_is_the_evaluations_fit_on_training_tasks(runs, tmp_path):
    """Export's read-out is `evaluation.belief_readout` on the first training tasks with the same seeds, and the
    runtime's estimate (deploy.manifest, no numpy) predicts what evaluation's LinearFit predicts."""
    from robot_meta.evaluation import LinearFit, belief_readout, steady_beliefs
    from robot_meta.export import READOUT_SEEDS
    from robot_meta.train import load_run

    got = export_run(runs / "rma", tmp_path / "p").belief_readout
    algorithm, _ = load_run(runs / "rma")
    fam = algorithm.family
    tasks = list(fam.split().train[:READOUT_TASKS])
    want = belief_readout(algorithm.eval_methods(seed=READOUT_SEEDS[0])[0], fam, tasks, list(READOUT_SEEDS))
    assert got.belief == "extrinsics" and list(got.weights) == pytest.approx(want["weights"], abs=1e-9)
    assert got.bias == pytest.approx(want["bias"]) and got.r2 == pytest.approx(want["r2"])
    x, _, _ = steady_beliefs(algorithm.eval_methods(seed=5)[0], fam, list(fam.split().test[:4]), [5])
    fit = LinearFit(*(np.array(want[k]) for k in ("mean", "scale", "weights")), want["bias"])
    assert [got.estimate(b) for b in x.tolist()] == pytest.approx(fit(x).tolist())


def test_exported_graphs_take_any_batch_and_match_torch(runs, tmp_path):
    from robot_meta.train import load_run

    export_run(runs / "rl2", tmp_path / "p")
    algo, _ = load_run(runs / "rl2")
    s = ort.InferenceSession(str(tmp_path / "p" / "step.onnx"), providers=["CPUExecutionProvider"])
    for n in (1, 7):
        rng = np.random.default_rng(n)
        feed = {
            "obs": rng.normal(size=(n, 17)).astype(np.float32),
            "prev_action": rng.uniform(-1, 1, (n, 6)).astype(np.float32),
            "prev_reward": rng.normal(size=n).astype(np.float32),
            "done": np.zeros(n, np.float32),
            "h_in": rng.normal(size=(n, 16)).astype(np.float32),
        }
        action, h_out = s.run(None, feed)
        with torch.no_grad():
            m, _, h = algo.policy.step(*(torch.as_tensor(v) for v in feed.values()))
        np.testing.assert_allclose(action, m.clamp(-1, 1).numpy(), atol=1e-5)
        np.testing.assert_allclose(h_out, h.numpy(), atol=1e-5)


def test_export_refuses_an_existing_policy_dir_and_leaves_nothing_half_written(runs, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists and is not empty"):
        export_run(runs / "pearl", out)
    assert (out / "keep.txt").read_text() == "mine"
    assert not list(tmp_path.glob(".*partial"))


def test_train_export_and_eval_print_no_library_warnings(tmp_path):
    """Issue 20: a tiny train, its export and its eval, each in a fresh process (where Python's and torch's warnings are
    not yet filtered by pytest), write nothing that looks like a warning on stderr."""
    import re
    import subprocess
    import sys

    from tests.tiny import PEARL_SETS, RL2_SETS

    sets = [a for s in PEARL_SETS for a in ("--set", s)]
    rl2_sets = [a for s in RL2_SETS for a in ("--set", s)]
    run, out, rl2 = tmp_path / "run", tmp_path / "policy", tmp_path / "rl2"
    for argv in (
        ["train", "--algo", "pearl", "--task", "planar_runner", "--out", str(run), "--steps", "200", *sets],
        ["export", str(run), "--out", str(out)],
        ["eval", str(run), "--episodes", "2", "--repeats", "1"],  # a short run: no empty legend's warning
        ["train", "--algo", "rl2", "--task", "planar_runner", "--out", str(rl2), "--steps", "200", *rl2_sets],
        ["export", str(rl2), "--out", str(tmp_path / "rl2_policy")],  # tracing a GRU has noise of its own
    ):
        proc = subprocess.run([sys.executable, "-m", "robot_meta.cli", *argv], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        noisy = [ln for ln in proc.stderr.splitlines() if re.search(r"Warning|^W\d{4} |warn\(", ln)]
        assert noisy == [], (argv[0], noisy)


def test_an_algorithm_off_the_cpu_is_refused_before_its_networks_are_moved(tmp_path):
    """Export moves networks to the CPU; an algorithm trained on CUDA is exported from its run (`export_run`
    loads on the CPU), never in place, where the move would strand the algorithm's own tensors."""
    from types import SimpleNamespace

    from robot_meta.export import export_algorithm

    with pytest.raises(ExportError, match="on cuda"):
        export_algorithm(SimpleNamespace(device=torch.device("cuda")), {"algo": "pearl", "seed": 0}, tmp_path / "p")
    assert not (tmp_path / "p").exists()
