"""Paper-style figures: one panel per env (seaborn's facet grid), a shared legend, mean with a
95% CI band over seeds, one color per algorithm across every figure (:func:`algo_palette`).

Every ``plot_*`` function takes tidy tables (from :mod:`analysis.load`, :mod:`analysis.metrics`,
:mod:`analysis.aggregate`) and returns a matplotlib Figure; :func:`save_figure` writes it as PNG
and SVG.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter
from rliable import plot_utils

from analysis.aggregate import DEFAULT_REPS, curve_bands, seed_aggregates
from analysis.metrics import align_curves
from analysis.palette import algo_order, algo_palette

if TYPE_CHECKING:
    from analysis.analyze import Analysis

AXIS_LABELS = {
    "timesteps": "Timesteps (env steps)",
    "train_time_s": "Train wall-clock (s)",
    "wall_time_s": "Wall-clock incl. evaluation (s)",
    "eval_return_mean": "Evaluation return",
    "median_fps": "Training FPS (env steps / train s)",
}
FIGURE_FORMATS = ("png", "svg")


@contextmanager
def paper_style() -> Iterator[None]:
    """Seaborn's paper context on a white grid, for the duration of the block."""
    with sns.axes_style("whitegrid"), sns.plotting_context("paper", font_scale=1.25):
        yield


def save_figure(
    fig: Figure, out_dir: str | Path, name: str, formats: Sequence[str] = FIGURE_FORMATS, dpi: int = 150
) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.<format>`` for each format, then close it.

    :return: the written files
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out_dir / f"{name}.{fmt}"
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _env_facets(
    data: pd.DataFrame, envs: Sequence[str], row: str | None = None, row_order: Sequence[str] | None = None
) -> sns.FacetGrid:
    """Seaborn's facet grid of ``data`` with one column per env (wrapped at 3 when there is no
    ``row`` facet), 4.6 x 3.4 in panels (3.2 in high with a ``row`` facet), independent axes,
    every spine kept. The panels are drawn by the caller from :attr:`~seaborn.FacetGrid.axes_dict`
    (the report's bands and CIs are already computed, so nothing is re-estimated here)."""
    height = 3.4 if row is None else 3.2
    return sns.FacetGrid(
        data,
        col="env",
        col_order=list(envs),
        col_wrap=3 if row is None and len(envs) > 3 else None,
        row=row,
        row_order=None if row_order is None else list(row_order),
        sharex=False,
        sharey=False,
        height=height,
        aspect=4.6 / height,
        despine=False,
    )


def _shared_legend(
    fig: Figure, algos: Sequence[str], palette: Mapping[str, str], extra: Sequence = ()
) -> None:
    handles = [Patch(color=palette[a], label=a) for a in algos] + list(extra)
    fig.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=min(len(handles), 7),
        frameon=False,
    )


def plot_return_curves(
    curves: pd.DataFrame,
    x: str = "timesteps",
    thresholds: Mapping[str, float] | None = None,
    palette: Mapping[str, str] | None = None,
    seed: int = 0,
    num: int = 101,
    reps: int = 1000,
    markers: Mapping[str, float] | None = None,
    log_span: float = 8.0,
) -> Figure:
    """Evaluation return against timesteps or train wall-clock, one panel per env.

    The runs of an (env, algorithm) are interpolated on a common grid over the range all of them
    cover (:func:`analysis.metrics.align_curves`); the line is the mean over seeds, the band its
    95% percentile-bootstrap CI (:func:`analysis.aggregate.curve_bands`, seeded).

    :param curves: tidy evaluation points of completed runs
    :param x: ``"timesteps"`` or ``"train_time_s"`` (or ``"wall_time_s"``)
    :param thresholds: env -> return threshold, drawn as a dashed line
    :param palette: algo -> color (default :func:`algo_palette`)
    :param seed: bootstrap seed
    :param num: grid points per curve
    :param reps: bootstrap resamples per grid point
    :param markers: env -> x value drawn as a dotted vertical line (the equal train time at
        which the report compares returns, on the train-time axis)
    :param log_span: on a seconds axis, a panel whose algorithms' curves end further apart than
        this factor (e.g. a 140 s RANDPOL beside a 4,000 s RAT) gets a logarithmic x axis, so
        that the short runs are not squeezed into its first few percent
    """
    # Each algorithm gets its own grid: its runs may cover other ranges than another algorithm's
    # (rollout lengths differ in timesteps; speed differs in seconds).
    aligned = align_curves(curves, x=x, y="eval_return_mean", num=num, by=("env", "algo"))
    bands = curve_bands(aligned, x, seed=seed, reps=reps)
    algos = algo_order(curves["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    envs = sorted(curves["env"].unique())
    with paper_style():
        grid = _env_facets(bands, envs)
        for env, ax in grid.axes_dict.items():
            for algo in algos:
                band = bands[(bands["env"] == env) & (bands["algo"] == algo)]
                if band.empty:
                    continue
                if len(band) == 1:  # evaluated once: a point with its CI as an error bar
                    item = band.iloc[0]
                    ax.errorbar(
                        item[x],
                        item["mean"],
                        yerr=[[item["mean"] - item["ci_low"]], [item["ci_high"] - item["mean"]]],
                        color=palette[algo],
                        marker="o",
                        capsize=4,
                    )
                    continue
                ax.plot(band[x], band["mean"], color=palette[algo], linewidth=1.8)
                ax.fill_between(
                    band[x], band["ci_low"], band["ci_high"], color=palette[algo], alpha=0.2, linewidth=0
                )
            threshold = (thresholds or {}).get(env, np.nan)
            if np.isfinite(threshold):
                ax.axhline(threshold, color="0.3", linestyle="--", linewidth=1)
            marker = (markers or {}).get(env, np.nan)
            if np.isfinite(marker):
                ax.axvline(marker, color="0.3", linestyle=":", linewidth=1.2)
            env_id = curves.loc[curves["env"] == env, "env_id"].iloc[0]
            ax.set_title(f"{env} ({env_id})" if isinstance(env_id, str) else env)
            ax.set_xlabel(AXIS_LABELS.get(x, x))
            ax.set_ylabel(AXIS_LABELS["eval_return_mean"])
            if x == "timesteps":  # 250k rather than 250000; seconds keep plain numbers
                ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            else:
                ends = bands.loc[bands["env"] == env].groupby("algo")[x].max()
                ends = ends[ends > 0]
                if len(ends) > 1 and ends.max() / ends.min() > log_span:
                    ax.set_xscale("log")
                    ax.set_xlabel(f"{AXIS_LABELS.get(x, x)}, log scale")
        extra = [plt.Line2D([], [], color="0.3", linestyle="--", label="threshold")] if thresholds else []
        if markers:
            extra.append(plt.Line2D([], [], color="0.3", linestyle=":", label="equal train time"))
        _shared_legend(grid.figure, algos, palette, extra)
        grid.figure.tight_layout()
    return grid.figure


def _bars_with_ci(
    ax: plt.Axes, stats: pd.DataFrame, order: Sequence[str], palette: Mapping[str, str]
) -> None:
    """Bars of ``mean`` with ``[ci_low, ci_high]`` error bars at positions 0..len(order)-1."""
    stats = stats.set_index("algo")
    for position, algo in enumerate(order):
        if algo not in stats.index or not np.isfinite(stats.at[algo, "mean"]):
            continue
        mean, low, high = stats.at[algo, "mean"], stats.at[algo, "ci_low"], stats.at[algo, "ci_high"]
        ax.bar(position, mean, width=0.75, color=palette[algo])
        if np.isfinite(low) and np.isfinite(high):
            ax.errorbar(
                position, mean, yerr=[[mean - low], [high - mean]], color="0.15", capsize=5, linewidth=1.2
            )
    ax.set_xticks(range(len(order)), order)
    ax.set_xlim(-0.6, len(order) - 0.4)


def _top(stats: pd.DataFrame) -> float:
    """Largest bar or CI end, for the y-limit (1 if there is none)."""
    values = stats[["mean", "ci_high"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.max()) if values.size and values.max() > 0 else 1.0


def plot_fps(
    run_metrics: pd.DataFrame,
    palette: Mapping[str, str] | None = None,
    seed: int = 0,
    reps: int = DEFAULT_REPS,
    stats: pd.DataFrame | None = None,
) -> Figure:
    """Median training FPS per algorithm, one panel per env: mean over seeds with its 95%
    bootstrap CI (the numbers of the report's FPS table).

    :param run_metrics: one row per completed run (:func:`analysis.metrics.run_metrics`)
    :param seed: bootstrap seed
    :param stats: the seeds' aggregates already computed (:func:`analysis.aggregate.seed_aggregates`
        with ``median_fps`` among its metrics, e.g. ``Analysis.seed_aggregates``); computed from
        ``run_metrics`` with ``seed`` and ``reps`` when omitted
    """
    algos = algo_order(run_metrics["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    if stats is None:
        stats = seed_aggregates(run_metrics, ["median_fps"], seed=seed, reps=reps)
    stats = stats[stats["metric"] == "median_fps"]
    envs = sorted(run_metrics["env"].unique())
    with paper_style():
        grid = _env_facets(stats, envs)
        for env, ax in grid.axes_dict.items():
            env_stats = stats[stats["env"] == env]
            order = [a for a in algos if a in set(env_stats["algo"])]
            _bars_with_ci(ax, env_stats, order, palette)
            top = _top(env_stats)
            for position, algo in enumerate(order):
                row = env_stats[env_stats["algo"] == algo].iloc[0]
                label_y = row["ci_high"] if np.isfinite(row["ci_high"]) else row["mean"]
                ax.text(
                    position,
                    label_y + 0.02 * top,
                    f"{row['mean']:.0f}",
                    ha="center",
                    va="bottom",
                    fontsize="small",
                )
            ax.set_ylim(0, top * 1.18)
            ax.set_title(env)
            ax.set_xlabel("")
            ax.set_ylabel(AXIS_LABELS["median_fps"])
        _shared_legend(grid.figure, algos, palette)
        grid.figure.tight_layout()
    return grid.figure


def plot_time_to_threshold(
    run_metrics: pd.DataFrame,
    palette: Mapping[str, str] | None = None,
    seed: int = 0,
    reps: int = DEFAULT_REPS,
    stats: pd.DataFrame | None = None,
) -> Figure:
    """Timesteps (top row) and train seconds (bottom row) to the return threshold, one column per
    env: mean over the seeds that reached it with a 95% bootstrap CI, "k/n" seeds reached above
    each bar, and a hatched "not reached" bar where no seed reached it.

    :param run_metrics: one row per completed run, with ``reached``, ``threshold``,
        ``timesteps_to_threshold`` and ``train_time_to_threshold_s``
    :param seed: bootstrap seed
    :param stats: the seeds' aggregates already computed, with both quantities among their
        metrics (e.g. ``Analysis.seed_aggregates``); computed from ``run_metrics`` when omitted
    """
    algos = algo_order(run_metrics["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    envs = sorted(run_metrics["env"].unique())
    quantities = [
        ("timesteps_to_threshold", "Timesteps to threshold (env steps)"),
        ("train_time_to_threshold_s", "Train wall-clock to threshold (s)"),
    ]
    if stats is None:
        stats = seed_aggregates(run_metrics, [q for q, _ in quantities], seed=seed, reps=reps)
    stats = stats[stats["metric"].isin([q for q, _ in quantities])]
    with paper_style():
        grid = _env_facets(stats, envs, row="metric", row_order=[q for q, _ in quantities])
        for col, env in enumerate(envs):
            for row, (column, label) in enumerate(quantities):
                ax = grid.axes[row, col]
                env_stats = stats[(stats["env"] == env) & (stats["metric"] == column)]
                order = [a for a in algos if a in set(env_stats["algo"])]
                _bars_with_ci(ax, env_stats, order, palette)
                top = _top(env_stats)
                ax.set_ylim(0, top * 1.25)
                for position, algo in enumerate(order):
                    item = env_stats[env_stats["algo"] == algo].iloc[0]
                    if item["n"] == 0:
                        ax.bar(
                            position,
                            top * 0.6,
                            width=0.75,
                            fill=False,
                            hatch="//",
                            edgecolor=palette[algo],
                            linewidth=0,
                        )
                        ax.text(
                            position,
                            top * 0.3,
                            "not reached",
                            rotation=90,
                            ha="center",
                            va="center",
                            fontsize="small",
                            color="0.15",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.9},
                        )
                    else:
                        label_y = item["ci_high"] if np.isfinite(item["ci_high"]) else item["mean"]
                        ax.text(
                            position,
                            label_y + 0.02 * top,
                            f"{item['n']}/{item['n_runs']} seeds",
                            ha="center",
                            va="bottom",
                            fontsize="x-small",
                            color="0.15",
                        )
                ax.set_xlabel("")
                ax.set_ylabel(label if col == 0 else "")
                if column == "timesteps_to_threshold":
                    ax.yaxis.set_major_formatter(EngFormatter(sep=""))
                if not (env_stats["n"] > 0).any():
                    ax.set_yticks([])  # no bar: a y scale would only suggest values
                threshold = run_metrics.loc[run_metrics["env"] == env, "threshold"].iloc[0]
                ax.set_title(f"{env} (return ≥ {threshold:.4g})" if row == 0 else "")
        _shared_legend(
            grid.figure,
            algos,
            palette,
            [Patch(fill=False, hatch="//", edgecolor="0.4", label="not reached by any seed")],
        )
        grid.figure.tight_layout()
    return grid.figure


def plot_parameters(run_metrics: pd.DataFrame, palette: Mapping[str, str] | None = None) -> Figure:
    """Total (hatched, light) and trainable (solid) parameter counts per algorithm, one panel per
    env, log scale.

    :param run_metrics: one row per run with ``params_total`` and ``params_trainable``
    """
    algos = algo_order(run_metrics["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    envs = sorted(run_metrics["env"].unique())
    formatter = EngFormatter(sep="")
    with paper_style():
        grid = _env_facets(run_metrics, envs)
        for env, ax in grid.axes_dict.items():
            data = (
                run_metrics[run_metrics["env"] == env]
                .groupby("algo")[["params_total", "params_trainable"]]
                .first()
            )
            order = [a for a in algos if a in data.index]
            positions = np.arange(len(order))
            total = data.loc[order, "params_total"].to_numpy(dtype=float)
            trainable = data.loc[order, "params_trainable"].to_numpy(dtype=float)
            colors = [palette[a] for a in order]
            bars_total = ax.bar(
                positions - 0.2,
                total,
                width=0.4,
                color=colors,
                alpha=0.35,
                hatch="//",
                edgecolor=colors,
                linewidth=0,
            )
            bars_trainable = ax.bar(positions + 0.2, trainable, width=0.4, color=colors)
            for bars, values in ((bars_total, total), (bars_trainable, trainable)):
                ax.bar_label(
                    bars,
                    labels=[formatter.format_data(v) if np.isfinite(v) else "?" for v in values],
                    padding=2,
                    fontsize="x-small",
                )
            ax.set_yscale("log")
            ax.set_xticks(positions, order)
            ax.set_title(env)
            ax.set_ylabel("Parameters (count, log scale)")
            ax.set_xlabel("")
            ax.margins(y=0.2)
        _shared_legend(
            grid.figure,
            algos,
            palette,
            [
                Patch(facecolor="0.6", alpha=0.35, hatch="//", label="total"),
                Patch(facecolor="0.4", label="trainable"),
            ],
        )
        grid.figure.tight_layout()
    return grid.figure


def plot_aggregate_intervals(aggregates: pd.DataFrame, palette: Mapping[str, str] | None = None) -> Figure:
    """rliable interval estimates: IQM, mean, median, optimality gap of normalized scores with
    stratified-bootstrap 95% CIs (bar = CI, tick = point estimate).

    :param aggregates: tidy frame from :func:`analysis.aggregate.aggregate_scores`
    """
    algos = algo_order(aggregates["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    metrics = list(dict.fromkeys(aggregates["metric"]))
    table = aggregates.set_index(["algo", "metric"])
    points = {a: np.array([table.at[(a, m), "estimate"] for m in metrics]) for a in algos}
    intervals = {
        a: np.array(
            [[table.at[(a, m), "ci_low"] for m in metrics], [table.at[(a, m), "ci_high"] for m in metrics]]
        )
        for a in algos
    }
    row_height = 0.5
    height = row_height * max(len(algos), 2)
    # rliable draws rows bottom-up: reversed, the palette's first algorithm is on top.
    fig, _ = plot_utils.plot_interval_estimates(
        points,
        intervals,
        metric_names=metrics,
        algorithms=algos[::-1],
        colors=palette,
        xlabel="Normalized score (fixed per-env bounds)",
        subfigure_width=3.4,
        row_height=height / len(algos),
        xlabel_y_coordinate=-0.6 / height,
    )
    return fig


def plot_performance_profile(
    taus: np.ndarray,
    profiles: Mapping[str, np.ndarray],
    cis: Mapping[str, np.ndarray],
    palette: Mapping[str, str] | None = None,
) -> Figure:
    """rliable performance profile: fraction of runs (over all tasks) with normalized score
    above tau, with 95% CI bands.

    :param taus: thresholds, shape (n_taus,)
    :param profiles: algo -> fractions, shape (n_taus,)
    :param cis: algo -> CI, shape (2, n_taus)
    """
    algos = algo_order(profiles)
    palette = dict(palette or algo_palette(algos))
    with paper_style():
        fig, ax = plt.subplots(figsize=(6.0, 3.8))
        plot_utils.plot_performance_profiles(
            {a: profiles[a] for a in algos},
            taus,
            performance_profile_cis=dict(cis),
            colors=palette,
            ax=ax,
            xlabel=r"Normalized score $\tau$",
            ylabel=r"Fraction of runs with score $> \tau$",
            labelsize="large",
            ticklabelsize="medium",
        )
        ax.legend(handles=[Patch(color=palette[a], label=a) for a in algos], loc="upper right", frameon=False)
        fig.tight_layout()
    return fig


def plot_probability_of_improvement(
    improvement: pd.DataFrame, palette: Mapping[str, str] | None = None
) -> Figure:
    """rliable probability of improvement P(X > Y) with stratified-bootstrap 95% CIs; the bar
    takes algorithm Y's color.

    :param improvement: frame from :func:`analysis.aggregate.probability_of_improvement`
    """
    algos = algo_order(set(improvement["algo_x"]) | set(improvement["algo_y"]))
    palette = dict(palette or algo_palette(algos))
    keys = [f"{x},{y}" for x, y in zip(improvement["algo_x"], improvement["algo_y"])]
    estimates = dict(zip(keys, improvement["probability"]))
    intervals = {
        k: np.array([low, high]) for k, low, high in zip(keys, improvement["ci_low"], improvement["ci_high"])
    }
    with paper_style():
        fig, ax = plt.subplots(figsize=(6.0, 0.6 + 0.55 * len(keys)))
        plot_utils.plot_probability_of_improvement(
            estimates,
            intervals,
            ax=ax,
            colors=[palette[y] for y in improvement["algo_y"]],
            xticks=[0, 0.25, 0.5, 0.75, 1.0],
            xlabel="P(X > Y)",
            labelsize="large",
            ticklabelsize="medium",
        )
        ax.set_xlim(0, 1)
        ax.axvline(0.5, color="0.3", linestyle=":", linewidth=1)
        fig.tight_layout()
    return fig


def plot_training_diagnostics(progress: pd.DataFrame, palette: Mapping[str, str] | None = None) -> Figure:
    """Training diagnostics against timesteps: one row per env, one column per diagnostic that any
    run logged (:data:`analysis.progress.DIAGNOSTICS`: approx KL, entropy and explained variance of
    the on-policy algorithms, critic loss of the off-policy ones, RLx2's sparsity).

    One thin line per seed, in its algorithm's color (the diagnostics of two seeds are not
    averaged: their dumps fall at other steps and their scales can differ by orders of magnitude);
    a diagnostic with two series (RLx2's actor and critic sparsity) draws the second dashed.

    :param progress: the tidy table of :func:`analysis.progress.load_progress` (not empty)
    :param palette: algo -> color (default :func:`algo_palette`)
    """
    from analysis.progress import DIAGNOSTICS

    algos = algo_order(progress["algo"].unique())
    palette = dict(palette or algo_palette(algos))
    shown = [d for d in DIAGNOSTICS if (progress["diagnostic"] == d.name).any()]
    envs = sorted(progress["env"].unique())
    styles = {}
    for diagnostic in shown:
        for position, (series, _, _) in enumerate(diagnostic.series):
            styles.setdefault((diagnostic.name, series), "-" if position == 0 else "--")
    with paper_style():
        grid = sns.FacetGrid(
            progress,
            row="env",
            row_order=envs,
            col="diagnostic",
            col_order=[d.name for d in shown],
            sharex=False,
            sharey=False,
            height=3.0,
            aspect=4.2 / 3.0,
            despine=False,
        )
        for row, env in enumerate(envs):
            for col, diagnostic in enumerate(shown):
                ax = grid.axes[row, col]
                data = progress[(progress["env"] == env) & (progress["diagnostic"] == diagnostic.name)]
                for (algo, _, series), points in data.groupby(["algo", "run_id", "series"], sort=False):
                    points = points.sort_values("timesteps", kind="stable")
                    ax.plot(points["timesteps"], points["value"], color=palette.get(algo, "0.4"),
                            linewidth=1.0, alpha=0.85, linestyle=styles.get((diagnostic.name, series), "-"))
                if data.empty:
                    ax.text(0.5, 0.5, "not logged here", transform=ax.transAxes, ha="center", va="center",
                            color="0.45", fontsize="small")
                    ax.set_xticks([])
                    ax.set_yticks([])
                elif diagnostic.log_scale:
                    ax.set_yscale("log")
                ax.xaxis.set_major_formatter(EngFormatter(sep=""))
                ax.set_title(f"{env}: {diagnostic.title}", fontsize="medium")
                ax.set_xlabel(AXIS_LABELS["timesteps"] if row == len(envs) - 1 else "")
                ax.set_ylabel(diagnostic.label, fontsize="small")
        extra = [
            plt.Line2D([], [], color="0.3", linestyle="--", label=f"{d.series[1][0]} ({d.name})")
            for d in shown if len({s for s, _, _ in d.series}) > 1
        ]
        _shared_legend(grid.figure, [a for a in algos if a in palette], palette, extra)
        grid.figure.tight_layout()
    return grid.figure


# The report's figures, in the order shown: name -> (title, what it needs to be drawn).
FIGURES = {
    "return_vs_timesteps": "Evaluation return vs timesteps",
    "return_vs_train_time": "Evaluation return vs train wall-clock",
    "fps": "Training throughput (FPS)",
    "time_to_threshold": "Timesteps and train wall-clock to the return threshold",
    "aggregate_intervals": "Aggregate normalized scores across tasks (rliable)",
    "performance_profile": "Performance profile (rliable)",
    "probability_of_improvement": "Probability of improvement (rliable)",
    "parameters": "Parameters: trainable vs total",
    "training_diagnostics": "Training diagnostics (progress.csv)",
}


def _diagnostics_figure(result: Analysis) -> Figure | str:
    """The training diagnostics of the completed runs, or why there are none. A progress.csv that
    cannot be read is added to the analysis's warnings (once)."""
    from analysis.progress import load_progress

    progress, problems = load_progress(result.runs)
    result.runs.problems.extend(p for p in problems if p not in result.runs.problems)
    if progress.empty:
        return "no completed run folder has a progress.csv with a diagnostic (older run folders lack the file)"
    return plot_training_diagnostics(progress, result.palette)


def paper_figures(result: Analysis) -> dict[str, Figure | str]:
    """Draw every figure of the report from an :class:`~analysis.analyze.Analysis`.

    :return: name (a key of ``FIGURES``) -> Figure, or a sentence saying why the figure cannot be
        drawn from these runs (e.g. probability of improvement with a single algorithm)
    """
    completed = result.runs.completed_curves
    palette, seed = result.palette, result.seed
    builders: dict[str, Callable[[], Figure | str]] = {
        "return_vs_timesteps": lambda: plot_return_curves(
            completed, "timesteps", result.thresholds, palette, seed, reps=result.reps
        ),
        "return_vs_train_time": lambda: plot_return_curves(
            completed, "train_time_s", result.thresholds, palette, seed, reps=result.reps,
            markers=result.equal_times,
        ),
        "fps": lambda: plot_fps(result.run_metrics, palette, seed, result.reps, result.seed_aggregates),
        "time_to_threshold": lambda: plot_time_to_threshold(
            result.run_metrics, palette, seed, result.reps, result.seed_aggregates
        ),
        "aggregate_intervals": lambda: (
            plot_aggregate_intervals(result.aggregates, palette)
            if len(result.aggregates)
            else "no task on which every algorithm has a normalized score"
        ),
        "performance_profile": lambda: (
            plot_performance_profile(*result.profile, palette)
            if result.profile[1]
            else "no task on which every algorithm has a normalized score"
        ),
        "probability_of_improvement": lambda: (
            plot_probability_of_improvement(result.improvement, palette)
            if len(result.improvement)
            else "needs at least two algorithms with normalized scores on shared tasks"
        ),
        "parameters": lambda: plot_parameters(result.run_metrics, palette),
        "training_diagnostics": lambda: _diagnostics_figure(result),
    }
    return {name: builders[name]() for name in FIGURES}
