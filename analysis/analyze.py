"""One call from a runs folder to every table the report and the notebooks show.

from analysis import analyze
result = analyze("results/runs/demo")
result.run_metrics          # one row per completed run
result.seed_aggregates      # mean and bootstrap CI over seeds, per (env, algo, metric)
result.aggregates           # rliable IQM / mean / median / optimality gap across tasks
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from analysis import aggregate
from analysis.argtypes import check_fraction, check_last_k
from analysis.envspec import EnvSpec, env_spec_from_config, load_env_specs
from analysis.load import Problem, RunSet, load_runs
from analysis.metrics import DEFAULT_LAST_K, equal_train_times, reference_levels, run_metrics, thresholds
from analysis.palette import algo_order, algo_palette

# Reference algorithms of the speedup tables and of the paper's claim.
REFERENCES = ("ppo", "randpol")
# The paper's claim is judged against PPO-level: this fraction of PPO's mean final return.
DEFAULT_REFERENCE_FRACTION = 0.9


class NoCompletedRunsError(ValueError):
    """A runs folder holds run folders, but none that completed."""


@dataclass
class Analysis:
    """Everything computed from one runs folder.

    :param runs: the loaded runs and the problems found
    :param specs: env name -> :class:`EnvSpec` (conf/env, or the run's config.yaml for an env
        the config tree does not have)
    :param thresholds: env -> return threshold used for "time to threshold"
    :param threshold_rule: how the thresholds were chosen, in words
    :param k: last evaluation points in the final return
    :param seed: seed of every bootstrap
    :param reps: bootstrap resamples
    :param run_metrics: one row per completed run (:func:`analysis.metrics.run_metrics`)
    :param seed_aggregates: mean and CI over seeds (:func:`analysis.aggregate.seed_aggregates`)
    :param scores: normalized-score matrices for rliable (:func:`analysis.aggregate.score_matrices`)
    :param aggregates: rliable interval estimates across tasks
    :param profile: (taus, profiles, cis) of the performance profile
    :param improvement: probability of improvement, reference algorithm vs each other
    :param time_ratios: reference -> ratio of train seconds to threshold (algo / reference)
    :param budget_ratios: reference -> ratio of train seconds to the budget
    :param step_ratios: reference -> ratio of timesteps to threshold
    :param palette: algo -> color, shared by every figure
    :param reference_fraction: PPO-level is this fraction of PPO's mean final return
        (:func:`analysis.metrics.reference_levels`)
    :param levels: env -> PPO-level return (NaN where PPO has no completed run)
    :param level_metrics: one row per completed run, as ``run_metrics`` but with the PPO-level
        as threshold (first, sustained and held crossings, holds at the end)
    :param level_aggregates: mean and CI over seeds of ``level_metrics``
    :param level_time_ratios: reference -> ratio of held train seconds to PPO-level
    :param level_step_ratios: reference -> ratio of held timesteps to PPO-level
    :param equal_times: env -> train seconds of the shortest run (return at equal train time)
    """

    runs: RunSet
    specs: dict[str, EnvSpec]
    thresholds: dict[str, float]
    threshold_rule: str
    k: int
    seed: int
    reps: int
    run_metrics: pd.DataFrame
    seed_aggregates: pd.DataFrame
    scores: aggregate.ScoreMatrices
    aggregates: pd.DataFrame
    profile: tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]
    improvement: pd.DataFrame
    time_ratios: dict[str, pd.DataFrame] = field(default_factory=dict)
    budget_ratios: dict[str, pd.DataFrame] = field(default_factory=dict)
    step_ratios: dict[str, pd.DataFrame] = field(default_factory=dict)
    palette: dict[str, str] = field(default_factory=dict)
    reference_fraction: float = DEFAULT_REFERENCE_FRACTION
    levels: dict[str, float] = field(default_factory=dict)
    level_metrics: pd.DataFrame = field(default_factory=pd.DataFrame)
    level_aggregates: pd.DataFrame = field(default_factory=pd.DataFrame)
    level_time_ratios: dict[str, pd.DataFrame] = field(default_factory=dict)
    level_step_ratios: dict[str, pd.DataFrame] = field(default_factory=dict)
    equal_times: dict[str, float] = field(default_factory=dict)

    @property
    def algos(self) -> list[str]:
        """Algorithms with a completed run, in the palette's order."""
        return algo_order(self.run_metrics["algo"].unique())

    @property
    def envs(self) -> list[str]:
        """Envs with a completed run, sorted."""
        return sorted(self.run_metrics["env"].unique())

    @property
    def problems(self) -> list[Problem]:
        """Damaged run folders (skipped) and warnings found while loading."""
        return self.runs.problems


def _specs_for(runs: RunSet, conf_dir: str | Path | None) -> tuple[dict[str, EnvSpec], list[Problem]]:
    """conf/env specs, completed by the env block of a run's config.yaml for envs conf lacks."""
    specs = load_env_specs(conf_dir)
    notes = []
    rows = runs.runs[["env", "env_name", "path"]].drop_duplicates("env")
    for env, env_name, path in rows.itertuples(index=False):
        if env in specs:
            continue
        if env_name in specs:  # one env under several budgets (analysis.load.label_tasks)
            specs[env] = dataclasses.replace(specs[env_name], name=env)
            continue
        config_path = Path(path) / "config.yaml"
        try:
            env_cfg = (yaml.safe_load(config_path.read_text()) or {}).get("env", {})
            specs[env] = env_spec_from_config(env_cfg, str(config_path))
        except (OSError, ValueError, AttributeError, yaml.YAMLError) as error:
            notes.append(
                Problem(Path(path), "config.yaml", f"no score bounds for env {env!r}: {error}", skipped=False)
            )
    return specs, notes


def analyze(
    runs_dir: str | Path | Sequence[str | Path],
    threshold_fraction: float | None = None,
    seed: int = 0,
    k: int = DEFAULT_LAST_K,
    reps: int = aggregate.DEFAULT_REPS,
    conf_dir: str | Path | None = None,
    log: Callable[[str], None] | None = None,
    reference_fraction: float = DEFAULT_REFERENCE_FRACTION,
) -> Analysis:
    """Load a runs folder and compute every metric, aggregate and ratio.

    :param runs_dir: a runs folder, a sweep folder or a single run folder, or several
    :param threshold_fraction: None to use each env's ``reward_threshold`` from conf; else a
        fraction in (0, 1] of the way from the env's lower score bound to the best algorithm's
        final return (see :func:`analysis.metrics.thresholds`)
    :param seed: seed of every bootstrap (same seed, same intervals)
    :param k: last evaluation points averaged into the final return, >= 1
    :param reps: bootstrap resamples, >= 100
    :param conf_dir: the config tree (default: ``conf/`` of this repository)
    :param log: callable taking one progress line (e.g. ``print``), or None
    :param reference_fraction: PPO-level return is this fraction, in (0, 1], of the way from the
        env's lower score bound to PPO's mean final return
    :raises FileNotFoundError: ``runs_dir`` does not exist
    :raises ValueError: no run folder under ``runs_dir``, or bad ``k``/``reps``/fraction
    :raises NoCompletedRunsError: run folders, but none completed (the message lists them)
    """
    # the same rules as the metrics apply, checked before any run is loaded
    check_last_k(k)
    if reps < 100:
        raise ValueError(f"reps={reps} is invalid; a bootstrap needs >= 100 resamples")
    if threshold_fraction is not None:
        check_fraction("threshold fraction", threshold_fraction)
    check_fraction("reference fraction", reference_fraction)
    say = log or (lambda line: None)
    where = ", ".join(map(str, [runs_dir] if isinstance(runs_dir, (str, Path)) else runs_dir))
    say(f"loading runs from {where}")
    runs = load_runs(runs_dir, log=say)
    counts = runs.runs["status"].value_counts().to_dict()
    damaged = sum(p.skipped for p in runs.problems)
    say(
        f"  {len(runs.runs)} run(s) loaded: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + (f"; {damaged} damaged run folder(s) skipped" if damaged else "")
    )
    if runs.completed.empty:
        listing = [
            f"  {row.path}: {row.status}"
            + (f" ({row.error_line})" if row.error else "")
            for row in runs.runs.itertuples()
        ]
        listing += [f"  {p}" for p in runs.problems if p.skipped]
        raise NoCompletedRunsError(
            f"no completed run under {where!r}; nothing to compare. Runs found:\n"
            + "\n".join(listing)
        )
    specs, notes = _specs_for(runs, conf_dir)
    runs.problems.extend(notes)
    # The same (env, algo, seed) from two sweeps would count one seed twice in every CI.
    completed = runs.completed
    for row in completed[completed.duplicated(["env", "algo", "seed"], keep="first")].itertuples():
        problem = Problem(
            Path(row.path),
            "meta.json",
            f"seed {row.seed} of {row.algo} on {row.env} is also in "
            "another sweep under this folder; both runs are counted",
            skipped=False,
        )
        runs.problems.append(problem)
        say(f"  ! {problem}")
    curves = runs.completed_curves
    env_thresholds = thresholds(curves, specs, threshold_fraction, k)
    rule = (
        "each env's reward_threshold (conf/env)"
        if threshold_fraction is None
        else f"{threshold_fraction:g} of the way from the env's lower score bound to the best algorithm's "
        f"mean final return"
    )
    say("computing metrics" + f" (thresholds: {rule})")
    equal_times = equal_train_times(curves)
    per_run = run_metrics(curves, runs.runs, specs, env_thresholds, k, equal_times)
    seed_aggregates = aggregate.seed_aggregates(per_run, seed=seed, reps=reps)
    levels = reference_levels(curves, specs, "ppo", reference_fraction, k)
    level_metrics = run_metrics(curves, runs.runs, specs, levels, k, equal_times)
    level_aggregates = aggregate.seed_aggregates(level_metrics, seed=seed, reps=reps)
    level_ratios = {
        name: {
            ref: aggregate.cost_ratios(level_metrics, ref, column, seed=seed, reps=reps)
            for ref in REFERENCES
            if ref in set(level_metrics["algo"])
        }
        for name, column in (("time", "held_train_time_to_threshold_s"), ("step", "held_timesteps_to_threshold"))
    }
    say("computing rliable aggregates across tasks")
    scores = aggregate.score_matrices(per_run)
    aggregates = aggregate.aggregate_scores(scores.scores, seed=seed, reps=reps)
    profile = aggregate.performance_profiles(scores.scores, seed=seed, reps=reps)
    pairs = aggregate.improvement_pairs(algo_order(scores.scores))
    improvement = aggregate.probability_of_improvement(scores.scores, pairs, seed=seed, reps=reps)
    ratios = {}
    for name, column in (
        ("time", "train_time_to_threshold_s"),
        ("budget", "train_time_to_budget_s"),
        ("step", "timesteps_to_threshold"),
    ):
        ratios[name] = {
            ref: aggregate.cost_ratios(per_run, ref, column, seed=seed, reps=reps)
            for ref in REFERENCES
            if ref in set(per_run["algo"])
        }
    return Analysis(
        runs=runs,
        specs=specs,
        thresholds=env_thresholds,
        threshold_rule=rule,
        k=k,
        seed=seed,
        reps=reps,
        run_metrics=per_run,
        seed_aggregates=seed_aggregates,
        scores=scores,
        aggregates=aggregates,
        profile=profile,
        improvement=improvement,
        time_ratios=ratios["time"],
        budget_ratios=ratios["budget"],
        step_ratios=ratios["step"],
        palette=algo_palette(per_run["algo"].unique()),
        reference_fraction=reference_fraction,
        levels=levels,
        level_metrics=level_metrics,
        level_aggregates=level_aggregates,
        level_time_ratios=level_ratios["time"],
        level_step_ratios=level_ratios["step"],
        equal_times=equal_times,
    )
