"""Per-run metrics from learning curves, and curve alignment on a common grid.

Definitions (all on the evaluation curve of ``metrics.csv``: deterministic policy, separate env):

- final return: mean ``eval_return_mean`` of the last ``k`` evaluation points;
- AUC: area under return vs timesteps on ``[0, budget]`` divided by the budget, i.e. the
  average evaluation return over training (the curve is interpolated linearly between
  evaluation points and held at its first/last value before/after them);
- time to threshold: the first evaluation point whose return reaches the threshold, in
  timesteps, train seconds and wall-clock seconds; "not reached" is a value (``reached=False``,
  NaN times), not an error;
- sustained time to threshold (the field's "solved"): the first evaluation point at which the
  mean of the last ``k`` evaluations reaches the threshold, so one lucky evaluation does not
  count; ``holds_threshold``: the final return is still at or above it at the end;
- PPO-level: a fraction (default 0.9) of the way from the env's lower score bound to PPO's mean
  final return over its seeds (``0.9 x PPO`` for a lower bound of 0); the paper's claim is judged
  against it;
- return at equal train time: a run's evaluation return at a given number of train seconds,
  interpolated on return against ``train_time_s`` (per env, at the train time of the shortest run);
- throughput: median of the per-interval FPS (env steps per train second) and train seconds
  to the budget (interpolated at exactly ``budget`` env steps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.argtypes import DEFAULT_LAST_K, check_fraction, check_last_k
from analysis.envspec import EnvSpec
from analysis.load import RUN_COLUMNS


def final_return(returns: Sequence[float] | np.ndarray, k: int = DEFAULT_LAST_K) -> float:
    """Mean of the last ``k`` evaluation returns (all of them if there are fewer than ``k``).

    :param returns: evaluation returns in time order, shape (n_evals,)
    :param k: number of last evaluation points, >= 1
    :raises ValueError: ``k < 1`` or no returns
    """
    check_last_k(k)
    returns = np.asarray(returns, dtype=float)
    if returns.size == 0:
        raise ValueError("final return of an empty curve: the run has no evaluation points")
    return float(returns[-k:].mean())


def normalized_auc(
    timesteps: Sequence[float] | np.ndarray, returns: Sequence[float] | np.ndarray, budget: float
) -> float:
    """Area under the return-vs-timesteps curve on ``[0, budget]``, divided by ``budget``.

    The curve is linear between evaluation points and constant before the first and after the
    last one, so a curve that stays at ``R`` has AUC ``R`` (units: return). Points beyond the
    budget (on-policy algorithms finish their last rollout) are cut at the budget.

    :param timesteps: env steps of the evaluation points, non-decreasing, shape (n_evals,)
    :param returns: evaluation returns, shape (n_evals,)
    :param budget: env steps, > 0
    :raises ValueError: empty curve, mismatched shapes or ``budget <= 0``
    """
    timesteps = np.asarray(timesteps, dtype=float)
    returns = np.asarray(returns, dtype=float)
    if budget <= 0:
        raise ValueError(f"budget={budget} is invalid; expected env steps > 0")
    if timesteps.size == 0 or timesteps.shape != returns.shape:
        raise ValueError(
            f"AUC needs matching non-empty timesteps and returns, got shapes {timesteps.shape}, {returns.shape}"
        )
    grid = np.concatenate([[0.0], timesteps[(timesteps > 0) & (timesteps < budget)], [float(budget)]])
    values = np.interp(grid, timesteps, returns)
    return float(np.trapezoid(values, grid) / budget)


@dataclass(frozen=True)
class Crossing:
    """First evaluation point at which a curve reaches a threshold.

    :param reached: False if no evaluation point reaches it (then the other fields are NaN)
    :param timesteps: env steps at that point
    :param train_time_s: train seconds (evaluation excluded) at that point
    :param wall_time_s: wall-clock seconds since the start at that point
    """

    reached: bool
    timesteps: float = float("nan")
    train_time_s: float = float("nan")
    wall_time_s: float = float("nan")


def first_crossing(curve: pd.DataFrame, threshold: float) -> Crossing:
    """The first evaluation point with ``eval_return_mean >= threshold``.

    :param curve: one run's evaluation points in time order, with columns ``timesteps``,
        ``train_time_s``, ``wall_time_s``, ``eval_return_mean``
    :param threshold: evaluation return; NaN gives "not reached"
    """
    if np.isnan(threshold):
        return Crossing(False)
    hits = np.flatnonzero(curve["eval_return_mean"].to_numpy(dtype=float) >= threshold)
    if hits.size == 0:
        return Crossing(False)
    row = curve.iloc[hits[0]]
    return Crossing(True, float(row["timesteps"]), float(row["train_time_s"]), float(row["wall_time_s"]))


def sustained_crossing(curve: pd.DataFrame, threshold: float, k: int = DEFAULT_LAST_K) -> Crossing:
    """The first evaluation point at which the mean of the last ``k`` evaluations reaches ``threshold``.

    The window is the ``k`` evaluations ending at that point (a curve with fewer than ``k``
    points uses all of them, at its last point), so a single evaluation that touches the
    threshold between collapses is not a crossing.

    :param curve: one run's evaluation points in time order (columns as :func:`first_crossing`)
    :param threshold: evaluation return; NaN gives "not reached"
    :param k: evaluations in the window, >= 1
    :raises ValueError: ``k < 1``
    """
    check_last_k(k)
    if np.isnan(threshold) or len(curve) == 0:
        return Crossing(False)
    returns = curve["eval_return_mean"].to_numpy(dtype=float)
    window = min(k, returns.size)
    means = np.convolve(returns, np.ones(window) / window, mode="valid")  # means[i] ends at i + window - 1
    hits = np.flatnonzero(means >= threshold)
    if hits.size == 0:
        return Crossing(False)
    row = curve.iloc[hits[0] + window - 1]
    return Crossing(True, float(row["timesteps"]), float(row["train_time_s"]), float(row["wall_time_s"]))


def return_at_train_time(
    train_time_s: Sequence[float] | np.ndarray, returns: Sequence[float] | np.ndarray, at_s: float
) -> float:
    """Evaluation return at ``at_s`` train seconds, linear between evaluation points.

    :param train_time_s: train seconds of the evaluation points, non-decreasing, shape (n_evals,)
    :param returns: evaluation returns, shape (n_evals,)
    :param at_s: train seconds
    :return: the interpolated return; the first point's before it; NaN beyond the last point
        (nothing is extrapolated) or for an empty curve
    """
    times = np.asarray(train_time_s, dtype=float)
    values = np.asarray(returns, dtype=float)
    if times.size == 0 or not np.isfinite(at_s) or at_s > times[-1]:
        return float("nan")
    return float(np.interp(at_s, times, values))


def equal_train_times(curves: pd.DataFrame) -> dict[str, float]:
    """Per env, the train seconds of the shortest run (its last evaluation point).

    :param curves: tidy evaluation points of completed runs, with ``env``, ``run_id``, ``train_time_s``
    :return: env -> seconds
    """
    if curves.empty:
        return {}
    last = curves.groupby(["env", "run_id"], sort=False)["train_time_s"].max()
    return {env: float(value) for env, value in last.groupby(level="env").min().items()}


def reference_levels(
    curves: pd.DataFrame,
    specs: Mapping[str, EnvSpec],
    reference: str = "ppo",
    fraction: float = 0.9,
    k: int = DEFAULT_LAST_K,
) -> dict[str, float]:
    """Per env, the "reference-level" return: ``score_min + fraction * (ref - score_min)``.

    ``ref`` is the reference algorithm's (PPO's) mean final return over its completed seeds on
    that env; measured from the env's lower score bound (0 where the env has no spec) so that it
    works for negative returns too.

    :param curves: tidy evaluation points of completed runs
    :param specs: env name -> :class:`EnvSpec`
    :param reference: algorithm label of the reference
    :param fraction: in (0, 1]
    :return: env -> level (NaN where the reference has no completed run)
    :raises ValueError: ``fraction`` outside (0, 1]
    """
    check_fraction("reference fraction", fraction)
    result = {}
    for env in sorted(curves["env"].unique()):
        ref = curves[(curves["env"] == env) & (curves["algo"] == reference)]
        if ref.empty:
            result[env] = float("nan")
            continue
        finals = ref.groupby("run_id", sort=False)["eval_return_mean"].agg(lambda r: final_return(r.to_numpy(), k))
        spec = specs.get(env)
        low = spec.score_min if spec is not None else 0.0
        result[env] = float(low + fraction * (finals.mean() - low))
    return result


def median_fps(fps: Sequence[float] | np.ndarray) -> float:
    """Median of the finite per-interval FPS values (env steps per train second); NaN if none."""
    fps = np.asarray(fps, dtype=float)
    fps = fps[np.isfinite(fps)]
    return float(np.median(fps)) if fps.size else float("nan")


def train_time_to_budget(
    timesteps: Sequence[float] | np.ndarray, train_time_s: Sequence[float] | np.ndarray, budget: float
) -> float:
    """Train seconds at which the run reached ``budget`` env steps.

    Interpolated linearly between evaluation points, from (0 steps, 0 s): an on-policy run whose
    last rollout overshoots the budget (2048-step rollouts, budget 3000) is timed at the budget
    itself, so runs with different rollout lengths compare on the same number of env steps.

    :param timesteps: env steps of the evaluation points, non-decreasing, shape (n_evals,)
    :param train_time_s: train seconds at those points, shape (n_evals,)
    :param budget: env steps, > 0
    :return: seconds; NaN if the run stopped before the budget
    """
    timesteps = np.asarray(timesteps, dtype=float)
    if timesteps.size == 0 or timesteps[-1] < budget:
        return float("nan")
    steps = np.concatenate([[0.0], timesteps])
    seconds = np.concatenate([[0.0], np.asarray(train_time_s, dtype=float)])
    # min(): interpolating exactly at a recorded point can round one ulp above it
    return float(min(np.interp(budget, steps, seconds), seconds[-1]))


def best_final_returns(curves: pd.DataFrame, k: int = DEFAULT_LAST_K) -> pd.Series:
    """Per env, the best algorithm's final return averaged over its seeds.

    :param curves: tidy evaluation points (``RunSet.completed_curves``)
    :return: Series indexed by env
    """
    finals = curves.groupby(["env", "algo", "run_id"], sort=False)["eval_return_mean"].agg(
        lambda r: final_return(r.to_numpy(), k)
    )
    return finals.groupby(level=["env", "algo"]).mean().groupby(level="env").max()


def thresholds(
    curves: pd.DataFrame,
    specs: Mapping[str, EnvSpec],
    fraction: float | None = None,
    k: int = DEFAULT_LAST_K,
) -> dict[str, float]:
    """Return threshold per env.

    Without ``fraction``: the env's ``reward_threshold`` from its config. With ``fraction`` f in
    (0, 1]: ``score_min + f * (best - score_min)``, where ``best`` is the best algorithm's mean
    final return on that env; measured from the env's lower score bound so that it works for
    negative returns too (for ``score_min = 0`` it is ``f * best``).

    :param curves: tidy evaluation points of completed runs
    :param specs: env name -> :class:`EnvSpec`
    :param fraction: None, or a fraction in (0, 1]
    :return: env -> threshold (NaN where the env has no spec or no reward_threshold)
    :raises ValueError: ``fraction`` outside (0, 1]
    """
    if fraction is not None:
        check_fraction("threshold fraction", fraction)
    best = best_final_returns(curves, k) if len(curves) else pd.Series(dtype=float)
    result = {}
    for env in sorted(curves["env"].unique()):
        spec = specs.get(env)
        if spec is None:
            result[env] = float("nan")
        elif fraction is None:
            result[env] = float("nan") if spec.reward_threshold is None else spec.reward_threshold
        else:
            result[env] = spec.score_min + fraction * (float(best[env]) - spec.score_min)
    return result


RUN_METRIC_COLUMNS = (
    "final_return",
    "score",
    "auc",
    "threshold",
    "reached",
    "timesteps_to_threshold",
    "train_time_to_threshold_s",
    "wall_time_to_threshold_s",
    "sustained_reached",
    "sustained_timesteps_to_threshold",
    "sustained_train_time_to_threshold_s",
    "holds_threshold",
    "held_timesteps_to_threshold",
    "held_train_time_to_threshold_s",
    "return_at_equal_time",
    "median_fps",
    "train_time_to_budget_s",
    "timesteps",
    "train_time_s",
    "wall_time_s",
)


def run_metrics(
    curves: pd.DataFrame,
    runs: pd.DataFrame,
    specs: Mapping[str, EnvSpec],
    env_thresholds: Mapping[str, float],
    k: int = DEFAULT_LAST_K,
    equal_times: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row of metrics per run.

    :param curves: tidy evaluation points (``RunSet.curves``); runs without points are left out
    :param runs: the runs table (``RunSet.runs``), for budgets and parameter counts
    :param specs: env name -> :class:`EnvSpec` (score normalization; budget fallback)
    :param env_thresholds: env -> return threshold (see :func:`thresholds`)
    :param k: last evaluation points averaged into the final return, and the window of the
        sustained crossing
    :param equal_times: env -> train seconds at which ``return_at_equal_time`` is read
        (default: :func:`equal_train_times` of ``curves``)
    :return: columns ``RUN_COLUMNS`` + ``budget``, ``n_evals``, ``RUN_METRIC_COLUMNS``,
        ``params_total``, ``params_trainable``; ``score`` is the final return min-max normalized
        with the env's fixed score bounds (NaN without a spec); ``timesteps``, ``train_time_s``
        and ``wall_time_s`` are those of the last evaluation point
    """
    info = runs.set_index("run_id")
    equal_times = equal_train_times(curves) if equal_times is None else equal_times
    rows = []
    for run_id, curve in curves.groupby("run_id", sort=False):
        curve = curve.sort_values("timesteps", kind="stable")
        env = curve["env"].iloc[0]
        spec = specs.get(env)
        budget = info.at[run_id, "budget"]
        if pd.isna(budget):
            budget = spec.budget if spec is not None and spec.budget else curve["timesteps"].max()
        if "stop_reason" in info.columns and info.at[run_id, "stop_reason"] == "budget_s":
            # stopped by its time budget: the steps it took are its budget (AUC over what it ran)
            budget = curve["timesteps"].max()
        threshold = float(env_thresholds.get(env, float("nan")))
        crossing = first_crossing(curve, threshold)
        sustained = sustained_crossing(curve, threshold, k)
        final = final_return(curve["eval_return_mean"].to_numpy(), k)
        holds = bool(np.isfinite(threshold) and final >= threshold)
        last = curve.iloc[-1]
        rows.append(
            {
                **{column: curve[column].iloc[0] for column in RUN_COLUMNS},
                "budget": int(budget),
                "n_evals": len(curve),
                "final_return": final,
                "score": float(spec.normalize(final)) if spec is not None else float("nan"),
                "auc": normalized_auc(
                    curve["timesteps"].to_numpy(), curve["eval_return_mean"].to_numpy(), budget
                ),
                "threshold": threshold,
                "reached": crossing.reached,
                "timesteps_to_threshold": crossing.timesteps,
                "train_time_to_threshold_s": crossing.train_time_s,
                "wall_time_to_threshold_s": crossing.wall_time_s,
                "sustained_reached": sustained.reached,
                "sustained_timesteps_to_threshold": sustained.timesteps,
                "sustained_train_time_to_threshold_s": sustained.train_time_s,
                "holds_threshold": holds,
                # the sustained crossing of a run that still holds the threshold at the end: the
                # time a verdict may use ("not reached" for a run that crossed and collapsed)
                "held_timesteps_to_threshold": sustained.timesteps if holds else float("nan"),
                "held_train_time_to_threshold_s": sustained.train_time_s if holds else float("nan"),
                "return_at_equal_time": return_at_train_time(
                    curve["train_time_s"].to_numpy(),
                    curve["eval_return_mean"].to_numpy(),
                    float(equal_times.get(env, float("nan"))),
                ),
                "median_fps": median_fps(curve["fps"].to_numpy()),
                "train_time_to_budget_s": train_time_to_budget(
                    curve["timesteps"].to_numpy(), curve["train_time_s"].to_numpy(), budget
                ),
                "timesteps": float(last["timesteps"]),
                "train_time_s": float(last["train_time_s"]),
                "wall_time_s": float(last["wall_time_s"]),
                "params_total": info.at[run_id, "params_total"],
                "params_trainable": info.at[run_id, "params_trainable"],
            }
        )
    columns = list(RUN_COLUMNS) + [
        "budget",
        "n_evals",
        *RUN_METRIC_COLUMNS,
        "params_total",
        "params_trainable",
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["env", "algo", "seed"], kind="stable").reset_index(drop=True)


def align_curves(
    curves: pd.DataFrame,
    x: str = "timesteps",
    y: str = "eval_return_mean",
    num: int = 101,
    by: Sequence[str] = ("env",),
    span: str = "common",
) -> pd.DataFrame:
    """Interpolate every run's curve onto a grid shared by the runs of a group.

    Runs evaluated at different points (different ``eval_freq``, rollout lengths, or wall-clock)
    become comparable point by point: the grid is ``num`` evenly spaced values of ``x``, and each
    run's ``y`` is interpolated linearly there. Nothing is extrapolated:

    - ``span="common"``: the grid covers the range every run of the group has (from the latest
      first point to the earliest last point), so every grid value has every run;
    - ``span="union"``: the grid covers all runs of the group; a run has NaN outside its range.

    :param curves: tidy evaluation points with ``run_id``, the ``by`` columns, ``x`` and ``y``
    :param x: column of the grid (``"timesteps"``, ``"train_time_s"``, ...), increasing per run
    :param y: column interpolated
    :param num: grid size, >= 2
    :param by: columns whose groups share a grid (e.g. ``("env",)`` or ``("env", "algo")``)
    :param span: ``"common"`` or ``"union"``
    :return: tidy frame with ``run_id``, ``RUN_COLUMNS``, ``x`` (grid) and ``y`` (interpolated),
        ``num`` rows per run (one if the range is a single point; none for a group whose common
        range is empty)
    :raises ValueError: unknown ``span``, ``num < 2`` or a missing column
    """
    if span not in ("common", "union"):
        raise ValueError(f"span={span!r} is invalid; expected 'common' or 'union'")
    if num < 2:
        raise ValueError(f"num={num} is invalid; a grid needs at least 2 points")
    missing = [c for c in (x, y, "run_id", *by) if c not in curves.columns]
    if missing:
        raise ValueError(f"curves lack columns {missing}; has {list(curves.columns)}")
    meta_columns = [c for c in RUN_COLUMNS if c in curves.columns]
    pieces = []
    for _, group in curves.groupby(list(by), sort=True):
        ranges = group.groupby("run_id", sort=False)[x].agg(["min", "max"])
        if span == "common":
            low, high = ranges["min"].max(), ranges["max"].min()
        else:
            low, high = ranges["min"].min(), ranges["max"].max()
        if high < low:
            continue
        # Runs evaluated once, at the same point, give a one-point "curve".
        grid = np.linspace(low, high, num) if high > low else np.array([low])
        for run_id, run in group.groupby("run_id", sort=False):
            run = run.sort_values(x, kind="stable")
            xs, ys = run[x].to_numpy(dtype=float), run[y].to_numpy(dtype=float)
            values = np.interp(grid, xs, ys)
            values[(grid < xs[0]) | (grid > xs[-1])] = np.nan
            piece = pd.DataFrame({x: grid, y: values})
            for column in reversed(meta_columns):
                piece.insert(0, column, run[column].iloc[0])
            pieces.append(piece)
    if not pieces:
        return pd.DataFrame(columns=[*meta_columns, x, y])
    return pd.concat(pieces, ignore_index=True)
