"""`robot-meta eval`: the evaluation protocol on trained runs, with baselines, as JSON and a figure.

Several run dirs (the same algorithm and family, different seeds) are aggregated: numbers are reported
as mean and spread over test tasks x seeds, and the spread of the per-seed means. Baselines are trained
once per run dir and cached under `RUN_DIR/baselines/` (state_dicts).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from deploy.metrics import SMOOTH_S, summarize
from robot_meta.baselines import (
    ORACLE_INPUT,
    PRESETS,
    BaselineConfig,
    SB3Actor,
    baseline_path,
    load_policy,
    read_meta,
    read_partial,
    save_policy,
    train_model,
)
from robot_meta.checkpoint import atomic_write_text, file_sha256
from robot_meta.evaluation import Method, belief_probe, evaluate, oracle_tasks, probe_tasks
from robot_meta.logger import read_metrics, training_wall_s
from robot_meta.train import RunDirError, load_run
from robot_meta.video import online_video
from sim_tasks import get_family

BASELINES = ("dr", "oracle", "scratch_1x", "scratch_100x")


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"[eval] {msg}", file=sys.stderr, flush=True)


def baseline_tasks(family: Any, name: str) -> list[Any]:
    """What a population baseline trains on: DR the split's training tasks (as the adaptive methods); the
    oracle, an upper bound and not a competitor, `evaluation.oracle_tasks` (over the evaluated range of each
    hidden parameter, held-out regions included)."""
    return list(family.split().train) if name != "oracle" else oracle_tasks(family)


# Env steps of each population baseline when the CLI does not say: PPO needs more samples than SAC, and 2.5M
# (20-25 min on one core) is where the measured PPO baselines of issue 15 were trained (docs/commands.md).
DEFAULT_BASELINE_STEPS = {"ppo": 2_500_000, "sac": 400_000}


def population_config(algo: str, steps: int | None, oracle_steps: int | None, preset: str = "default") -> BaselineConfig:
    """The baselines' config from the CLI's --baseline-algo, --baseline-steps, --oracle-steps (None: default) and
    --baseline-preset (a name in `baselines.PRESETS`)."""
    if preset not in PRESETS:
        raise ValueError(f"baseline preset {preset!r} is not one of {', '.join(PRESETS)}")
    cfg = BaselineConfig(algo=algo, steps=steps if steps is not None else DEFAULT_BASELINE_STEPS[algo], **PRESETS[preset])
    return replace(cfg, oracle_steps=oracle_steps)


def tasks_fingerprint(family: Any, tasks: list[Any]) -> str:
    """sha256 of what a baseline was trained for: the family's name, parameter declarations (ranges, defaults,
    roles) and observation layout, and its training tasks. A cache made for another family, or before a family
    changed (the runner's slopes in the tenth session), is retrained rather than measured as if it were this one."""
    h = hashlib.sha256()
    for part in (family.name, repr(family.params), repr(family.obs_layout), *(repr(t) for t in tasks)):
        h.update(part.encode())
    return h.hexdigest()


# What a cache written before a setting existed was trained with: raw observations, a constant rate.
PREDATES = {"normalize": False, "lr_schedule": "constant"}


def _config_differences(saved: dict[str, Any], cfg: BaselineConfig) -> list[str]:
    """The settings a cached baseline was trained with that differ from `cfg`, as "name saved -> now" (a setting
    the cache predates counts as what training did then: `PREDATES`, else its default; steps are checked on
    their own, since more steps than asked for are fine)."""
    now = {**cfg.__dict__, "hidden": list(cfg.hidden)}
    out = []
    for name, value in now.items():
        if name in ("steps", "oracle_steps"):
            continue
        before = saved.get(name, PREDATES.get(name, BaselineConfig.__dataclass_fields__[name].default))
        before = list(before) if isinstance(before, tuple) else before
        if before != value:
            out.append(f"{name} {before!r} -> {value!r}")
    return out


def ensure_population_baseline(
    cache_dir: Path,
    name: str,
    family: Any,
    train_tasks: list[Any],
    cfg: BaselineConfig,
    seed: int,
    quiet: bool = False,
    init_path: Path | None = None,
    replica: int = 0,
) -> Any:
    """DR or oracle (SB3 `cfg.algo`): loaded from `baseline_path` (by default under RUN_DIR/baselines); trained
    and saved when missing or trained another way (normalization, the oracle's inputs, tasks or start).

    `init_path`: the cached DR policy the oracle starts from (`cfg.oracle_init == "dr"`); an oracle started from
    another DR file than the one there now is retrained. `replica` > 0: another training run, seed `seed + replica`.
    """
    path = baseline_path(cache_dir, name, cfg.algo, replica)
    seed = seed + replica
    oracle = name == "oracle"
    steps = cfg.oracle_steps if oracle and cfg.oracle_steps is not None else cfg.steps
    init_sha = file_sha256(init_path) if oracle and init_path is not None else None
    trained_for = tasks_fingerprint(family, train_tasks)
    if path.exists():
        meta = read_meta(path)
        stale = []
        if meta.get("tasks_sha256") != trained_for:  # checked first: another family's policy may not even load
            stale.append(f"another family or other tasks (it was trained for {meta.get('family', 'an unrecorded family')!r})")
        if meta.get("steps", steps) < steps:
            stale.append(f"{meta['steps']} env steps, fewer than the {steps} asked for")
        other = _config_differences(meta.get("config", {}), cfg)
        if other:
            stale.append("other settings (" + ", ".join(other) + ")")
        if oracle and meta.get("oracle_input") != ORACLE_INPUT:  # its tasks are in tasks_sha256
            stale.append(f"an older oracle's input encoding (now {ORACLE_INPUT!r})")
        if oracle and meta.get("init_sha256") != init_sha:
            stale.append("another start (now " + ("the DR policy in " + str(init_path) if init_sha else "from scratch") + ")")
        if not stale:
            return load_policy(path, family, train_tasks, cfg, oracle)
        _say(f"{path} was trained with {' and '.join(stale)}: retraining it", quiet)
    init = load_policy(init_path, family, train_tasks, cfg, oracle=False) if init_sha else None
    start_text = f", starting from the DR policy {init_path}" if init else ""
    # What a partial checkpoint must have been written for to be resumed: the same training in every respect.
    key = {
        "name": name,
        "algo": cfg.algo,
        "steps": steps,
        "seed": seed,
        "config": {**cfg.__dict__, "hidden": list(cfg.hidden)},
        "family": family.name,
        "tasks_sha256": trained_for,
    }
    if oracle:
        key["oracle_input"] = ORACLE_INPUT
        key["init_sha256"] = init_sha
    partial_path = path.with_name(path.name + ".partial")
    partial = read_partial(partial_path, key) if cfg.algo == "ppo" else None
    if partial is not None:
        start_text += f", resuming at {partial['num_timesteps']} env steps from {partial_path}"
    elif partial_path.exists():
        start_text += f" ({partial_path} was written for another training and is replaced)"
    _say(f"training the {name} baseline (SB3 {cfg.algo.upper()}, {steps} env steps{start_text}) into {path}", quiet)
    progress = not quiet and sys.stderr.isatty()
    log = None if quiet or progress else (lambda line: _say(f"{name} baseline: {line}", quiet))  # a log file's progress
    model = train_model(
        family, train_tasks, cfg, seed=seed, oracle=oracle, steps=steps, progress=progress, init=init,
        checkpoint=partial_path if cfg.algo == "ppo" else None, checkpoint_key=key, resume=partial, log=log,
    )  # fmt: skip
    run = model.meta
    # the bar compares baselines at the same wall time: a resumed training counts its earlier part too
    meta = dict(key, wall_s=round(run.get("wall_s_before", 0.0) + run["wall_s_this"], 3))
    if "resumed_at" in run:
        meta["resumed_at"] = run["resumed_at"]
    if init is not None:  # the oracle's whole training is DR's and its own
        meta["init"] = {k: init.meta.get(k) for k in ("algo", "steps", "wall_s", "seed")} | {"path": str(init_path)}
    save_policy(model, path, meta)
    partial_path.unlink(missing_ok=True)
    model.meta = meta
    return model


def _mean_r2_by_param(beliefs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Every hidden parameter's probe R², mean over seeds (None where it does not vary over the held-out tasks)."""
    out: dict[str, float | None] = {}
    for name in beliefs[0].get("r2", {}):
        values = [b["r2"][name] for b in beliefs]
        out[name] = None if any(v is None for v in values) else float(np.mean(values))
    return out


def ensure_population_baselines(
    cache_dir: Path, family: Any, cfg: BaselineConfig, seed: int, quiet: bool = False, replica: int = 0
) -> dict:
    """DR, then the oracle (started from that DR when `cfg.oracle_init == "dr"`), each on `baseline_tasks`;
    `replica` > 0 is another training run of both (seed `seed + replica`, its own cache files)."""
    dr = ensure_population_baseline(cache_dir, "dr", family, baseline_tasks(family, "dr"), cfg, seed, quiet, replica=replica)
    init_path = baseline_path(cache_dir, "dr", cfg.algo, replica) if cfg.oracle_init == "dr" else None
    oracle = ensure_population_baseline(
        cache_dir, "oracle", family, baseline_tasks(family, "oracle"), cfg, seed, quiet, init_path=init_path, replica=replica
    )
    return {"dr": dr, "oracle": oracle}


# An RMA run whose teacher is a population baseline: (privileged, task_range) and how to train one.
TEACHER_BASELINES = {
    "dr": ((False, "train"), "--set privileged=false"),
    "oracle": ((True, "evaluated"), "--set task_range=evaluated"),
}


def teacher_baseline(
    run_dir: Path, role: str, family_name: str, loaded: tuple[Any, dict[str, Any]] | None = None
) -> tuple[Method, dict[str, Any]]:
    """DR or the oracle from an RMA run's teacher (`--dr-runs`, `--oracle-runs`): the same PPO, networks and
    budget as RMA itself, which on the runner is a stronger learner than SB3's PPO (docs/belief.md). DR: a run
    trained with privileged=false on the training tasks; the oracle: privileged (the default) with
    task_range=evaluated, told the true parameters over the oracle's tasks. `loaded`: what `load_run(run_dir)`
    returned, for a caller that already loaded the run (it is not loaded again). Returns the method, named
    `role`, and what the report records about where it came from. Raises RunDirError naming a run that is
    neither."""
    if role not in TEACHER_BASELINES:
        raise RunDirError(f"a teacher baseline is one of {', '.join(TEACHER_BASELINES)}, got {role!r}")
    algorithm, record = loaded if loaded is not None else load_run(run_dir)
    (privileged, task_range), how = TEACHER_BASELINES[role]
    kind = (getattr(algorithm.cfg, "privileged", None), getattr(algorithm.cfg, "task_range", None))
    if record["algo"] != "rma" or kind != (privileged, task_range):
        raise RunDirError(
            f"{run_dir} is not an RMA {role} run (privileged={privileged}, task_range={task_range}): train one with "
            f"robot-meta train --algo rma --task {family_name} {how} --set teacher_iterations=N, N past the iterations "
            "it will run"
        )
    if record["task"] != family_name:
        raise RunDirError(f"{run_dir} trained on {record['task']}, not {family_name}: a baseline runs on the same family")
    if algorithm.iteration > algorithm.cfg.teacher_iterations:
        raise RunDirError(f"{run_dir} went on to train its student: its teacher is no longer the whole run")
    teacher = algorithm.teacher_method(seed=0)
    info = {
        "source": "rma teacher",
        "run_dir": str(run_dir),
        "seed": record["seed"],
        "steps": algorithm.env_steps,
        "iterations": algorithm.iteration,
        "wall_s": round(training_wall_s(read_metrics(run_dir)), 1),
    }
    return Method(role, teacher.actor), info


def teacher_baselines(
    dr_runs: list[Path] | None, oracle_runs: list[Path] | None, n: int, family_name: str
) -> list[dict[str, tuple[Method, dict[str, Any]]]]:
    """`n` sets of teacher baselines, set k from run k of each list (or its only run): paired with the k-th
    evaluated seed (eval) or training seed (sensitivity). Raises RunDirError when a list has another length."""
    sets: list[dict[str, tuple[Method, dict[str, Any]]]] = [{} for _ in range(n)]
    for role, runs in (("dr", dr_runs), ("oracle", oracle_runs)):
        if not runs:
            continue
        if len(runs) not in (1, n):
            want = "one run dir" if n == 1 else f"one run dir for all or {n}, one per seed in order"
            raise RunDirError(f"--{role}-runs takes {want}, got {len(runs)}")
        loaded = [teacher_baseline(Path(r), role, family_name) for r in runs]
        for k in range(n):
            sets[k][role] = loaded[k if len(loaded) > 1 else 0]
    return sets


def scratch_method(
    cache_dir: Path, name: str, family: Any, tasks: list[Any], budget: int, cfg: BaselineConfig, seed: int, quiet: bool
) -> Method:
    """SAC trained from scratch on each task with `budget` env steps (cached per task)."""
    models = []
    small = replace(  # always SAC: off-policy is what a from-scratch learner on one task's small budget uses
        cfg, algo="sac", n_envs=1, learning_starts=min(cfg.learning_starts, max(budget // 4, 1)), buffer_size=max(budget, 1000)
    )
    for i, task in enumerate(tasks):
        path = Path(cache_dir) / f"{name}_task{i:02d}.pt"
        if path.exists():
            model = load_policy(path, family, [task], small, oracle=False)
        else:
            _say(f"training {name} on test task {i} ({budget} env steps)", quiet)
            model = train_model(family, [task], small, seed=seed + i, oracle=False, steps=budget)
            save_policy(model, path, {"name": name, "task": task.to_dict(), "steps": budget})
        models.append(model)
    return Method(name, lambda mode, env: SB3Actor(models[env.first_child]), per_task=True)


def run_eval_video_check(run_dir: Path) -> None:
    """`eval --video` needs an online payload change: raises ValueError for a family without held-out payloads,
    before anything is loaded or evaluated."""
    record = json.loads((Path(run_dir) / "config.json").read_text())
    family = get_family(record["task"])
    if not family.payload_parent or not any("payload_mass" in family.holdout_regions(t) for t in family.split().test):
        raise ValueError(f"--video shows the online payload change; {family.name} has no held-out payloads")


def run_eval(
    run_dirs: list[Path],
    baselines: bool,
    episodes: int = 3,
    prior_episodes: int = 1,
    scratch_tasks: int = 3,
    baseline_steps: int | None = None,
    quiet: bool = False,
    eval_seed: int = 0,
    scratch_multipliers: tuple[int, int] = (1, 100),
    baseline_dir: Path | None = None,
    repeats: int = 1,
    baseline_algo: str = "ppo",
    oracle_steps: int | None = None,
    baseline_preset: str = "default",
    video: Path | None = None,
    dr_runs: list[Path] | None = None,
    oracle_runs: list[Path] | None = None,
) -> dict[str, Any]:
    """Evaluate runs (one per seed) of one algorithm on one family; returns the report (JSON-ready).

    `dr_runs` / `oracle_runs`: DR and the oracle from RMA teachers (`teacher_baseline`), one per evaluated run
    in order (or one for all), in place of the SB3 ones; `baselines` then adds only what they leave out.

    With `video`, the first run's online protocol episode on the held-out task with the heaviest payload is
    rendered, one panel per method side by side (same start, same change), as an MP4 there and a GIF beside it.

    Baselines are cached per run dir (RUN_DIR/baselines, trained with the run's seed) unless `baseline_dir`
    names one cache for all runs: then every seed is compared with the same baseline policies, which costs
    one set of SAC trainings instead of one per seed (the report records which).
    """

    per_seed = []
    record0 = None
    task = json.loads((Path(run_dirs[0]) / "config.json").read_text())["task"]
    teachers = teacher_baselines(dr_runs, oracle_runs, len(run_dirs), task)
    for k, run_dir in enumerate(run_dirs):
        algorithm, record = load_run(run_dir)
        if record0 and (record["task"], record["algo"]) != (record0["task"], record0["algo"]):
            raise ValueError(
                f"{run_dir} is {record['algo']} on {record['task']}; {run_dirs[0]} is {record0['algo']} on {record0['task']}"
            )
        record0 = record0 or record
        family = get_family(record["task"])
        split = family.split()
        tasks = list(split.test)
        online_tasks = [t for t in tasks if "payload_mass" in family.holdout_regions(t)] if family.payload_parent else []
        methods = algorithm.eval_methods(seed=eval_seed, prior_episodes=prior_episodes)
        methods += [method for method, _ in teachers[k].values()]
        if baselines:
            cache = Path(baseline_dir) if baseline_dir is not None else Path(run_dir) / "baselines"
            cfg = population_config(baseline_algo, baseline_steps, oracle_steps, baseline_preset)
            if len(teachers[k]) < 2:  # SB3's DR and oracle, for what no RMA teacher stands in
                models = ensure_population_baselines(cache, family, cfg, record["seed"], quiet)
                if "dr" not in teachers[k]:
                    methods.append(Method("dr", lambda mode, env, m=models["dr"]: SB3Actor(m)))
                if "oracle" not in teachers[k]:
                    methods.append(Method("oracle", lambda mode, env, m=models["oracle"]: SB3Actor(m, env)))
            chosen = tasks[:scratch_tasks]
            budget = (episodes - 1) * family.episode_steps  # the experience the adapted method had before its last episode
            for mult, name in zip(scratch_multipliers, ("scratch_1x", "scratch_100x"), strict=True):
                if not chosen:
                    break  # --scratch-tasks 0 leaves the from-scratch baselines out
                steps = max(budget, family.episode_steps) * mult
                methods.append(scratch_method(cache, name, family, chosen, steps, cfg, record["seed"], quiet))
        if video is not None and not online_tasks:  # before any evaluation is spent
            raise ValueError(f"--video shows the online payload change; {family.name} has no held-out payloads")
        by_name = {m.name: m for m in methods}
        result: dict[str, Any] = {"run_dir": str(run_dir), "seed": record["seed"]}
        if baselines:
            result["baseline_dir"], result["baseline_algo"] = str(cache), baseline_algo
        if teachers[k]:
            result["baseline_runs"] = {role: info for role, (_, info) in teachers[k].items()}
        whole = [m for m in methods if not m.per_task]
        result.update(
            evaluate(
                whole, family, tasks, episodes, eval_seed, online_tasks, progress=lambda s: _say(s, quiet), repeats=repeats
            )
        )
        probe = belief_probe(
            by_name[record["algo"]],
            family,
            probe_tasks(family),
            [eval_seed + r for r in range(repeats)],
            online_tasks=online_tasks,
            change_time_s=result.get("online_change_time_s"),
        )
        if probe is not None:
            result["belief"] = probe
        if video is not None and not per_seed:  # the first run's methods, side by side
            k = max(range(len(online_tasks)), key=lambda i: online_tasks[i].payload_mass)
            _say(f"rendering the online episode of held-out task {k} ({online_tasks[k].payload_mass:g} kg) to {video}", quiet)
            video_out = online_video(
                whole, family, online_tasks[k], result["online_change_time_s"], eval_seed, Path(video), first=k
            )
        scratch = [by_name[n] for n in ("scratch_1x", "scratch_100x") if n in by_name]
        if scratch:
            sub = evaluate(
                scratch,
                family,
                tasks[:scratch_tasks],
                episodes,
                eval_seed,
                online_tasks=None,
                progress=lambda s: _say(s, quiet),
                repeats=repeats,
            )
            result["episodic"].update(sub["episodic"])
        result["regions"] = [family.holdout_regions(t) for t in tasks]
        result["online_regions"] = [family.holdout_regions(t) for t in online_tasks] * repeats
        per_seed.append(result)
    report = aggregate(per_seed, record0, episodes, prior_episodes, scratch_tasks)
    report["scratch_multipliers"] = list(scratch_multipliers)
    if video is not None:
        report["video"] = video_out
    return report


def _last_episode(returns: list[list[float]]) -> np.ndarray:
    return np.array(returns)[:, -1]


ONLINE_KEYS = (
    "pre_error",
    "post_error",
    "peak_error",
    "steady_error",
    "adaptation_time_s",
    "excess_first",
    "excess_steady",
)


def aggregate(
    per_seed: list[dict[str, Any]], record: dict[str, Any], episodes: int, prior_episodes: int, scratch_tasks: int
) -> dict[str, Any]:
    """Mean and spread over tasks x seeds, per-seed means, and the headline comparisons."""

    family = get_family(record["task"])
    methods = list(per_seed[0]["episodic"])
    report: dict[str, Any] = {
        "algo": record["algo"],
        "task": record["task"],
        "seeds": [r["seed"] for r in per_seed],
        "run_dirs": [r["run_dir"] for r in per_seed],
        "episodes": episodes,
        "prior_episodes": prior_episodes,
        "n_test_tasks": len(per_seed[0]["regions"]),
        "scratch_tasks": scratch_tasks,
        "repeats": per_seed[0].get("repeats", 1),
        "protocol": (
            "episodic: return of episode k in a new test task, context carried; online: payload 0 -> the test "
            "task's payload at the change time, tracking error vs time; adaptation time = until the 0.5 s forward "
            "mean error stays for 1 s within 10% (plus the family's floor) of the same policy's steady error with "
            "that payload (an episode that starts with it); excess over the oracle = the error minus the oracle's "
            "on the same task and starts, integrated over the first 2 s (excess_first) and averaged after "
            "(excess_steady)"
        ),
        "episodic": {},
        "online": {},
        "per_seed": per_seed,
    }
    if any("baseline_runs" in r for r in per_seed):  # DR / oracle from RMA teachers: say which, per seed
        roles = {role for r in per_seed for role in r.get("baseline_runs", {})}
        report["baseline_runs"] = {role: [r.get("baseline_runs", {}).get(role) for r in per_seed] for role in sorted(roles)}
    rows: dict[str, np.ndarray] = {}  # per method, (seeds*tasks, K), rows in the same order for every method
    regions = [reg for r in per_seed for reg in r["regions"]]
    # The held-out payload regions, one mask over the rows for every method (and the gap of each region below).
    region_masks = {
        f"payload_{kind}": np.array([g.get("payload_mass") == kind for g in regions])
        for kind in ("extrapolation", "interpolation")
    }
    for name in methods:
        arr = rows[name] = np.concatenate([np.array(r["episodic"][name]) for r in per_seed], 0)
        seed_means = [float(np.mean(np.array(r["episodic"][name])[:, -1])) for r in per_seed]
        entry = {
            "by_episode": {"mean": arr.mean(0).tolist(), "std": arr.std(0).tolist()},
            "last_episode": summarize(arr[:, -1]),
            "seed_means": seed_means,
            "seed_std": float(np.std(seed_means)),
            "rise": _paired(arr[:, -1] - arr[:, 0]),
        }
        if name not in ("scratch_1x", "scratch_100x"):
            for label, mask in region_masks.items():
                if mask.any():
                    entry[label] = summarize(arr[mask, -1])
        report["episodic"][name] = entry
    algo = record["algo"]
    if algo in rows and "prior_only" in rows:
        # Episode K with the adapted context minus prior-only's episode K in the same task and with the same
        # start and sensor noise: what the context adds, free of the start-to-start noise that moves the rise
        # (on the runner prior-only, the same policy each episode, "rises" by ±5).
        report["episodic"][algo]["vs_prior_only"] = _paired(rows[algo][:, -1] - rows["prior_only"][:, -1])
    if all("belief" in r for r in per_seed):
        r2 = [r["belief"]["payload_r2"] for r in per_seed]
        report["belief"] = {
            "payload_r2": summarize(np.array(r2, dtype=float)),
            "payload_r2_by_seed": r2,
            # every hidden parameter's R², mean over seeds (None where it does not vary over the held-out tasks)
            "r2_by_param": _mean_r2_by_param([r["belief"] for r in per_seed]),
            "samples_per_seed": per_seed[0]["belief"]["samples"],
            "belief_dim": per_seed[0]["belief"]["belief_dim"],
            "definition": "out-of-fold R² (5 folds by task) of a ridge linear fit of payload mass from the belief "
            "(PEARL's posterior mean, RL²'s hidden state) averaged over the second half of episodes that start with "
            f"the task's payload, on {per_seed[0]['belief']['tasks']} held-out tasks inside the training range "
            "(evaluation.probe_tasks)",
        }
        settle = [x for r in per_seed for x in r["belief"].get("settle_time_s", [])]
        if settle:
            arr = np.array(settle, dtype=float)
            report["belief"]["settle_time_s"] = {
                "median": float(np.nanmedian(arr)) if np.isfinite(arr).any() else None,
                "settled": f"{int(np.isfinite(arr).sum())}/{arr.size}",
                "definition": "time from the payload change until the payload read from the belief (the fit above, "
                f"on all the probe's tasks), as a trailing mean over {SMOOTH_S:g} s, stays within 20% of the new "
                "payload to the episode's end",
            }
            report["belief"]["payload_estimate_by_seed"] = [r["belief"]["payload_estimate"] for r in per_seed]
            # what the estimate is read against in the plot: the new payloads' mean and the training range (kg)
            report["belief"]["payload_after_change_by_seed"] = [r["belief"].get("payload_after_change") for r in per_seed]
            report["belief"]["payload_train_range"] = list(family.spec_of("payload_mass").train)
    online_runs: dict[str, dict[str, list]] = {}  # per method, every online run's numbers, the same order for all
    if per_seed[0].get("online"):
        report["online_change_time_s"] = per_seed[0]["online_change_time_s"]
        for name in per_seed[0]["online"]:
            errs = np.concatenate([np.array(r["online"][name]["errors"]) for r in per_seed], 0)
            o = online_runs[name] = {k: [x for r in per_seed for x in r["online"][name].get(k, [])] for k in ONLINE_KEYS}
            adapt = o["adaptation_time_s"]
            times = np.array([np.nan if x is None else x for x in adapt], dtype=float)  # NaN: never settled
            entry = {
                "error_mean": errs.mean(0).tolist(),
                "error_std": errs.std(0).tolist(),
                **{
                    k: summarize(np.array(o[k], dtype=float))
                    for k in ("pre_error", "post_error", "peak_error", "steady_error")
                },
                "adaptation_time_s": {**summarize(times), "median_ci95": _median_ci(times)},
                "adapted": f"{sum(x is not None for x in adapt)}/{len(adapt)}",
            }
            for k in ("excess_first", "excess_steady"):
                if o[k]:
                    entry[k] = summarize(np.array(o[k], dtype=float))
            report["online"][name] = entry
    eps = report["episodic"]
    if all(k in eps for k in ("pearl", "dr", "oracle")) or all(k in eps for k in (record["algo"], "dr", "oracle")):
        adapted = eps[record["algo"]]["last_episode"]["mean"]
        dr, oracle = eps["dr"]["last_episode"]["mean"], eps["oracle"]["last_episode"]["mean"]
        trio = (record["algo"], "dr", "oracle")
        gap, gap_ci = _reliable_gap(*(rows[k][:, -1] for k in trio))
        summary = {
            "adapted": adapted,
            "prior_only": eps.get("prior_only", {}).get("last_episode", {}).get("mean"),
            "dr": dr,
            "oracle": oracle,
            "gap_closed": gap,
            "gap_closed_ci95": gap_ci,
            "rise": eps[record["algo"]]["rise"],
            "vs_prior_only": eps[record["algo"]].get("vs_prior_only"),
            # The adapted policy minus DR on the same tasks and starts: a comparison that needs no oracle, so it
            # holds where the oracle is too weak to make the gap meaningful.
            "vs_dr": {"return": _paired_ci(rows[record["algo"]][:, -1] - rows["dr"][:, -1])},
        }
        if record["algo"] in online_runs and "dr" in online_runs:
            steady = {k: np.array(online_runs[k]["steady_error"], float) for k in (record["algo"], "dr")}
            summary["vs_dr"]["steady_error"] = _paired_ci(steady[record["algo"]] - steady["dr"])
        for region, mask in region_masks.items():
            if all(region in eps[k] for k in trio):
                a, d, o = (eps[k][region]["mean"] for k in trio)
                region_gap = _reliable_gap(*(rows[k][mask, -1] for k in trio))[0]
                summary[region] = {"adapted": a, "dr": d, "oracle": o, "gap_closed": region_gap}
        if oracle <= dr:
            summary["warning"] = (
                "the oracle baseline is not above the domain-randomized one, so the gap is undefined: "
                "the oracle is undertrained for this family at this budget"
            )
        elif gap is None:
            summary["warning"] = (
                "the oracle baseline is not reliably above the domain-randomized one (above it in under 97.5% of "
                "bootstrap resamples of the tasks), so the gap is undefined: compare with DR directly (vs_dr)"
            )
        report["summary"] = summary
    report["ctrl_dt"] = family.ctrl_dt
    return report


def _paired(diff: np.ndarray) -> dict[str, float]:
    """Mean of a per-task paired difference with its standard error: episode K minus episode 1 in the same
    task (the in-context rise), so that the task-to-task spread, which dwarfs the effect, cancels."""
    d = np.asarray(diff, dtype=float)
    return {
        "mean": float(d.mean()),
        "se": float(d.std(ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("nan"),
        "n": int(d.size),
    }


def _bootstrap_rows(n: int, n_boot: int) -> np.ndarray:
    """(n_boot, n) row indices drawn with replacement from a fixed generator: same report, same interval."""
    return np.random.default_rng(0).integers(0, n, size=(n_boot, n))


def _paired_ci(diff: np.ndarray, n_boot: int = 2000) -> dict[str, Any]:
    """Mean of a paired difference (one row per task x repeat x seed, both methods on the same tasks and starts)
    with its 95% bootstrap interval over the rows. Fixed generator: same report, same interval."""
    d = np.asarray(diff, dtype=float)
    means = d[_bootstrap_rows(d.size, n_boot)].mean(1)
    return {
        "mean": float(d.mean()),
        "ci95": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
        "n": int(d.size),
    }


def _median_ci(times: np.ndarray, n_boot: int = 2000) -> list[float | None]:
    """95% bootstrap interval over runs of the median adaptation time (s), the median as the report gives it:
    over the runs that settled (NaN: never settled). A resample in which no run settled has no median and counts
    as slower than any; an end of the interval there is None (never). Order statistics, the outer one on each
    side, as a resample's median may be infinite. Fixed generator: same report, same interval."""
    t = np.asarray(times, dtype=float)
    samples = t[_bootstrap_rows(t.size, n_boot)]
    settled = np.isfinite(samples).any(1)
    meds = np.full(n_boot, np.inf)
    meds[settled] = np.nanmedian(samples[settled], 1)
    ends = (np.percentile(meds, 2.5, method="lower"), np.percentile(meds, 97.5, method="higher"))
    return [float(x) if np.isfinite(x) else None for x in ends]


def _gap_ci(adapted: np.ndarray, dr: np.ndarray, oracle: np.ndarray, n_boot: int = 2000) -> list[float] | None:
    """95% bootstrap interval of the gap closed, resampling (seed, task) rows jointly for the three methods
    (they ran on the same tasks, so the resampling keeps the pairing). Fixed generator: same report, same
    interval."""
    idx = _bootstrap_rows(len(adapted), n_boot)
    a, d, o = adapted[idx].mean(1), dr[idx].mean(1), oracle[idx].mean(1)
    ok = o > d
    if ok.mean() < 0.975:  # the oracle is not reliably above DR: the ratio has no interval
        return None
    gaps = (a[ok] - d[ok]) / (o[ok] - d[ok])
    return [float(np.percentile(gaps, 2.5)), float(np.percentile(gaps, 97.5))]


def _reliable_gap(adapted: np.ndarray, dr: np.ndarray, oracle: np.ndarray) -> tuple[float | None, list[float] | None]:
    """The gap closed over these rows and its interval, both None unless the oracle is reliably above DR (in 97.5%
    of bootstrap resamples): an oracle a hair above DR makes the ratio explode (0.1 return of gap printed "gap
    closed 852.86")."""
    ci = _gap_ci(adapted, dr, oracle)
    return (None, None) if ci is None else (_gap(adapted.mean(), dr.mean(), oracle.mean()), ci)


def _gap(adapted: float, dr: float, oracle: float) -> float | None:
    """Fraction of the DR-to-oracle gap closed; None when the oracle is not above DR (no gap to close)."""
    return (adapted - dr) / (oracle - dr) if oracle > dr else None


def plot_report(report: dict[str, Any], path: Path) -> None:
    """Panels: return by episode, last-episode return by held-out region, online error vs time, the payload read
    from the belief through the same change (when the method has a belief), meta-training curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {
        "pearl": "tab:blue",
        "rl2": "tab:purple",
        "rma": "tab:red",
        "prior_only": "tab:gray",
        "teacher": "tab:olive",
        "dr": "tab:orange",
        "oracle": "tab:green",
        "scratch_1x": "tab:brown",
        "scratch_100x": "tab:pink",
    }
    estimates = report.get("belief", {}).get("payload_estimate_by_seed")
    fig, axes = plt.subplots(1, 5 if estimates else 4, figsize=(25 if estimates else 20, 4.2))
    ax = axes[0]
    for name, e in report["episodic"].items():
        m, s = np.array(e["by_episode"]["mean"]), np.array(e["by_episode"]["std"])
        k = np.arange(1, len(m) + 1)
        ax.plot(k, m, "-o", color=colors.get(name), label=name, ms=4)
        ax.fill_between(k, m - s, m + s, color=colors.get(name), alpha=0.12)
    ax.set_xlabel("episode in a new test task")
    ax.set_ylabel("return")
    ax.set_title("episodic adaptation (mean ± std over tasks x seeds)")
    ax.set_xticks(range(1, report["episodes"] + 1))
    ax.legend(fontsize=7)
    ax = axes[1]
    names = [n for n in report["episodic"] if not n.startswith("scratch")]
    groups = ["all", "payload_interpolation", "payload_extrapolation"]
    width = 0.8 / max(len(names), 1)
    for j, name in enumerate(names):
        e = report["episodic"][name]
        vals = [e["last_episode"]] + [e.get(g) for g in groups[1:]]
        xs = np.arange(len(groups)) + j * width
        ax.bar(
            xs,
            [v["mean"] if v else np.nan for v in vals],
            width,
            yerr=[v["std"] if v else 0 for v in vals],
            color=colors.get(name),
            label=name,
            capsize=2,
        )
    ax.set_xticks(np.arange(len(groups)) + width * (len(names) - 1) / 2)
    ax.set_xticklabels(["all test tasks", "payload\n(held out, inside)", "payload\n(heavier than training)"], fontsize=8)
    ax.set_ylabel(f"return of episode {report['episodes']}")
    ax.set_title("adapted return by held-out region")
    ax = axes[2]
    if report["online"]:
        dt = report["ctrl_dt"]
        change = report["online_change_time_s"]
        for name, o in report["online"].items():
            m = np.array(o["error_mean"])
            t = np.arange(len(m)) * dt - change
            ad = o["adaptation_time_s"]["median"]
            label = f"{name} (adapts in {ad:.2f} s, {o['adapted']})" if np.isfinite(ad) else f"{name} (never settled)"
            ax.plot(t, m, color=colors.get(name), label=label, lw=1.2)
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.set_xlabel("time since payload change [s]")
        ax.set_ylabel("tracking error")
        ax.set_title("online adaptation: payload 0 -> held-out payload")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, "no online (payload) evaluation for this family", ha="center")
    if estimates:
        _plot_payload_estimate(axes[3], report, colors.get(report["algo"]))
    ax = axes[-1]
    for k, run_dir in enumerate(report["run_dirs"]):
        rows = read_metrics(Path(run_dir))
        steps = np.array([r["env_steps"] for r in rows], float)
        for key, style in (("return_posterior", "-"), ("return_mean", "-"), ("test_return_last", "o-")):
            vals = np.array([np.nan if r.get(key) is None else r[key] for r in rows], float)
            ok = np.isfinite(vals)
            if ok.sum() < 2:
                continue
            y = vals[ok]
            if style == "-" and len(y) > 9:
                y = np.convolve(np.pad(y, 4, mode="edge"), np.ones(9) / 9, mode="valid")
            label = {
                "return_posterior": "training tasks (posterior), smoothed",
                "return_mean": "training trials, smoothed",
                "test_return_last": "held-out tasks, last episode",
            }[key]
            ax.plot(steps[ok] / 1e6, y, style, ms=3, lw=1, label=label + (f" (seed {report['seeds'][k]})" if k else ""))
    ax.set_xlabel("env steps [millions]")
    ax.set_ylabel("return")
    ax.set_title("meta-training (metrics.jsonl)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7)
    else:  # a short run: fewer than two iterations with a finite return
        ax.text(0.5, 0.5, "too few iterations with a return to plot", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(
        f"{report['algo']} on {report['task']}: {report['n_test_tasks']} held-out tasks, seeds {report['seeds']}", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_payload_estimate(ax: Any, report: dict[str, Any], color: str | None) -> None:
    """The payload read from the belief (the probe's linear fit) through the online change, mean over the runs of
    each seed, against the new payloads' mean and the training range: an estimate that flattens at the heaviest
    training payload says the belief cannot represent a heavier one."""
    belief = report["belief"]
    change = report.get("online_change_time_s") or 0.0
    truths = belief.get("payload_after_change_by_seed") or []
    for k, trace in enumerate(belief["payload_estimate_by_seed"]):
        t = np.arange(len(trace)) * report["ctrl_dt"] - change
        ax.plot(t, trace, color=color, alpha=1.0 if k == 0 else 0.5, lw=1.2, label="read from the belief" if k == 0 else None)
    known = [x for x in truths if x is not None]
    if known:
        ax.axhline(float(np.mean(known)), color="k", ls="--", lw=0.9, label=f"new payload, mean {np.mean(known):.2f}")
    if belief.get("payload_train_range"):
        lo, hi = belief["payload_train_range"]
        ax.axhspan(lo, hi, color="tab:gray", alpha=0.12, label=f"training range [{lo:g}, {hi:g}]")
    ax.axvline(0, color="k", ls=":", lw=0.8)
    settle = belief.get("settle_time_s", {})
    ax.set_title(f"payload estimate (settles within 20%: {settle.get('settled', '?')})")
    ax.set_xlabel("time since payload change [s]")
    ax.set_ylabel("payload [kg]")
    ax.legend(fontsize=7)


def write_report(report: dict[str, Any], path: Path) -> None:

    atomic_write_text(Path(path), json.dumps(report, indent=1, default=lambda x: None))
