"""RMA, the anchor of issue 16: teacher then student, and the runtime's history matching training's.

The contract tests (determinism, resume, export parity, evaluation) run RMA with every other algorithm; these
check what is RMA's own, on tiny budgets."""

import numpy as np
import pytest
import torch

from robot_meta.config import ConfigError, build_config
from robot_meta.rma import RMA, RMAActor, RMAConfig
from robot_meta.rma.rma import STUDENT_TARGETS
from sim_tasks import BatchedTaskEnv, get_family
from tests.tiny import RMA_SETS


def make(*sets: str, family: str = "planar_arm", seed: int = 0) -> RMA:
    fam = get_family(family)
    cfg = build_config(RMAConfig(), None, (*RMA_SETS, *sets))
    return RMA(lambda t, s: BatchedTaskEnv(fam, t, seed=s), list(fam.split().train[:6]), cfg, seed, torch.device("cpu"))


@pytest.mark.parametrize("target", STUDENT_TARGETS)
def test_the_teacher_trains_first_then_only_the_adaptation_module(target):
    algo = make("teacher_iterations=2", "student_epochs=3", f"student_target={target}")
    teacher = [algo.train_iteration() for _ in range(2)]
    assert [m["phase"] for m in teacher] == ["teacher", "teacher"] and all("loss_pi" in m for m in teacher)
    frozen = {k: v.clone() for k, v in algo.nets.state_dict().items() if not k.startswith(("embed.", "phi.", "norm."))}
    student = [algo.train_iteration() for _ in range(3)]
    assert [m["phase"] for m in student] == ["student"] * 3 and all(np.isfinite(m["loss_adapt"]) for m in student)
    after = algo.nets.state_dict()
    assert all(torch.equal(after[k], v) for k, v in frozen.items())  # pi, V, mu and the log std did not move
    assert not torch.equal(after["phi.0.weight"], make().nets.state_dict()["phi.0.weight"])  # phi did


@pytest.mark.parametrize("target", ["z", "action"])
def test_the_student_learns_to_regress_the_teachers_extrinsics(target):
    """On fixed teacher networks, phi's regression loss falls over student iterations (mechanics, not quality),
    on z or on the action z moves (`student_target`; "parameters" has its own test below), with no gradient left on
    the teacher."""
    algo = make("teacher_iterations=0", "student_epochs=8", "student_lr=3e-3", "rollout_steps=60", f"student_target={target}")
    _enlarge(algo.nets.pi)  # a fresh pi's last layer is near zero (gain 0.01): make its action depend on z
    losses = [algo.train_iteration()["loss_adapt"] for _ in range(6)]
    assert losses[-1] < 0.5 * losses[0], losses
    teacher = [*algo.nets.pi.parameters(), *algo.nets.mu.parameters()]
    assert all(p.grad is None for p in teacher) and all(p.requires_grad for p in teacher)


def test_a_parameter_student_estimates_e_and_acts_through_the_teachers_mu():
    """With `student_target` "parameters" phi outputs one number per hidden parameter, trained against e itself
    (`task_targets` units), and z_hat is mu of that estimate: the policy acts only on z the teacher could give it.
    Parameters a short history cannot show (latency, noise) keep the loss from falling across new tasks, so the
    mechanics are checked on one rollout, passed over again: phi fits the parameters of the tasks it saw."""
    from robot_meta.belief import task_targets
    from robot_meta.collector import collect

    algo = make("teacher_iterations=0", "student_lr=3e-3", "student_target=parameters")
    nets, n_params = algo.nets, len(algo.family.hidden_params)
    assert nets.phi[-1].out_features == n_params != nets.mu[-1].out_features
    history = torch.randn(5, nets.history, nets.obs_dim + nets.act_dim)
    torch.testing.assert_close(nets.adapt(history), nets.mu(nets.estimate(history)))
    algo.state.reset(seed=0)
    actor = RMAActor(nets, "student", algo.cfg.num_envs, algo.gen, env=algo.env, record=True)
    roll = collect(algo.state, actor, 60)
    log = {k: torch.stack(v) for k, v in actor.log.items()}
    losses = [algo._regress(log, roll)["loss_adapt"] for _ in range(15)]
    assert losses[-1] < 0.5 * losses[0], losses
    e = task_targets(algo.family, roll.task_vector).flatten(0, 1)
    fit = ((nets.estimate(log["history"].flatten(0, 1)) - e) ** 2).mean().item()
    assert fit < 0.5 * (e**2).mean().item()  # the loss is e's own error, not z's


def test_a_bounded_estimate_stays_in_each_parameters_allowed_range():
    """`bound_estimate`: what mu receives is e_hat clamped to the family's allowed ranges (the arm's payload to
    3 kg, past its 1.5 kg training range and 2.5 kg held-out), while phi's own output, which the regression fits,
    is left as it is; inside the bounds nothing changes."""
    algo = make("teacher_iterations=0", "student_target=parameters", "bound_estimate=true")
    nets, fam = algo.nets, algo.family
    lo = torch.tensor([(p.allowed[0] - sum(p.train) / 2) / ((p.train[1] - p.train[0]) / 2) for p in fam.hidden_params])
    hi = torch.tensor([(p.allowed[1] - sum(p.train) / 2) / ((p.train[1] - p.train[0]) / 2) for p in fam.hidden_params])
    assert fam.hidden_params[0].name == "payload_mass" and hi[0].item() == pytest.approx(3.0)  # 3 kg: room past 1.5
    history = torch.randn(4, nets.history, nets.obs_dim + nets.act_dim)
    with torch.no_grad():
        nets.phi[-1].weight.zero_()  # phi's output is then its last bias, whatever the history
        for value in (0.5, 1e3, -1e3):  # inside every range, past every upper end, past every lower end
            nets.phi[-1].bias.fill_(value)
            out = nets.estimate(history)
            assert (out == value).all()  # phi's own output is not clamped: the regression's loss sees it
            want = torch.minimum(torch.maximum(out, lo), hi)
            assert torch.equal(want == out, torch.full_like(out, value == 0.5, dtype=torch.bool))
            torch.testing.assert_close(nets.adapt(history), nets.mu(want))
        nets.set_bounds(None)  # as estimated: what a run trained without the bound acts on
        torch.testing.assert_close(nets.adapt(history), nets.mu(nets.estimate(history)))
    unbounded = make("teacher_iterations=0", "student_target=parameters").nets
    assert unbounded.bounded is False  # off unless asked
    unbounded.set_bounds((lo, hi))  # set on a trained run (the demo's arm): the same clamp as bound_estimate's
    with torch.no_grad():
        unbounded.phi[-1].weight.zero_()
        unbounded.phi[-1].bias.fill_(1e3)
        torch.testing.assert_close(unbounded.adapt(history), unbounded.mu(hi.expand(4, -1)))


@pytest.mark.parametrize(
    "head",
    [
        (),
        ("affine_extrinsics=true", "encoder_hidden=[]", "affine_student=true"),
        ("affine_extrinsics=true", "encoder_hidden=[]", "affine_student=true", "student_target=parameters"),
        (
            "affine_extrinsics=true",
            "encoder_hidden=[]",
            "affine_student=true",
            "student_target=parameters",
            "bound_estimate=true",
        ),
    ],
    ids=["mlp", "affine", "affine_parameters", "affine_parameters_bounded"],
)
def test_the_runtimes_history_is_the_history_training_sees(tmp_path, head):
    """The torch-free runtime, fed the observations the torch actor saw, keeps the same history and so acts the
    same, step by step over an episode start and a payload change (no safety limits in the way); with either
    policy head, through the same ONNX contract."""
    from deploy.runtime import SafetyFilter, load_adapter
    from robot_meta.collector import CollectorState, collect
    from robot_meta.export import PARITY_TOL, export_algorithm

    algo = make("teacher_iterations=1", *head)
    algo.train_iteration()
    algo.train_iteration()
    if algo.nets.bounded:  # the payload's estimate far under 0 kg at every step: the exported clamp must act
        with torch.no_grad():
            algo.nets.phi[-1].bias[0] -= 100.0
    export_algorithm(algo, {"algo": "rma", "task": "planar_arm", "seed": 0}, tmp_path / "p", readout=False)
    fam = algo.family
    env = BatchedTaskEnv(fam, [fam.split().test[0]], seed=3)
    env.sims[0].schedule_payload([(2.0, 2.0)])
    state = CollectorState(env)
    state.reset(seed=3)
    actor = algo.actor("online", 1, torch.Generator().manual_seed(0))
    roll = collect(state, actor, 80)
    adapter = load_adapter(tmp_path / "p", safety=SafetyFilter(fam.action_layout(env.sims[0].model).dim))
    for t in range(80):
        action = adapter.act(roll.obs[t, 0], float(roll.reward[t - 1, 0]) if t else 0.0)
        np.testing.assert_allclose(action, roll.action[t, 0], atol=PARITY_TOL * 10)
    assert adapter.summary()["extrinsics"] == pytest.approx(actor.belief()[0].tolist(), abs=1e-4)


def _enlarge(module: torch.nn.Module) -> None:
    """Random weights made larger, deterministically (so that a nonlinearity, or a dependence on z, shows)."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))


def _bend(algo: RMA, f) -> float:
    """How far f(nets, t) leaves the line through t = 0 and t = 1 at t = 3, relative to its step from 0 to 1, on
    the run's networks with random weights made larger (so that a nonlinearity would show)."""
    nets = algo.nets
    _enlarge(nets)
    with torch.no_grad():
        y0, y1, y3 = (f(nets, t) for t in (0.0, 1.0, 3.0))
    return float(((y3 - y0) - 3.0 * (y1 - y0)).abs().max() / (y1 - y0).abs().max())


def test_the_affine_head_acts_affinely_in_the_task_parameters():
    """With `affine_extrinsics` and a linear mu, the teacher's action at any observation is affine in e, so it
    goes past the training range (e beyond 1) on the line it follows inside it; the MLP head of (x, z) does not."""

    def bend(algo: RMA) -> float:
        obs = torch.as_tensor(np.random.default_rng(0).normal(size=(4, algo.nets.obs_dim)), dtype=torch.float32)
        e = torch.as_tensor(np.random.default_rng(1).normal(size=(1, algo.nets.mu[0].in_features)), dtype=torch.float32)
        return _bend(algo, lambda nets, t: nets.action_mean(obs, nets.mu(t * e.expand(4, -1))))

    affine = make("affine_extrinsics=true", "encoder_hidden=[]")
    assert affine.nets.pi[-1].out_features == affine.nets.act_dim * (1 + affine.cfg.extrinsics_dim)
    assert bend(affine) < 1e-4
    assert bend(make()) > 1e-2  # the default MLP head bends: the check can fail


def test_the_affine_student_is_affine_in_the_actions_it_saw():
    """With `affine_student`, z_hat at fixed observations is affine in the action history, so larger torques than
    any in training move the estimate on the line they follow inside it; the MLP student flattens anywhere."""

    def bend(algo: RMA) -> float:
        rng, nets = np.random.default_rng(0), algo.nets
        obs = torch.as_tensor(rng.normal(size=(4, nets.history, nets.obs_dim)), dtype=torch.float32)
        act = torch.as_tensor(rng.normal(size=(4, nets.history, nets.act_dim)), dtype=torch.float32)
        return _bend(algo, lambda nets, t: nets.adapt(torch.cat([obs, t * act], -1)))

    affine = make("affine_student=true")
    assert affine.nets.embed[0].in_features == affine.nets.obs_dim
    assert bend(affine) < 1e-4
    assert bend(make()) > 1e-2


def test_the_teachers_initialization_does_not_depend_on_the_student():
    """The same seed gives the same teacher (mu, pi, V, log std) whatever student it will train, so a student
    option is compared on the teacher it would have had anyway."""
    teacher = ("mu.", "pi.", "v.", "log_std")
    for head in ((), ("affine_extrinsics=true", "encoder_hidden=[]")):
        plain, affine, params = (
            make(*head, *s).nets.state_dict()
            for s in ((), ("affine_student=true",), ("affine_student=true", "student_target=parameters"))
        )
        assert plain["embed.0.weight"].shape != affine["embed.0.weight"].shape
        assert affine["phi.2.weight"].shape != params["phi.2.weight"].shape
        assert all(torch.equal(plain[k], other[k]) for other in (affine, params) for k in plain if k.startswith(teacher))


def test_prior_only_sees_no_history_and_the_belief_is_the_estimate():
    algo = make()
    fam = algo.family
    env = BatchedTaskEnv(fam, list(fam.split().test[:2]), seed=0)
    gen = torch.Generator().manual_seed(0)
    prior = algo.actor("prior_only", 2, gen)
    online = algo.actor("online", 2, gen)
    assert isinstance(prior, RMAActor) and prior.mode == "prior_only" and online.mode == "student"
    obs, _ = env.reset(seed=0)
    for actor in (prior, online):
        actor.reset(np.ones(2, bool))
        actor.act(obs)
    empty = algo.nets.adapt(torch.zeros(2, algo.cfg.history, algo.nets.obs_dim + algo.nets.act_dim))
    np.testing.assert_allclose(prior.belief(), empty.detach().numpy(), atol=1e-6)
    assert online.belief().shape == (2, algo.cfg.extrinsics_dim)


def test_every_episode_starts_from_an_empty_history_in_evaluation_as_in_training():
    """A trial's second episode starts as training's episodes do: no rows carried over the reset (the affine
    student, fed rows from across a reset it never trained on, lost return from episode 1 to 2)."""
    algo = make()
    fam = algo.family
    env = BatchedTaskEnv(fam, list(fam.split().test[:2]), seed=0)
    actor = algo.actor("episodic", 2, torch.Generator().manual_seed(0))
    obs, _ = env.reset(seed=0)
    actor.reset(np.ones(2, bool))
    for _ in range(3):
        action = actor.act(obs)
        nxt, reward, *_ = env.step(action)
        actor.observe(obs, action, reward, nxt, np.zeros(2, bool))
        obs = nxt
    assert torch.count_nonzero(actor.history[:, -3:]) > 0
    actor.reset(np.array([True, False]))
    assert torch.count_nonzero(actor.history[0]) == 0 and torch.count_nonzero(actor.history[1, -3:]) > 0


def test_the_teacher_method_is_told_the_true_parameters_and_a_payload_change_at_once():
    from robot_meta.belief import task_targets
    from robot_meta.evaluation import eval_env

    algo = make()
    fam = algo.family
    (teacher,) = [m for m in algo.eval_methods(seed=0) if m.name == "teacher"]
    tasks = list(fam.split().test[:2])
    env = eval_env(fam, [t.replace(payload_mass=0.0) for t in tasks], 0, [[(0.04, 2.5)], [(0.04, 2.5)]])
    actor = teacher.actor("online", env)
    obs, _ = env.reset(seed=0)
    actor.reset(np.ones(2, bool))
    for _ in range(4):  # 0.08 s at 50 Hz: past the change at 0.04 s
        action = actor.act(obs)
        obs, *_ = env.step(action)
    want = algo.nets.mu(task_targets(fam, env.task_vectors())).detach().numpy()
    payload = [p.name for p in fam.hidden_params].index("payload_mass")
    assert env.task_vectors()[:, payload].tolist() == [2.5, 2.5]
    np.testing.assert_allclose(actor.belief(), want, atol=1e-6)


def test_an_unprivileged_teacher_is_told_nothing_and_trains_as_a_domain_randomized_policy():
    """privileged=false: e = 0 for every task in collection and in the teacher method (one z for all tasks), so
    the same PPO trains a DR policy; privileged (the default): z differs with the task."""
    fam = get_family("planar_arm")
    tasks = list(fam.split().test[:2])
    assert tasks[0].payload_mass != tasks[1].payload_mass
    for flag, same in (("true", False), ("false", True)):
        algo = make("teacher_iterations=1", f"privileged={flag}")
        stats = algo.train_iteration()
        assert stats["phase"] == "teacher"  # one PPO update, on zeros for e when unprivileged
        teacher = algo.teacher_method(seed=0)
        env = BatchedTaskEnv(fam, tasks, seed=0)
        actor = teacher.actor("online", env)
        obs, _ = env.reset(seed=0)
        actor.reset(np.ones(2, bool))
        actor.act(obs)
        z = actor.belief()
        assert np.allclose(z[0], z[1]) == same
        # eval: an unprivileged run is one DR policy (its teacher), with no adapted, prior-only or belief rows
        methods = algo.eval_methods(seed=0)
        if same:
            assert [m.name for m in methods] == ["rma"]
            dr = methods[0].actor("online", BatchedTaskEnv(fam, tasks, seed=0))
            dr.reset(np.ones(2, bool))
            np.testing.assert_array_equal(dr.act(obs), actor.act(obs))
            assert not hasattr(dr, "belief")
        else:
            assert [m.name for m in methods] == ["rma", "prior_only", "teacher"]


def test_an_unprivileged_run_exports_its_teacher_as_a_static_dr_policy(tmp_path):
    """privileged=false: the policy dir holds pi(x, mu(0)) obs -> action, named "dr", adaptation "none", and
    the torch-free runtime acts as the teacher method does, whatever the task (no history, no read-out)."""
    import json

    from deploy.runtime import SafetyFilter, load_adapter
    from robot_meta.export import PARITY_TOL, export_algorithm

    algo = make("teacher_iterations=1", "privileged=false")
    algo.train_iteration()
    export_algorithm(algo, {"algo": "rma", "task": "planar_arm", "seed": 0}, tmp_path / "p")
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["algo"] == "dr" and manifest["adaptation"]["kind"] == "none"
    assert set(manifest["graphs"]) == {"policy"} and "belief_readout" not in manifest
    assert manifest["trained"]["source"] == "rma run, exported as dr"
    fam = algo.family
    tasks = list(fam.split().test[:2])
    env = BatchedTaskEnv(fam, tasks, seed=0)
    teacher = algo.teacher_method(seed=0)
    actor = teacher.actor("online", env)
    obs, _ = env.reset(seed=0)
    actor.reset(np.ones(2, bool))
    for _ in range(5):
        want = actor.act(obs)
        for i in range(2):
            adapter = load_adapter(tmp_path / "p", safety=SafetyFilter(want.shape[1]))
            np.testing.assert_allclose(adapter.act(obs[i], 0.0), want[i], atol=PARITY_TOL * 10)
        obs, *_ = env.step(want)


def test_task_range_evaluated_trains_on_the_oracles_tasks_held_out_payloads_included():
    from robot_meta.evaluation import oracle_tasks

    fam = get_family("planar_arm")
    algo = make("teacher_iterations=1", "task_range=evaluated")
    assert algo.train_tasks == oracle_tasks(fam)
    assert max(t.payload_mass for t in algo.train_tasks) > fam.spec_of("payload_mass").train[1]
    algo.train_iteration()
    assert all(t in algo.train_tasks for t in algo.env.tasks)  # what the iteration collected on
    assert make().train_tasks == list(fam.split().train[:6])  # the default: the split's training tasks
    from robot_meta.export_spec import ExportError

    with pytest.raises(ExportError, match="task_range=evaluated is an oracle"):
        algo.export_spec()  # an oracle runs in eval and sensitivity, never on a robot


@pytest.mark.parametrize(
    "bad",
    [
        "history=0",
        "teacher_iterations=-1",
        "student_lr=0",
        "gamma=0",
        "task_range=all",
        "student_target=e",
        "bound_estimate=true",
    ],
)
def test_bad_config_is_refused_by_name(bad):
    with pytest.raises(ConfigError, match=bad.split("=")[0]):
        make(bad)


def test_rma_teachers_stand_in_for_dr_and_the_oracle_in_eval_and_sensitivity(tmp_path, capsys):
    """`--dr-runs` / `--oracle-runs`: an unprivileged run's teacher is DR, a task_range=evaluated run's teacher the
    oracle (the same PPO), paired with the evaluated runs or the sensitivity's training seeds; a run of the
    wrong kind, another count or one list alone is refused by name before anything is evaluated."""
    import json

    from robot_meta.cli import main

    def train(name: str, *sets: str, seed: int = 0) -> str:
        out = tmp_path / name
        args = ["train", "--algo", "rma", "--task", "planar_arm", "--out", str(out), "--steps", "160", "--json"]
        assert main([*args, "--seed", str(seed), *(a for s in (*RMA_SETS, *sets) for a in ("--set", s))]) == 0
        return str(out)

    rma = [train("rma0")]
    dr = train("dr", "privileged=false", "teacher_iterations=100")
    oracle = train("oracle", "task_range=evaluated", "teacher_iterations=100")
    capsys.readouterr()
    out = tmp_path / "e.json"
    args = ["eval", *rma, "--episodes", "2", "--repeats", "1", "--out", str(out), "--json"]
    assert main([*args, "--dr-runs", dr, "--oracle-runs", oracle]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"rma", "prior_only", "teacher", "dr", "oracle"} <= set(report["episodic"]) and "excess_first" in report["online"][
        "dr"
    ]
    assert [r["run_dir"] for r in report["baseline_runs"]["oracle"]] == [oracle]
    assert report["baseline_runs"]["dr"][0]["source"] == "rma teacher" and report["baseline_runs"]["dr"][0]["steps"] == 160
    assert "summary" in report and "vs_dr" in report["summary"]
    # sensitivity: DR k with oracle k, nothing trained
    sens = tmp_path / "s.json"
    assert (
        main(
            [
                "sensitivity",
                dr,
                "--seeds",
                "1",
                "--dr-runs",
                dr,
                dr,
                "--oracle-runs",
                oracle,
                oracle,
                "--out",
                str(sens),
                "--json",
            ]
        )
        == 0
    )
    rep = json.loads(capsys.readouterr().out)
    assert (
        rep["train_seeds"] == 2 and rep["baseline_algo"] == "rma teacher" and rep["baselines"]["oracle"]["run_dir"] == oracle
    )
    assert (
        np.asarray(rep["steady_error_per_training_seed"]["dr"]).shape == (2, 6)
        and not (tmp_path / "dr" / "baselines").exists()
    )
    assert (
        rep["steady_error_per_training_seed"]["dr"][0] == rep["steady_error_per_training_seed"]["dr"][1]
    )  # same run, same starts
    # refused by name, exit 2, no report
    bad = tmp_path / "bad.json"
    for extra, named in (
        (["--dr-runs", rma[0]], rma[0]),  # an adaptive run is not a DR run
        (["--oracle-runs", dr], dr),  # nor is an unprivileged one an oracle
        (["--oracle-runs", oracle, oracle], "--oracle-runs takes one run dir, got 2"),
        (["--dr-runs", str(tmp_path / "nope")], "nope"),
    ):
        assert main(["eval", *rma, "--episodes", "2", "--repeats", "1", "--out", str(bad), *extra]) == 2
        assert named in capsys.readouterr().err and not bad.exists()
    assert main(["sensitivity", dr, "--dr-runs", dr, "--out", str(bad)]) == 2
    assert "--oracle-runs" in capsys.readouterr().err and not bad.exists()
    assert main(["sensitivity", dr, "--dr-runs", dr, "--oracle-runs", oracle, "--train-seeds", "2", "--out", str(bad)]) == 2
    assert "the run pairs are the training seeds" in capsys.readouterr().err and not bad.exists()
