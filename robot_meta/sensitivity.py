"""`robot-meta sensitivity`: does the payload matter on this family? DR and oracle steady error vs payload.

Before anything adaptive is trained on a family, the family has to make the payload matter: at a heavy
payload an oracle (told the true hidden parameters, trained over their evaluated ranges, held-out regions
included) must track better than the domain-randomized policy (trained on the training range, told nothing),
or there is nothing to adapt to. For each payload from 0 to the heaviest held-out one, under fixed commands (a few values across
each command's training range) and nominal other dynamics, every policy runs episodes that start with that
payload; its steady error is the mean tracking error over the second half of the episode, averaged over
seeds (independent starts and sensor noise).

Acceptance (issue 15): at the heaviest held-out payload DR's steady error is at least `REQUIRED_RATIO` times
the oracle's, and the oracle is nowhere worse than DR (beyond a tolerance of `ORACLE_SLACK`, the noise of
the seed mean).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robot_meta.baselines import SB3Actor
from robot_meta.collector import CollectorState, collect
from robot_meta.eval_run import ensure_population_baselines, population_config, teacher_baselines
from robot_meta.evaluation import eval_env
from robot_meta.train import family_of

REQUIRED_RATIO = 1.5  # DR's steady error over the oracle's at the heaviest held-out payload
ORACLE_SLACK = 0.05  # relative: the oracle may exceed DR by this much at a payload before it counts as worse
N_PAYLOADS = 6
COMMANDS_PER_AXIS = 2  # values per command, spread over its training range


def payload_grid(family: Any, n: int = N_PAYLOADS) -> list[float]:
    """0 kg to the heaviest held-out payload (the training maximum when nothing heavier is held out)."""
    spec = family.spec_of("payload_mass")
    heaviest = max([spec.train[1], *(hi for _, hi in spec.test_only)])
    return [round(float(x), 3) for x in np.linspace(0.0, heaviest, n)]


def command_grid(family: Any, per_axis: int = COMMANDS_PER_AXIS) -> list[dict[str, float]]:
    """Fixed commands: `per_axis` values inside each command's training range (a quarter in from each end),
    every combination."""
    axes = []
    for p in family.command_params:
        lo, hi = p.train
        axes.append([round(float(v), 3) for v in np.linspace(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo), per_axis)])
    return [dict(zip([p.name for p in family.command_params], combo, strict=True)) for combo in itertools.product(*axes)]


def nominal_dynamics(family: Any) -> dict[str, float]:
    """The hidden parameters other than the payload's mass at which every payload is measured: the family's
    declared defaults (on the runner an 8 deg uphill grade, which is what makes its payload matter)."""
    task = family.task()
    return {p.name: float(getattr(task, p.name)) for p in family.hidden_params if p.name != "payload_mass"}


def steady_errors(
    policies: dict[str, Any], family: Any, payloads: list[float], commands: list[dict], seeds: list[int]
) -> dict[str, np.ndarray]:
    """Per policy, steady error (payloads, commands, seeds): the mean tracking error over the second half of an
    episode that starts with the payload, other dynamics nominal. `policies` maps a name to `actor(env)`."""
    tasks = [family.task(payload_mass=kg, **cmd) for kg in payloads for cmd in commands]
    half = family.episode_steps // 2
    out = {}
    for name, make_actor in policies.items():
        runs = []
        for seed in seeds:
            env = eval_env(family, tasks, seed)
            state = CollectorState(env)
            state.reset(seed=seed)
            roll = collect(state, make_actor(env), family.episode_steps)
            runs.append(roll.tracking_error[half:].mean(0))  # (tasks,)
        out[name] = np.stack(runs, -1).reshape(len(payloads), len(commands), len(seeds))
    return out


def _interval(x: np.ndarray) -> np.ndarray | None:
    """95% Student-t half-width of the mean over axis 0 (training seeds); None for a single run."""
    from scipy import stats

    n = x.shape[0]
    if n < 2:
        return None
    return stats.t.ppf(0.975, n - 1) * x.std(0, ddof=1) / np.sqrt(n)


def verdict(payloads: list[float], dr: np.ndarray, oracle: np.ndarray) -> dict[str, Any]:
    """The acceptance check on steady errors of shape (payloads,) or (training seeds, payloads).

    The ratio at the heaviest payload is that of the means over training seeds (with the 95% interval of the
    per-seed ratios when there are several). The oracle is worse than DR at a payload when its mean exceeds DR's
    by more than `ORACLE_SLACK` and, with several training seeds, when the 95% interval of the paired difference
    (oracle k was started from DR k) lies above zero: one PPO run to the next differs by more than the slack.
    With several training seeds the ratio is judged the same way: the family passes when the 95% interval of
    the paired margin DR k - REQUIRED_RATIO * oracle k at the heaviest payload lies above zero, fails when it lies
    below, and is inconclusive when the seeds disagree (one seed passing and another failing is not a result).
    """
    dr, oracle = np.atleast_2d(dr), np.atleast_2d(oracle)
    d_mean, o_mean = dr.mean(0), oracle.mean(0)
    ratio = float(d_mean[-1] / max(o_mean[-1], 1e-12))
    ratios = dr[:, -1] / np.maximum(oracle[:, -1], 1e-12)
    half = _interval(ratios[:, None])
    diff = oracle - dr  # paired: oracle k was started from DR k
    diff_half = _interval(diff)
    worse = [
        kg
        for i, kg in enumerate(payloads)
        if o_mean[i] > (1 + ORACLE_SLACK) * d_mean[i] and (diff_half is None or diff[:, i].mean() - diff_half[i] > 0)
    ]
    margin = dr[:, -1] - REQUIRED_RATIO * oracle[:, -1]  # paired, per training seed
    margin_half = _interval(margin[:, None])
    spread_of_margin = 0.0 if margin_half is None else float(margin_half[0])  # one seed: the margin itself
    lo, hi = float(margin.mean()) - spread_of_margin, float(margin.mean()) + spread_of_margin
    ok = ratio >= REQUIRED_RATIO and not worse and lo >= 0.0
    if ok:
        status, conclusion = "passes", "the payload matters here"
    elif worse:  # an upper bound below DR says the baselines are weak, not that the payload does not matter
        status, conclusion = (
            "inconclusive",
            "the baselines are too weak to judge the family (more steps or training seeds, --train-seeds)",
        )
    elif lo < 0.0 < hi:
        above = int((margin > 0).sum())
        spread_text = (
            "the training seeds disagree"
            if 0 < above < len(margin)
            else f"every training seed is {'above' if above else 'below'} {REQUIRED_RATIO}x but {len(margin)} seeds "
            "leave the interval wide"
        )
        status, conclusion = (
            "inconclusive",
            f"{spread_text} (95% interval of DR - {REQUIRED_RATIO} x oracle at {payloads[-1]:g} kg: "
            f"[{lo:.3g}, {hi:.3g}]; more training seeds)",
        )
    else:
        status, conclusion = "fails", "the payload does NOT matter enough on this family as it stands"
    spread = f" (95% interval over {dr.shape[0]} training seeds +-{float(half[0]):.2f})" if half is not None else ""
    text = (
        f"at {payloads[-1]:g} kg DR's steady error is {ratio:.2f}x the oracle's{spread} (needed >= {REQUIRED_RATIO}); "
        + (f"the oracle is worse than DR at {worse} kg" if worse else "the oracle is nowhere worse than DR")
        + f": {conclusion}"
    )
    return {
        "ratio_at_heaviest": ratio,
        "ratio_at_heaviest_ci95": None if half is None else [ratio - float(half[0]), ratio + float(half[0])],
        "margin_at_heaviest_ci95": None if margin_half is None else [float(lo), float(hi)],  # DR - 1.5 x oracle
        "training_seeds": int(dr.shape[0]),
        "oracle_worse_at_kg": worse,
        "passes": ok,
        "status": status,
        "text": text,
    }


@dataclass(frozen=True)
class BaselineOptions:
    """How the DR and oracle baselines of a sensitivity run are trained and where they are cached (the
    `--baseline-*` options of `robot-meta sensitivity`, shared by `train_replica` and `run_sensitivity`).

    Attributes:
        baseline_dir: cache of trained baselines; None means RUN_DIR/baselines.
        baseline_algo: stable-baselines3 algorithm, "ppo" or "sac".
        baseline_steps: DR env steps; None takes the algorithm's default.
        oracle_steps: oracle env steps, trained on top of DR's (warm start); None means as many as DR.
        baseline_preset: hyperparameter preset of `robot_meta.baselines`.
        quiet: no progress lines on stderr.
    """

    baseline_dir: Path | None = None
    baseline_algo: str = "ppo"
    baseline_steps: int | None = None
    oracle_steps: int | None = None
    baseline_preset: str = "default"
    quiet: bool = False


def _baseline_setup(run_dir: Path, opts: BaselineOptions) -> tuple[dict, Any, Path, Any]:
    """(run record, family, baseline cache dir, baseline config) of a sensitivity run."""
    record = json.loads((Path(run_dir) / "config.json").read_text())
    family = family_of(record["task"], record.get("family_module"))
    if family.payload_parent is None:
        raise ValueError(f"family {family.name!r} has no payload: nothing to measure")
    cache = Path(opts.baseline_dir) if opts.baseline_dir is not None else Path(run_dir) / "baselines"
    cfg = population_config(opts.baseline_algo, opts.baseline_steps, opts.oracle_steps, opts.baseline_preset)
    return record, family, cache, cfg


def train_replica(run_dir: Path, replica: int, opts: BaselineOptions = BaselineOptions()) -> dict[str, Any]:
    """Trains (or finds cached) training run `replica` of `run_sensitivity`'s baselines alone, DR then its oracle,
    and measures nothing: two processes given 0 and 1 train on two cores at once, and `run_sensitivity` with
    `train_seeds` 2 then measures both from the cache. Returns where they are and their seeds."""
    if replica < 0:
        raise ValueError(f"--replica takes a training run index >= 0, got {replica}")
    record, family, cache, cfg = _baseline_setup(run_dir, opts)
    models = ensure_population_baselines(cache, family, cfg, record["seed"], opts.quiet, replica=replica)
    return {
        "family": family.name,
        "baseline_dir": str(cache),
        "replica": replica,
        "baselines": {name: {k: m.meta.get(k) for k in ("algo", "steps", "wall_s", "seed")} for name, m in models.items()},
    }


def run_sensitivity(
    run_dir: Path,
    seeds: int = 2,
    train_seeds: int = 1,
    opts: BaselineOptions = BaselineOptions(),
    dr_runs: list[Path] | None = None,
    oracle_runs: list[Path] | None = None,
) -> dict[str, Any]:
    """DR and oracle (trained once per training seed and cached like `eval --baselines`) across payloads; returns
    the report. `train_seeds` > 1 trains DR and the oracle that many times (seeds run seed + k) and reports the
    means with 95% intervals over training runs, the spread that decides whether a baseline is strong
    (`train_replica` trains one of them alone).

    `dr_runs` and `oracle_runs` (together, the same number): DR k and oracle k are the teachers of RMA runs
    (`eval_run.teacher_baseline`: the same PPO for both) instead of SB3 policies; nothing is trained and
    `train_seeds` is the number of pairs."""
    if train_seeds < 1:
        raise ValueError(f"--train-seeds takes a positive integer, got {train_seeds}")
    if bool(dr_runs) != bool(oracle_runs) or (dr_runs and len(dr_runs) != len(oracle_runs or [])):
        raise ValueError("--dr-runs and --oracle-runs go together, one oracle run per DR run (pair k: DR k, oracle k)")
    record, family, cache, cfg = _baseline_setup(run_dir, opts)
    payloads, commands = payload_grid(family), command_grid(family)
    replicas: list[dict[str, tuple[Any, dict[str, Any]]]] = []
    if dr_runs:
        for pair in teacher_baselines(dr_runs, oracle_runs, len(dr_runs), family.name):
            replicas.append(
                {role: (lambda env, m=method: m.actor("online", env), info) for role, (method, info) in pair.items()}
            )
    else:
        for k in range(train_seeds):
            models = ensure_population_baselines(cache, family, cfg, record["seed"], opts.quiet, replica=k)
            replicas.append(
                {
                    "dr": (lambda env, m=models["dr"]: SB3Actor(m), _sb3_info(models["dr"], cache)),
                    "oracle": (lambda env, m=models["oracle"]: SB3Actor(m, env), _sb3_info(models["oracle"], cache)),
                }
            )
    errors: dict[str, list[np.ndarray]] = {"dr": [], "oracle": []}
    for pair in replicas:
        policies = {name: make_actor for name, (make_actor, _) in pair.items()}
        for name, err in steady_errors(policies, family, payloads, commands, list(range(seeds))).items():
            errors[name].append(err)
    stacked = {k: np.stack(v) for k, v in errors.items()}  # (training seeds, payloads, commands, eval seeds)
    per_run = {k: v.mean((2, 3)) for k, v in stacked.items()}  # (training seeds, payloads)
    means = {k: v.mean(0) for k, v in per_run.items()}
    spec = family.spec_of("payload_mass")
    return {
        "family": family.name,
        "run_dir": str(run_dir),
        "baseline_dir": None if dr_runs else str(cache),
        "baseline_steps": None if dr_runs else cfg.steps,
        "baseline_algo": "rma teacher" if dr_runs else cfg.algo,
        "error_unit": family.error_unit,
        "payloads_kg": payloads,
        "train_payload_kg": list(spec.train),
        "commands": commands,
        "nominal": nominal_dynamics(family),
        "seeds": seeds,
        "train_seeds": len(replicas),
        "baselines": {
            name: replicas[0][name][1] | {"seeds": [pair[name][1].get("seed") for pair in replicas]}
            for name in ("dr", "oracle")
        },
        "steady_error": {k: v[0].tolist() for k, v in stacked.items()},  # first training seed: (payloads, commands, seeds)
        "steady_error_per_training_seed": {k: v.tolist() for k, v in per_run.items()},  # (training seeds, payloads)
        "steady_error_mean": {k: v.tolist() for k, v in means.items()},
        "steady_error_ci95_over_training_seeds": {
            k: (None if (h := _interval(v)) is None else h.tolist()) for k, v in per_run.items()
        },
        "steady_error_std_over_seeds": {k: v.mean(2).std(-1).mean(0).tolist() for k, v in stacked.items()},
        "verdict": verdict(payloads, per_run["dr"], per_run["oracle"]),
        "definition": "steady error = mean tracking error over the second half of an episode that starts with the "
        "payload, commands fixed, other dynamics nominal; DR trained on the training range, the oracle over the "
        "evaluated range (training range and held-out regions) with the true hidden parameters"
        + (", each the teacher of an RMA run (the same PPO)" if dr_runs else ", started from DR"),
    }


def _sb3_info(model: Any, cache: Path) -> dict[str, Any]:
    """What the report records about an SB3 baseline: its training and its cache."""
    return {k: model.meta.get(k) for k in ("algo", "steps", "wall_s", "seed")} | {"cache": str(cache)}


def plot_sensitivity(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    kg = np.array(report["payloads_kg"])
    ci = report.get("steady_error_ci95_over_training_seeds", {})
    per_seed = report.get("steady_error_per_training_seed", {})
    top = 0.0
    for name, color in (("dr", "tab:orange"), ("oracle", "tab:green")):
        m = np.array(report["steady_error_mean"][name])
        over_training = ci.get(name) is not None
        s = np.array(ci[name] if over_training else report["steady_error_std_over_seeds"][name])
        band = "95% over training seeds" if over_training else "std over starts"
        ax.plot(kg, m, "o-", color=color, label=f"{name} ({band})")
        ax.fill_between(kg, np.maximum(m - s, 0.0), m + s, color=color, alpha=0.1)  # an error is never below 0
        runs = np.array(per_seed.get(name, [m]))
        if over_training:  # each training run too: with 2 or 3 runs the t interval alone hides what they did
            for k, run in enumerate(runs):
                ax.plot(kg, run, "-", lw=0.8, alpha=0.6, color=color, label=f"{name}, each training seed" if k == 0 else None)
        top = max(top, float(runs.max()), float(m.max()))
    lo, hi = report["train_payload_kg"]
    ax.axvspan(lo, hi, color="k", alpha=0.06, label="training payloads")
    ax.set_xlabel("payload (kg)")
    ax.set_ylabel(f"steady tracking error ({report.get('error_unit', '?')})")
    ax.set_ylim(0.0, 1.4 * top)  # the runs, not a 2-seed t interval (x12.7 the spread), set the scale
    ax.set_title(f"{report['family']}: {report['verdict']['ratio_at_heaviest']:.2f}x at {kg[-1]:g} kg")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(report: dict[str, Any]) -> str:
    n_train = report.get("train_seeds", 1)
    lines = [
        f"{report['family']}: steady tracking error ({report.get('error_unit', '?')}), commands {report['commands']}, {report['seeds']} seeds"
        + (f", mean and 95% interval over {n_train} training seeds" if n_train > 1 else "")
    ]
    if report.get("nominal"):
        lines.append("  other dynamics: " + ", ".join(f"{k}={v:g}" for k, v in report["nominal"].items()))
    for name, b in report.get("baselines", {}).items():
        wall = f", {b['wall_s'] / 60:.0f} min" if b.get("wall_s") is not None else ""
        seeds = b.get("seeds") or [b.get("seed")]
        learner = "RMA's teacher (PPO)" if b.get("source") == "rma teacher" else f"SB3 {str(b.get('algo')).upper()}"
        lines.append(f"  {name}: {learner}, {b.get('steps')} env steps{wall}, seeds {seeds}")
    ci = report.get("steady_error_ci95_over_training_seeds") or {}
    width = 16 if ci.get("dr") is not None else 8
    lines.append(f"{'payload kg':>10} {'DR':>{width}} {'oracle':>{width}} {'DR/oracle':>10}")
    for i, (kg, d, o) in enumerate(
        zip(report["payloads_kg"], report["steady_error_mean"]["dr"], report["steady_error_mean"]["oracle"], strict=True)
    ):
        cells = [f"{v:.3f}" + (f" +-{ci[k][i]:.3f}" if ci.get(k) is not None else "") for k, v in (("dr", d), ("oracle", o))]
        lines.append(f"{kg:>10g} {cells[0]:>{width}} {cells[1]:>{width}} {d / max(o, 1e-12):>10.2f}")
    lines.append(report["verdict"]["text"])
    return "\n".join(lines)
