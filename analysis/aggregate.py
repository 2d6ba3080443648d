"""Aggregates over seeds (bootstrap confidence intervals) and over tasks (rliable).

Over seeds, per (env, algo): the mean of a per-run metric with a percentile-bootstrap 95% CI
(``scipy.stats.bootstrap``). Over tasks, per algo: rliable's IQM, mean, median and optimality
gap of min-max normalized scores with stratified-bootstrap CIs, performance profiles and the
probability of improvement (Agarwal et al., "Deep Reinforcement Learning at the Edge of the
Statistical Precipice", NeurIPS 2021). Every bootstrap takes a seed: the same inputs and seed
give the same intervals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.stats
from rliable import library as rly
from rliable import metrics as rly_metrics

from analysis.argtypes import DEFAULT_REPS

CONFIDENCE = 0.95

# rliable's aggregate metrics on a (n_runs, n_tasks) score matrix, in the order plotted.
SCORE_AGGREGATES: dict[str, Callable[[np.ndarray], float]] = {
    "IQM": rly_metrics.aggregate_iqm,
    "Mean": rly_metrics.aggregate_mean,
    "Median": rly_metrics.aggregate_median,
    "Optimality gap": rly_metrics.aggregate_optimality_gap,
}

# Per-run metrics aggregated over seeds in the report tables.
SEED_METRICS = (
    "final_return",
    "score",
    "auc",
    "timesteps_to_threshold",
    "train_time_to_threshold_s",
    "sustained_timesteps_to_threshold",
    "sustained_train_time_to_threshold_s",
    "held_timesteps_to_threshold",
    "held_train_time_to_threshold_s",
    "holds_threshold",
    "return_at_equal_time",
    "median_fps",
    "train_time_to_budget_s",
    "wall_time_s",
)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    seed: int,
    confidence: float = CONFIDENCE,
    reps: int = DEFAULT_REPS,
) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the mean.

    :param values: one value per seed; NaNs are ignored
    :param seed: seed of the bootstrap's random generator
    :param confidence: coverage in (0, 1)
    :param reps: bootstrap resamples
    :return: (low, high); (NaN, NaN) with fewer than 2 values, (v, v) when all values equal v
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("nan"), float("nan")
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    result = scipy.stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=reps,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def curve_bands(
    aligned: pd.DataFrame,
    x: str,
    y: str = "eval_return_mean",
    seed: int = 0,
    confidence: float = CONFIDENCE,
    reps: int = DEFAULT_REPS,
) -> pd.DataFrame:
    """Mean curve over seeds with a percentile-bootstrap CI band, per (env, algo).

    :param aligned: curves on a common grid (:func:`analysis.metrics.align_curves`), so that the
        runs of an (env, algo) share their ``x`` values
    :param x: grid column
    :param y: value column
    :param seed: bootstrap seed
    :return: frame with env, algo, ``x``, n (runs with a value there), mean, ci_low, ci_high (NaN
        where fewer than 2 runs have a value)
    """
    pieces = []
    for (env, algo), group in aligned.groupby(["env", "algo"], sort=True):
        matrix = group.pivot_table(index="run_id", columns=x, values=y, dropna=False).to_numpy(dtype=float)
        grid = np.sort(group[x].unique())
        n = np.isfinite(matrix).sum(axis=0)
        mean = (
            np.nanmean(np.where(np.isfinite(matrix), matrix, np.nan), axis=0)
            if matrix.size
            else grid * np.nan
        )
        low = np.full(grid.shape, np.nan)
        high = np.full(grid.shape, np.nan)
        full = n == matrix.shape[0]
        if matrix.shape[0] >= 2 and full.any():
            values = matrix[:, full]
            spread = np.ptp(values, axis=0) > 0
            low[full], high[full] = mean[full], mean[full]
            if spread.any():
                result = scipy.stats.bootstrap(
                    (values[:, spread],),
                    np.mean,
                    axis=0,
                    n_resamples=reps,
                    confidence_level=confidence,
                    method="percentile",
                    vectorized=True,
                    rng=np.random.default_rng(seed),
                )
                index = np.flatnonzero(full)[spread]
                low[index], high[index] = result.confidence_interval.low, result.confidence_interval.high
        pieces.append(
            pd.DataFrame(
                {"env": env, "algo": algo, x: grid, "n": n, "mean": mean, "ci_low": low, "ci_high": high}
            )
        )
    columns = ["env", "algo", x, "n", "mean", "ci_low", "ci_high"]
    return pd.concat(pieces, ignore_index=True)[columns] if pieces else pd.DataFrame(columns=columns)


def seed_aggregates(
    run_metrics: pd.DataFrame,
    metrics: Sequence[str] = SEED_METRICS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
    reps: int = DEFAULT_REPS,
) -> pd.DataFrame:
    """Mean and bootstrap CI over seeds of per-run metrics, per (env, algo).

    NaN values (e.g. time to a threshold that was not reached) are left out of the mean and the
    CI and counted in ``n`` versus ``n_runs``.

    :param run_metrics: one row per run (:func:`analysis.metrics.run_metrics`)
    :param metrics: columns to aggregate
    :param seed: bootstrap seed (each interval restarts from it, so the result does not depend on
        the order of the table)
    :return: tidy frame with columns env, algo, metric, n_runs, n, mean, ci_low, ci_high
    """
    rows = []
    for (env, algo), group in run_metrics.groupby(["env", "algo"], sort=True):
        for metric in metrics:
            values = group[metric].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            low, high = bootstrap_ci(finite, seed, confidence, reps)
            rows.append(
                {
                    "env": env,
                    "algo": algo,
                    "metric": metric,
                    "n_runs": len(values),
                    "n": len(finite),
                    "mean": float(finite.mean()) if finite.size else float("nan"),
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return pd.DataFrame(rows, columns=["env", "algo", "metric", "n_runs", "n", "mean", "ci_low", "ci_high"])


def cost_ratios(
    run_metrics: pd.DataFrame,
    reference: str,
    column: str = "train_time_to_threshold_s",
    seed: int = 0,
    confidence: float = CONFIDENCE,
    reps: int = DEFAULT_REPS,
) -> pd.DataFrame:
    """Ratio of an algorithm's mean cost ``column`` to the reference algorithm's, per env.

    A cost is train seconds or env steps (to a threshold, or to the whole budget). With
    ``column="train_time_to_threshold_s"`` this is the speedup table of the report: a ratio
    of 2 means the algorithm needs twice the reference's train seconds to reach the threshold;
    runs that did not reach it are left out of the means and counted in ``n``/``ref_n``.
    The CI resamples both algorithms' seeds independently (percentile bootstrap of the ratio of
    means).

    :param run_metrics: one row per run
    :param reference: algorithm name (e.g. ``"ppo"`` or ``"randpol"``)
    :param column: per-run quantity (seconds or env steps)
    :param seed: bootstrap seed
    :return: frame with env, algo, reference, n_runs, n, mean, ref_n_runs, ref_n, ref_mean,
        ratio, ci_low, ci_high (ratio NaN where either side has no finite value); empty if the
        reference algorithm has no runs
    """
    rows = []
    for env, group in run_metrics.groupby("env", sort=True):
        ref_values = group.loc[group["algo"] == reference, column].to_numpy(dtype=float)
        if ref_values.size == 0:
            continue
        ref = ref_values[np.isfinite(ref_values)]
        for algo, algo_group in group.groupby("algo", sort=True):
            values = algo_group[column].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            ratio = low = high = float("nan")
            if finite.size and ref.size:
                ratio = float(finite.mean() / ref.mean())
                if algo == reference:
                    low = high = 1.0
                elif finite.size >= 2 and ref.size >= 2:
                    result = scipy.stats.bootstrap(
                        (finite, ref),
                        lambda a, b, axis: np.mean(a, axis=axis) / np.mean(b, axis=axis),
                        n_resamples=reps,
                        confidence_level=confidence,
                        method="percentile",
                        vectorized=True,
                        paired=False,
                        rng=np.random.default_rng(seed),
                    )
                    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
            rows.append(
                {
                    "env": env,
                    "algo": algo,
                    "reference": reference,
                    "n_runs": len(values),
                    "n": len(finite),
                    "mean": float(finite.mean()) if finite.size else float("nan"),
                    "ref_n_runs": len(ref_values),
                    "ref_n": len(ref),
                    "ref_mean": float(ref.mean()) if ref.size else float("nan"),
                    "ratio": ratio,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    columns = [
        "env",
        "algo",
        "reference",
        "n_runs",
        "n",
        "mean",
        "ref_n_runs",
        "ref_n",
        "ref_mean",
        "ratio",
        "ci_low",
        "ci_high",
    ]
    return pd.DataFrame(rows, columns=columns)


@contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for the block, then restore its previous state.

    rliable's stratified bootstrap draws its resampling indices from ``np.random`` (the global
    generator), whatever ``random_state`` it is given; seeding it is what makes rliable's
    intervals reproducible.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass
class ScoreMatrices:
    """Normalized scores arranged for rliable.

    :param scores: algo -> array of shape (n_runs, n_tasks); column j is ``tasks[j]``, row i the
        i-th lowest seed of that algorithm on each task
    :param tasks: env names, the columns of every matrix
    :param notes: what was left out to make the matrices rectangular, in words
    """

    scores: dict[str, np.ndarray]
    tasks: list[str]
    notes: list[str] = field(default_factory=list)


def score_matrices(run_metrics: pd.DataFrame, column: str = "score") -> ScoreMatrices:
    """Arrange per-run normalized scores into one (n_runs, n_tasks) matrix per algorithm.

    rliable compares algorithms on the same tasks with a rectangular matrix each: the tasks are
    the envs on which every algorithm has a finite score, and each algorithm keeps as many seeds
    as it has on its task with the fewest (its lowest seeds). Everything left out is named in
    ``notes``.

    :param run_metrics: one row per run, with columns env, algo, seed and ``column``
    :param column: the per-run score (min-max normalized final return by default)
    """
    table = run_metrics[np.isfinite(run_metrics[column].to_numpy(dtype=float))]
    notes = []
    dropped = run_metrics[~run_metrics.index.isin(table.index)]
    for env in sorted(dropped["env"].unique()):
        notes.append(f"{env}: no score bounds, scores not normalized; left out of the aggregates")
    algos = sorted(table["algo"].unique())
    all_envs = sorted(table["env"].unique())
    tasks = [
        env for env in all_envs if all(((table["env"] == env) & (table["algo"] == a)).any() for a in algos)
    ]
    for env in all_envs:
        if env not in tasks:
            missing = [a for a in algos if not ((table["env"] == env) & (table["algo"] == a)).any()]
            notes.append(f"{env}: left out of the aggregates (no completed run of {', '.join(missing)})")
    scores = {}
    for algo in algos:
        per_task = [
            table[(table["algo"] == algo) & (table["env"] == env)]
            .sort_values("seed")[column]
            .to_numpy(dtype=float)
            for env in tasks
        ]
        if not per_task:
            continue
        n_runs = min(len(values) for values in per_task)
        if any(len(values) > n_runs for values in per_task):
            notes.append(f"{algo}: {n_runs} seed(s) per task used (the fewest it has on a task)")
        scores[algo] = np.stack([values[:n_runs] for values in per_task], axis=1)
    return ScoreMatrices(scores, tasks, notes)


def aggregate_scores(
    scores: dict[str, np.ndarray],
    seed: int = 0,
    reps: int = DEFAULT_REPS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """rliable's IQM, mean, median and optimality gap with stratified-bootstrap CIs.

    :param scores: algo -> normalized scores of shape (n_runs, n_tasks)
    :param seed: bootstrap seed
    :param reps: bootstrap resamples
    :return: tidy frame with algo, metric, estimate, ci_low, ci_high
    """
    if not scores:
        return pd.DataFrame(columns=["algo", "metric", "estimate", "ci_low", "ci_high"])
    names = list(SCORE_AGGREGATES)

    def aggregate(matrix: np.ndarray) -> np.ndarray:
        return np.array([func(matrix) for func in SCORE_AGGREGATES.values()])

    with numpy_global_seed(seed):
        points, intervals = rly.get_interval_estimates(
            scores, aggregate, reps=reps, confidence_interval_size=confidence, method="percentile"
        )
    rows = [
        {
            "algo": algo,
            "metric": name,
            "estimate": float(points[algo][i]),
            "ci_low": float(intervals[algo][0, i]),
            "ci_high": float(intervals[algo][1, i]),
        }
        for algo in scores
        for i, name in enumerate(names)
    ]
    return pd.DataFrame(rows)


def performance_profiles(
    scores: dict[str, np.ndarray],
    taus: np.ndarray | None = None,
    seed: int = 0,
    reps: int = DEFAULT_REPS,
    confidence: float = CONFIDENCE,
) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Score distributions: the fraction of runs with normalized score above tau, with CIs.

    :param scores: algo -> normalized scores of shape (n_runs, n_tasks)
    :param taus: thresholds (default 61 values on [0, 1.2])
    :param seed: bootstrap seed
    :return: (taus, algo -> profile of shape (n_taus,), algo -> CI of shape (2, n_taus))
    """
    taus = np.linspace(0.0, 1.2, 61) if taus is None else np.asarray(taus, dtype=float)
    if not scores:
        return taus, {}, {}
    with numpy_global_seed(seed):
        profiles, cis = rly.create_performance_profile(
            scores, taus, reps=reps, confidence_interval_size=confidence
        )
    return taus, profiles, cis


def probability_of_improvement(
    scores: dict[str, np.ndarray],
    pairs: Sequence[tuple[str, str]],
    seed: int = 0,
    reps: int = DEFAULT_REPS,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """P(X > Y): the probability that a run of X scores higher than a run of Y on a random task.

    :param scores: algo -> normalized scores of shape (n_runs, n_tasks)
    :param pairs: (X, Y) algorithm pairs
    :param seed: bootstrap seed (stratified independent bootstrap of both algorithms' runs)
    :return: frame with algo_x, algo_y, probability, ci_low, ci_high
    :raises ValueError: a pair names an algorithm without scores
    """
    unknown = sorted({a for pair in pairs for a in pair} - set(scores))
    if unknown:
        raise ValueError(f"no scores for {unknown}; algorithms with scores: {sorted(scores)}")
    columns = ["algo_x", "algo_y", "probability", "ci_low", "ci_high"]
    if not pairs:
        return pd.DataFrame(columns=columns)
    pair_scores = {f"{x},{y}": (scores[x], scores[y]) for x, y in pairs}
    with numpy_global_seed(seed):
        points, intervals = rly.get_interval_estimates(
            pair_scores,
            rly_metrics.probability_of_improvement,
            reps=reps,
            confidence_interval_size=confidence,
            method="percentile",
        )
    rows = []
    for (x, y), key in zip(pairs, pair_scores):
        low, high = np.ravel(intervals[key])
        rows.append(
            {
                "algo_x": x,
                "algo_y": y,
                "probability": float(points[key]),
                "ci_low": float(low),
                "ci_high": float(high),
            }
        )
    return pd.DataFrame(rows, columns=columns)


def improvement_pairs(
    algos: Sequence[str], reference_order: Sequence[str] = ("randpol", "ppo")
) -> list[tuple[str, str]]:
    """Pairs (reference, other) for the probability of improvement: the first of
    ``reference_order`` present (else the first algorithm) against every other algorithm."""
    algos = list(algos)
    if len(algos) < 2:
        return []
    reference = next((a for a in reference_order if a in algos), algos[0])
    return [(reference, other) for other in algos if other != reference]
