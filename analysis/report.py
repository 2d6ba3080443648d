"""The comparison report: ``report.md`` and a self-contained ``report.html`` next to the figures.

The report says what was run (algorithms, envs, seeds, budgets, hardware, versions), gives the
tables (final return, wall-clock, FPS, time to threshold, speedups, parameters, aggregates across
tasks), shows the figures, sets the paper's claim beside what was measured, and lists every run
that did not complete or could not be read, with its error text.

``report.html`` embeds its figures as base64 PNG and its style sheet, so it opens in any browser
from a single file; ``report.md`` links the PNG files in ``figures/``.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from markdown_it import MarkdownIt

from analysis.analyze import Analysis
from analysis.contract import write_atomic
from analysis.figures import FIGURE_FORMATS, FIGURES, paper_figures
from analysis.formatting import num as _num
from analysis.formatting import ratio as _ratio
from analysis.formatting import with_ci as _with_ci
from analysis.palette import algo_order
from analysis.verdicts import claim_verdicts

if TYPE_CHECKING:
    from analysis.videos import Clip

CLAIM = (
    "RANDPOL reaches PPO-level return with 2-3x less wall-clock training time, although it needs more "
    "timesteps (Liu, Jain, Nguyen, *Reduce Computational Cost In Deep Reinforcement Learning Via Randomized "
    "Policy Learning*, arXiv 2505.19054)."
)
FIGURE_DPI = 150


@dataclass(frozen=True)
class ReportFiles:
    """Where the report was written.

    :param markdown: ``report.md``
    :param html: ``report.html`` (self-contained)
    :param figures: figure name -> written files (PNG and SVG)
    :param missing: figure name -> why it could not be drawn from these runs
    """

    markdown: Path
    html: Path
    figures: dict[str, list[Path]]
    missing: dict[str, str]


# -- number formatting -------------------------------------------------------------------------
def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(frame: pd.DataFrame, numeric: bool = False) -> str:
    """A markdown (GFM) table; cells are escaped so a pipe in an error text cannot break it.

    :param numeric: right-align every column but the first (tables of numbers)
    """
    frame = frame.copy()
    frame.columns = [_md_escape(c) for c in frame.columns]
    for column in frame.columns:
        frame[column] = frame[column].map(_md_escape)
    align = ("left",) + ("right" if numeric else "left",) * (len(frame.columns) - 1)
    return frame.to_markdown(index=False, disable_numparse=True, colalign=align)


def _pivot(
    frame: pd.DataFrame, cell: Callable[[pd.Series], str], algos: Sequence[str], envs: Sequence[str]
) -> str:
    """Algorithms as rows, envs as columns: ``cell`` formats the first row of ``frame`` of each
    (algo, env); a pair without a row reads "not run"."""
    first = frame.drop_duplicates(["algo", "env"])
    cells = first.assign(cell=[cell(row) for _, row in first.iterrows()])
    table = (
        cells.pivot(index="algo", columns="env", values="cell")
        .reindex(index=list(algos), columns=list(envs))
        .fillna("not run")
        .rename_axis(index="algorithm", columns=None)
        .reset_index()
    )
    return _table(table, numeric=True)


def _lookup(table: pd.DataFrame, *keys: str) -> Callable[..., pd.Series | None]:
    """``find(*values)``: the first row of ``table`` whose ``keys`` columns equal ``values``, or
    None; the table is indexed once, not masked per cell. The row keeps its key columns, so a
    row of mixed types stays an object Series (counts stay integers)."""
    first = table.drop_duplicates(list(keys)).set_index(list(keys), drop=False)

    def find(*values: object) -> pd.Series | None:
        key = values[0] if len(values) == 1 else tuple(values)
        return first.loc[key] if key in first.index else None

    return find


# -- sections ----------------------------------------------------------------------------------
def _header(result: Analysis) -> list[str]:
    runs = result.runs.runs
    sweeps = ", ".join(f"`{s}`" for s in sorted(runs["sweep"].astype(str).unique()))
    counts = runs["status"].value_counts()
    status = ", ".join(f"{n} {s}" for s, n in counts.items())
    damaged = sum(p.skipped for p in result.problems)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    skipped = f", {damaged} damaged run folder(s) skipped" if damaged else ""
    intro = (
        f"Runs {'folders' if len(result.runs.roots) > 1 else 'folder'} "
        f"{', '.join(f'`{r}`' for r in (result.runs.roots or (result.runs.root,)))}, generated {now}. {len(runs)} runs ({status}){skipped}. "
        f"Confidence intervals: 95% percentile bootstrap over seeds ({result.reps} resamples, seed {result.seed})."
    )
    return [f"# randbench report: {sweeps}", "", intro, ""]


def _glance_section(result: Analysis) -> list[str]:
    """Per env, which algorithm leads on each measure (means over seeds)."""
    stats = result.seed_aggregates
    measures = [
        ("highest final return", "final_return", max, _num, ""),
        ("least train time to threshold", "train_time_to_threshold_s", min, _num, " s"),
        ("fewest timesteps to threshold", "timesteps_to_threshold", min, lambda v: f"{v:,.0f}", ""),
        ("highest FPS", "median_fps", max, lambda v: _num(v, 0), ""),
    ]
    rows = []
    for env in result.envs:
        row = {"env": env}
        for label, metric, pick, fmt, unit in measures:
            items = stats[(stats["env"] == env) & (stats["metric"] == metric) & stats["mean"].notna()]
            if items.empty:
                row[label] = "not reached by any" if "threshold" in metric else "–"
                continue
            best = pick(items.itertuples(), key=lambda item: item.mean)
            row[label] = f"{best.algo} ({fmt(best.mean)}{unit})"
        params = result.run_metrics[result.run_metrics["env"] == env].dropna(subset=["params_trainable"])
        if len(params):
            fewest = params.loc[params["params_trainable"].idxmin()]
            row["fewest trainable parameters"] = f"{fewest['algo']} ({_count(fewest['params_trainable'])})"
        rows.append(row)
    return [
        "## At a glance",
        "",
        "Leader per env (mean over completed seeds).",
        "",
        _table(pd.DataFrame(rows)),
        "",
    ]


def _claim_section(result: Analysis) -> list[str]:
    """The claim judged against PPO-level: held (sustained and still held at the end) crossings only."""
    lines = ["## The paper's claim beside the measurement", "", f"> {CLAIM}", ""]
    algos = set(result.run_metrics["algo"])
    if not {"randpol", "ppo"} <= algos:
        missing = sorted({"randpol", "ppo"} - algos)
        return lines + [f"Not measured: these runs have no completed run of {', '.join(missing)}.", ""]
    rows = claim_verdicts(result)
    lines += [_table(rows), ""]
    lines += [
        (
            f"Reading rules: PPO-level is {result.reference_fraction:g} of the way from the env's lower score bound "
            f"to PPO's mean final return (last {result.k} evaluations) over its seeds. RANDPOL's return is "
            "PPO-level when its mean final return is at or above it. Wall-clock and timesteps compare the held "
            f"crossings: the first evaluation at which the mean of the last {result.k} evaluations reaches "
            "PPO-level, counted only for seeds whose final return still holds it; an algorithm whose mean final "
            "return is below PPO-level has \"not reached\" it, however early one evaluation touched it. Train "
            "seconds exclude evaluation. Few seeds give wide intervals: read the CIs, not only the means."
        ),
        "",
    ]
    return lines


def _level_section(result: Analysis) -> list[str]:
    """Every algorithm against PPO-level: held crossings, holds at the end, return at equal train time."""
    if not any(np.isfinite(v) for v in result.levels.values()):
        return []
    algos, envs = result.algos, result.envs
    find_stat = _lookup(result.level_aggregates, "env", "algo", "metric")

    def item(row: pd.Series, metric: str) -> pd.Series:
        return find_stat(row["env"], row["algo"], metric)

    def held_cell(metric: str, fmt: Callable[[float], str]) -> Callable[[pd.Series], str]:
        def cell(row: pd.Series) -> str:
            value = item(row, metric)
            if value["n"] == 0:
                return f"not reached (0/{value['n_runs']})"
            return f"{_with_ci(value['mean'], value['ci_low'], value['ci_high'], fmt)} ({value['n']}/{value['n_runs']})"

        return cell

    def holds_cell(row: pd.Series) -> str:
        value = item(row, "holds_threshold")
        return f"{round(value['mean'] * value['n'])}/{value['n_runs']}"

    def equal_cell(row: pd.Series) -> str:
        value = item(row, "return_at_equal_time")
        return _with_ci(value["mean"], value["ci_low"], value["ci_high"])

    ratios = result.level_time_ratios.get("ppo")
    find_ratio = _lookup(ratios, "env", "algo") if ratios is not None else None

    def ratio_cell(row: pd.Series) -> str:
        value = find_ratio(row["env"], row["algo"]) if find_ratio is not None else None
        if value is None:
            return "–"
        if row["algo"] == "ppo":
            return "reference"
        if value["n"] == 0:
            return "not reached"
        if value["ref_n"] == 0:
            return "PPO did not hold it"
        return _with_ci(value["ratio"], value["ci_low"], value["ci_high"], _ratio)

    rows = result.level_metrics.drop_duplicates(["env", "algo"])
    levels = ", ".join(f"{env} {_num(level)}" for env, level in sorted(result.levels.items()))
    times = ", ".join(f"{env} {_num(t)} s" for env, t in sorted(result.equal_times.items()))
    return [
        "## Against PPO-level",
        "",
        (
            f"PPO-level return per env: {levels} ({result.reference_fraction:g} of the way from the lower "
            "score bound to PPO's mean final return)."
        ),
        "",
        "### Seeds that hold PPO-level at the end",
        "",
        "Seeds whose final return is at or above PPO-level / completed seeds.",
        "",
        _pivot(rows, holds_cell, algos, envs),
        "",
        "### Train wall-clock to a held PPO-level (s)",
        "",
        (
            f"First evaluation at which the mean of the last {result.k} evaluations reaches PPO-level, for the seeds "
            "that still hold it at the end (held/seeds); a curve that crossed and collapsed does not count."
        ),
        "",
        _pivot(rows, held_cell("held_train_time_to_threshold_s", _num), algos, envs),
        "",
        "### Timesteps to a held PPO-level",
        "",
        _pivot(rows, held_cell("held_timesteps_to_threshold", lambda v: f"{v:,.0f}"), algos, envs),
        "",
        "### Train seconds to a held PPO-level, relative to PPO",
        "",
        "The algorithm's mean over PPO's, [95% CI]; below 1: faster than PPO.",
        "",
        _pivot(rows, ratio_cell, algos, envs),
        "",
        "### Return at equal train time",
        "",
        (
            f"Evaluation return at the train seconds of the env's shortest run ({times}), interpolated on "
            "each run's return against train seconds."
        ),
        "",
        _pivot(rows, equal_cell, algos, envs),
        "",
    ]


def _run_section(result: Analysis) -> list[str]:
    runs = result.runs.runs
    lines = ["## What was run", ""]
    rows = []
    for env in sorted(runs["env"].unique()):
        env_runs = runs[runs["env"] == env]
        budgets = sorted({int(b) for b in env_runs["budget"].dropna()})
        freqs = sorted({int(f) for f in env_runs["eval_freq"].dropna()})
        episodes = sorted({int(e) for e in env_runs["eval_episodes"].dropna()})
        rows.append(
            {
                "env": env,
                "env id": ", ".join(sorted(env_runs["env_id"].dropna().astype(str).unique())),
                "algorithms": ", ".join(algo_order(env_runs["algo"].unique())),
                "seeds": ", ".join(str(s) for s in sorted(env_runs["seed"].unique())),
                "budget (env steps)": ", ".join(f"{b:,}" for b in budgets) or "?",
                "evaluation": (
                    f"every {', '.join(f'{f:,}' for f in freqs)} steps, "
                    f"{', '.join(str(e) for e in episodes)} episodes"
                )
                if freqs
                else "?",
                "threshold (return)": _num(result.thresholds.get(env, float("nan"))),
                "completed / runs": f"{(env_runs['status'] == 'completed').sum()} / {len(env_runs)}",
            }
        )
    lines += [_table(pd.DataFrame(rows)), ""]
    lines += [f"Thresholds: {result.threshold_rule}.", ""]

    def distinct(column: str) -> str:
        values = runs[column].dropna().astype(str).value_counts()
        return "; ".join(f"{v} ({n} runs)" if len(values) > 1 else v for v, n in values.items()) or "unknown"

    lines += [
        "**Hardware**",
        "",
        f"- CPU: {distinct('cpu_model')}; torch kernels: {distinct('cpu_capability')}",
        f"- cores: {distinct('cpu_cores')}; torch threads per run: {distinct('torch_threads')}",
        f"- hosts: {distinct('hostname')}",
        f"- {_calibration_line(runs)}",
        "",
    ]
    lines += _load_lines(runs)
    reasons = [name for name, column in (("CPU models", "cpu_model"), ("hosts", "hostname"),
                                         ("torch kernels", "cpu_capability")) if runs[column].nunique() > 1]
    spread = _calibration_spread(runs)
    if spread > CALIBRATION_SPREAD:
        reasons.append(f"matmul calibrations {spread:.2f}x apart")
    if reasons:
        lines += [
            (
                f"**Warning:** the runs come from different machines ({', '.join(reasons)}); wall-clock and FPS "
                "are comparable only between runs on the same hardware."
            ),
            "",
        ]
    versions: dict[str, dict[str, int]] = {}
    for meta in result.runs.meta.values():
        for package, version in (meta.get("versions") or {}).items():
            versions.setdefault(package, {}).setdefault(str(version), 0)
            versions[package][str(version)] += 1
    if versions:
        # one row, one column per package: compact, and a mix of versions stands out
        row = {
            p: ", ".join(v if len(vs) == 1 else f"{v} ({n} runs)" for v, n in vs.items())
            for p, vs in versions.items()
        }
        lines += ["**Versions**", "", _table(pd.DataFrame([row])), ""]
        if any(len(vs) > 1 for vs in versions.values()):
            lines += ["**Warning:** the runs used different package versions (counts in brackets).", ""]
    lines += [f"Git commit: {distinct('git_commit')}.", ""]
    return lines


LOAD_MEAN_SLACK = 0.25  # cores of extra demand a run's mean load may show before it is flagged


CALIBRATION_SPREAD = 1.25  # fastest / slowest matmul calibration beyond which machines differ


def _calibration_spread(runs: pd.DataFrame) -> float:
    """The fastest run's matmul calibration over the slowest's (1.0 with fewer than two)."""
    values = pd.to_numeric(runs["cpu_gflops"], errors="coerce").dropna()
    values = values[values > 0]
    return float(values.max() / values.min()) if len(values) > 1 else 1.0


def _calibration_line(runs: pd.DataFrame) -> str:
    """The matmul calibration of the runs' machines (sweeps.meta.cpu_gflops), and which lack it."""
    values = pd.to_numeric(runs["cpu_gflops"], errors="coerce")
    missing = int(values.isna().sum())
    values = values.dropna()
    if values.empty:
        return "CPU calibration (float32 matmul, GFLOP/s): not recorded (runs made before randbench kept it)"
    text = (
        f"CPU calibration (float32 matmul, GFLOP/s, one thread, at each run's start): median {values.median():.1f}, "
        f"range {values.min():.1f}-{values.max():.1f} over {len(values)} runs"
    )
    return text + (f"; not recorded for {missing} older runs" if missing else "")


def _load_lines(runs: pd.DataFrame) -> list[str]:
    """The machine's load while the runs trained, and the runs whose load exceeded the core count."""
    loads = pd.to_numeric(runs["load_1m_max"], errors="coerce")
    if loads.notna().sum() == 0:
        return ["Load: not recorded for these runs.", ""]
    cores = pd.to_numeric(runs["cpu_cores"], errors="coerce")
    means = pd.to_numeric(runs["load_1m_mean"], errors="coerce")
    # Two busy jobs on two cores read a mean load of 1.8-2.1 (the jobs, plus the sweep process and
    # the system's own tasks), with peaks to about 2.3: a run is flagged when its mean load exceeded
    # the core count by more than a quarter of a core, or its highest load exceeded it by more than one.
    over = runs[((means > cores + LOAD_MEAN_SLACK) | (loads > cores + 1)) & cores.notna()]
    lines = [
        (
            f"Load (1-minute load average sampled at every evaluation): mean {means.mean():.2f}, highest "
            f"{loads.max():.2f}, over {int(loads.notna().sum())} runs."
        ),
        "",
    ]
    if len(over):
        listing = ", ".join(
            f"`{row.run_id}` (mean {float(row.load_1m_mean):.2f}, peak {float(row.load_1m_max):.2f} on "
            f"{int(row.cpu_cores)} cores)"
            for row in over.itertuples()
        )
        lines += [
            (
                f"**Warning:** {len(over)} run(s) trained while the load exceeded the core count (mean load "
                f"more than {LOAD_MEAN_SLACK:g} above it, or a peak more than one above it), so their wall-clock "
                "and FPS are not comparable "
                f"with the others: {listing}."
            ),
            "",
        ]
    return lines


def _results_section(result: Analysis) -> list[str]:
    algos, envs = result.algos, result.envs
    find_stat = _lookup(result.seed_aggregates, "env", "algo", "metric")

    def metric_cell(metric: str, fmt: Callable[[float], str] = _num, reached: bool = False) -> Callable:
        def cell(row: pd.Series) -> str:
            item = find_stat(row["env"], row["algo"], metric)
            if reached:
                if item["n"] == 0:
                    return f"not reached (0/{item['n_runs']})"
                interval = _with_ci(item["mean"], item["ci_low"], item["ci_high"], fmt)
                return f"{interval} ({item['n']}/{item['n_runs']})"
            return f"{_with_ci(item['mean'], item['ci_low'], item['ci_high'], fmt)}"

        return cell

    keys = result.run_metrics.groupby(["env", "algo"], as_index=False).size()
    seeds = _pivot(keys, lambda r: str(r["size"]), algos, envs)
    lines = ["## Results", "", "Each cell: mean over seeds [95% CI]. Completed runs per cell:", "", seeds, ""]
    sections = [
        (
            "Final return",
            f"Mean evaluation return of the last {result.k} evaluation points.",
            metric_cell("final_return"),
        ),
        (
            "Normalized score",
            (
                "Final return min-max normalized with the env's fixed score bounds (conf/env): "
                "0 about a random policy, 1 about a solved one."
            ),
            metric_cell("score", lambda v: f"{v:.3f}"),
        ),
        (
            "Area under the curve",
            (
                "Average evaluation return over the budget (area under return vs timesteps "
                "divided by the budget)."
            ),
            metric_cell("auc"),
        ),
        (
            "Train wall-clock to the budget (s)",
            (
                "Seconds spent training, evaluation excluded, until the run had "
                "taken as many env steps as its budget."
            ),
            metric_cell("train_time_to_budget_s"),
        ),
        (
            "Training FPS",
            "Median over evaluation intervals of env steps per train second.",
            metric_cell("median_fps", lambda v: _num(v, 0)),
        ),
        (
            "Timesteps to threshold",
            (
                "First evaluation point at or above the threshold; mean over the seeds that "
                "reached it (reached/seeds)."
            ),
            metric_cell("timesteps_to_threshold", lambda v: f"{v:,.0f}", True),
        ),
        (
            "Train wall-clock to threshold (s)",
            "Train seconds at that point.",
            metric_cell("train_time_to_threshold_s", _num, True),
        ),
    ]
    for title, note, cell in sections:
        lines += [
            f"### {title}",
            "",
            note,
            "",
            _pivot(result.run_metrics.drop_duplicates(["env", "algo"]), cell, algos, envs),
            "",
        ]
    for reference, label in (("ppo", "PPO"), ("randpol", "RANDPOL")):
        title = f"### Speedup table: wall-clock relative to {label}"
        ratios = result.time_ratios.get(reference)
        if ratios is None:
            lines += [title, "", f"No completed {label} run: no ratio to it.", ""]
            continue
        find_ratio = _lookup(ratios, "env", "algo")
        find_budget = _lookup(result.budget_ratios[reference], "env", "algo")

        def ratio_cell(row: pd.Series, find_ratio: Callable = find_ratio, find_budget: Callable = find_budget) -> str:
            item, whole = find_ratio(row["env"], row["algo"]), find_budget(row["env"], row["algo"])
            to_budget = f"; budget {_ratio(whole['ratio'])}" if whole is not None else ""
            if item is None:
                return "–"
            if row["algo"] == item["reference"]:
                return "reference"
            if item["n"] == 0:
                return f"not reached{to_budget}"
            if item["ref_n"] == 0:
                return f"reference not reached{to_budget}"
            return f"{_with_ci(item['ratio'], item['ci_low'], item['ci_high'], _ratio)}{to_budget}"

        rows = result.run_metrics.drop_duplicates(["env", "algo"])
        lines += [
            title,
            "",
            (
                f"Train seconds to the threshold of the algorithm divided by {label}'s, [95% CI]; below 1: "
                f"faster than {label}, above 1: {label} is that many times faster. After the semicolon: the "
                "same ratio for the train seconds to the full budget."
            ),
            "",
            _pivot(rows, ratio_cell, algos, envs),
            "",
        ]

    def params_cell(row: pd.Series) -> str:
        return f"{_count(row['params_trainable'])} / {_count(row['params_total'])}"

    lines += [
        "### Parameters",
        "",
        "Trainable / total parameters of the policy (from meta.json).",
        "",
        _pivot(result.run_metrics.drop_duplicates(["env", "algo"]), params_cell, algos, envs),
        "",
    ]
    lines += _aggregate_tables(result)
    return lines


def _count(value: float) -> str:
    return f"{int(value):,}" if value is not None and np.isfinite(value) else "?"


def _aggregate_tables(result: Analysis) -> list[str]:
    lines = ["### Across tasks (rliable)", ""]
    scores = result.scores
    if not scores.scores:
        return lines + ["No task on which every algorithm has a normalized score.", ""]
    n_runs = {a: m.shape[0] for a, m in scores.scores.items()}
    lines += [
        f"Normalized scores on {len(scores.tasks)} task(s) ({', '.join(scores.tasks)}), "
        "stratified bootstrap 95% CIs over runs "
        f"({result.reps} resamples, seed {result.seed}); runs per task: "
        + ", ".join(f"{a} {n}" for a, n in n_runs.items())
        + ".",
        "",
    ]
    lines += [f"- {note}" for note in scores.notes] + ([""] if scores.notes else [])
    table = result.aggregates
    rows = []
    for algo in algo_order(table["algo"].unique()):
        row = {"algorithm": algo}
        for item in table[table["algo"] == algo].itertuples():
            row[item.metric] = _with_ci(item.estimate, item.ci_low, item.ci_high, lambda v: f"{v:.3f}")
        rows.append(row)
    lines += [_table(pd.DataFrame(rows), numeric=True), ""]
    if len(result.improvement):
        rows = [
            {
                "X": r.algo_x,
                "Y": r.algo_y,
                "P(X > Y)": _with_ci(r.probability, r.ci_low, r.ci_high, lambda v: f"{v:.2f}"),
            }
            for r in result.improvement.itertuples()
        ]
        lines += [
            (
                "Probability of improvement: the chance that a run of X scores higher than a run of Y on a "
                "task drawn at random."
            ),
            "",
            _table(pd.DataFrame(rows)),
            "",
        ]
    return lines


def _figures_section(
    result: Analysis, figure_src: Callable[[str], str | None], missing: dict[str, str]
) -> list[str]:
    captions = {
        "return_vs_timesteps": "Mean evaluation return over seeds with 95% bootstrap CI band; curves "
        "interpolated on a common grid; dashed: threshold.",
        "return_vs_train_time": "The same against train wall-clock (evaluation excluded); each curve ends "
        "where its shortest seed ends; dotted: the equal train time of the \"Return at equal train time\" table.",
        "fps": "Median training FPS per run, mean over seeds with 95% CI.",
        "time_to_threshold": "Over the seeds that reached the threshold (k/n); hatched: not reached by any seed.",
        "aggregate_intervals": "IQM, mean, median and optimality gap of normalized scores; bar: 95% CI, "
        "tick: point estimate.",
        "performance_profile": "Fraction of runs (all tasks) whose normalized score exceeds tau.",
        "probability_of_improvement": "P(X > Y) with 95% CI; 0.5 means no difference.",
        "parameters": "Hatched: total parameters (with fixed random layers and buffers); solid: trainable.",
        "training_diagnostics": "The algorithms' own training logs (progress.csv), one line per seed: approx KL, "
        "entropy and explained variance of the on-policy updates, critic loss of the off-policy ones, RLx2's "
        "measured sparsity (dashed: critic).",
    }
    lines = ["## Figures", ""]
    for name, title in FIGURES.items():
        lines += [f"### {title}", ""]
        src = figure_src(name)
        if src is None:
            lines += [f"Not drawn: {missing.get(name, 'no data')}.", ""]
        else:
            lines += [f"![{title}]({src})", "", f"*{captions[name]}*", ""]
    return lines


def _failures_section(result: Analysis) -> list[str]:
    lines = ["## Runs not in the tables", ""]
    not_completed = result.runs.not_completed
    damaged = [p for p in result.problems if p.skipped]
    warnings = [p for p in result.problems if not p.skipped]
    if not_completed.empty and not damaged:
        lines += ["Every run folder completed and was read.", ""]
    if not not_completed.empty:
        rows = [
            {
                "run": r.run_id,
                "status": r.status,
                "evaluations": str(r.n_evals),
                "error": (r.error_line if r.error else "–"),
            }
            for r in not_completed.itertuples()
        ]
        lines += [
            "Failed, interrupted, diverged or still-running runs (left out of every table and figure):",
            "",
            _table(pd.DataFrame(rows)),
            "",
        ]
        for r in not_completed.itertuples():
            if r.error:
                text = str(r.error).strip().replace("```", "'''")
                lines += [f"`{r.run_id}` ({r.status}), `{r.path}`:", "", "```text", text, "```", ""]
    if damaged:
        lines += ["Damaged run folders (skipped):", ""]
        lines += [f"- `{p.folder}`: `{p.file}` {_md_escape(p.message)}" for p in damaged] + [""]
    if warnings:
        lines += ["Warnings (runs kept):", ""]
        lines += [f"- `{p.folder}`: `{p.file}` {_md_escape(p.message)}" for p in warnings] + [""]
    return lines


def _method_section(result: Analysis) -> list[str]:
    return [
        "## How the numbers are computed",
        "",
        (
            f"- Final return: mean `eval_return_mean` of the last {result.k} evaluation points (deterministic "
            "policy, separate evaluation env)."
        ),
        (
            "- AUC: area under return vs timesteps on [0, budget] divided by the budget (linear between "
            "evaluation points, held constant before the first and after the last)."
        ),
        (
            "- Time to threshold: first evaluation point with return at or above the threshold "
            f'({result.threshold_rule}); "not reached" runs are counted, not averaged.'
        ),
        (
            "- FPS: median over evaluation intervals of env steps per train second; wall-clock is measured by the "
            "harness, evaluation excluded. Train wall-clock to the budget is interpolated at exactly the budget's "
            "env steps, so a last rollout that overshoots the budget is not counted."
        ),
        (
            "- Speedup: ratio of mean train seconds to threshold, algorithm over reference, CI from resampling both "
            "algorithms' seeds independently."
        ),
        (
            "- Normalized score: (R - min) / (max - min) with the fixed `score_bounds` of conf/env, so adding an "
            "algorithm never shifts another's score. Aggregates with rliable (Agarwal et al., NeurIPS 2021)."
        ),
        f"- Every bootstrap: {result.reps} resamples, seed {result.seed}, percentile intervals.",
        "",
    ]


def build_markdown(
    result: Analysis,
    figure_src: Callable[[str], str | None],
    missing: dict[str, str],
    notes: str | None = None,
    videos: Sequence[str] | None = None,
) -> str:
    """The report as markdown.

    :param result: the analysis of a runs folder
    :param figure_src: figure name -> image link (a relative path, or a data URI), None if not drawn
    :param missing: figure name -> why it was not drawn
    :param notes: markdown placed after the header (a page's written reading of the results), or None
    :param videos: the lines of the videos section (:func:`_videos_section`), placed after the
        figures, or None for no such section
    """
    lines = (
        _header(result)
        + ([notes.rstrip(), ""] if notes else [])
        + _glance_section(result)
        + _claim_section(result)
        + _level_section(result)
        + _run_section(result)
        + _results_section(result)
        + _figures_section(result, figure_src, missing)
        + list(videos or [])
        + _failures_section(result)
        + _method_section(result)
    )
    return "\n".join(lines).rstrip() + "\n"


STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2rem auto; padding: 0 1.5rem; line-height: 1.45; font-size: 15px; }
h1 { font-size: 1.7rem; border-bottom: 2px solid #d62728; padding-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: 13px; display: block; overflow-x: auto; }
th, td { border: 1px solid #d8d8d8; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
tr:nth-child(even) td { background: #fafafa; }
blockquote { margin: 1rem 0; padding: .5rem 1rem; border-left: 4px solid #1f77b4; background: #f5f8fc; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
pre { background: #f6f8fa; padding: .7rem; overflow-x: auto; font-size: 12px; border-radius: 4px; }
code { font-size: 90%; }
em { color: #555; }
"""


def build_html(markdown_text: str, title: str) -> str:
    """A standalone HTML page from the report's markdown (images must already be data URIs)."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    body = renderer.render(markdown_text)
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )


def render_figures(result: Analysis) -> tuple[dict[str, dict[str, bytes]], dict[str, str]]:
    """Every report figure, encoded in memory.

    :return: (name -> format -> file content, name -> why not drawn)
    """
    import matplotlib.pyplot as plt

    rendered, missing = {}, {}
    for name, figure in paper_figures(result).items():
        if isinstance(figure, str):
            missing[name] = figure
            continue
        rendered[name] = {}
        for fmt in FIGURE_FORMATS:
            buffer = io.BytesIO()
            figure.savefig(buffer, format=fmt, dpi=FIGURE_DPI, bbox_inches="tight")
            rendered[name][fmt] = buffer.getvalue()
        plt.close(figure)
    return rendered, missing


def _video_name(clip: Clip) -> str:
    return f"{clip.env}__{clip.algo}"


def _videos_section(
    clips: Sequence[Clip], missing: dict[tuple[str, str], str], src: Callable[[Clip], str]
) -> list[str]:
    """One clip per (env, algo), the best seed's, with its returns; ``src`` gives the GIF's link."""
    lines = [
        "## Videos",
        "",
        (
            "The final policy of each algorithm's best seed (highest final return) on each task: deterministic, "
            "observations normalized with the run's statistics, rendered off-screen (`randbench video`). GIF "
            "below (every few frames, downscaled; the red bar shows how far into the clip a frame is), MP4 with "
            "every frame in `videos/` beside the report."
        ),
        "",
    ]
    if not clips and not missing:
        return lines + ["No completed run to show.", ""]
    for env in sorted({clip.env for clip in clips} | {env for env, _ in missing}):
        lines += [f"### {env}", ""]
        for clip in [c for c in clips if c.env == env]:
            played = clip.info.get("episodes") or []
            episodes = "; ".join(
                f"return {_num(e['return'])} over {e['length']:,} steps"
                + (f" (cut at {clip.info.get('max_steps'):,})" if e.get("ended") == "max_steps" else f" ({e.get('ended')})")
                for e in played
            )
            lines += [
                f"#### {clip.algo}",
                "",
                f"![{env}: {clip.algo}, seed {clip.seed}]({src(clip)})",
                "",
                (
                    f"*Seed {clip.seed}, final return {_num(clip.final_return)} (evaluation). Clip: {episodes}. "
                    f"MP4: `videos/{_video_name(clip)}.mp4` ({clip.info.get('frames', 0):,} frames at "
                    f"{clip.info.get('fps', 0):g} fps).*"
                ),
                "",
            ]
        for (missing_env, algo), reason in sorted(missing.items()):
            if missing_env == env:
                lines += [f"#### {algo}", "", f"No clip: {_md_escape(reason)}.", ""]
    return lines


def write_report(
    result: Analysis,
    out_dir: str | Path,
    log: Callable[[str], None] | None = None,
    clips: Sequence[Clip] | None = None,
    clips_missing: dict[tuple[str, str], str] | None = None,
) -> ReportFiles:
    """Draw the figures and write ``report.md``, ``report.html`` and ``figures/*.{png,svg}``.

    Everything is drawn in memory first and each file is replaced atomically, so a failure leaves
    a previous report in ``out_dir`` as it was.

    :param result: the analysis of a runs folder (:func:`analysis.analyze.analyze`)
    :param out_dir: output folder (created if needed)
    :param log: callable taking one progress line, or None
    :param clips: the videos to embed (:func:`analysis.videos.collect_clips`): the GIF inline in
        report.html, GIF and MP4 copied to ``out_dir/videos/``; None for no videos section
    :param clips_missing: (env, algo) -> why that pair has no clip
    """
    say = log or (lambda line: None)
    out_dir = Path(out_dir)
    say("drawing figures")
    rendered, missing = render_figures(result)
    for name, reason in missing.items():
        say(f"  figure {name} not drawn: {reason}")
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    for name, files in rendered.items():
        written[name] = []
        for fmt, data in files.items():
            path = figure_dir / f"{name}.{fmt}"
            write_atomic(path, data)
            written[name].append(path)
        say(f"  figure {figure_dir / name}.{{{','.join(files)}}}")

    def relative(name: str) -> str | None:
        return f"figures/{name}.png" if name in rendered else None

    def inline(name: str) -> str | None:
        if name not in rendered:
            return None
        return "data:image/png;base64," + base64.b64encode(rendered[name]["png"]).decode("ascii")

    videos_md = videos_html = None
    if clips is not None:
        video_dir = out_dir / "videos"
        video_dir.mkdir(parents=True, exist_ok=True)
        for clip in clips:
            write_atomic(video_dir / f"{_video_name(clip)}.gif", clip.gif)
            write_atomic(video_dir / f"{_video_name(clip)}.mp4", clip.mp4.read_bytes())
        say(f"  {len(clips)} clip(s) in {video_dir}")
        videos_md = _videos_section(clips, clips_missing or {}, lambda c: f"videos/{_video_name(c)}.gif")
        videos_html = _videos_section(
            clips, clips_missing or {}, lambda c: "data:image/gif;base64," + base64.b64encode(c.gif).decode("ascii")
        )

    markdown_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_atomic(markdown_path, build_markdown(result, relative, missing, videos=videos_md).encode())
    title = "randbench report: " + ", ".join(sorted(result.runs.runs["sweep"].astype(str).unique()))
    write_atomic(html_path, build_html(build_markdown(result, inline, missing, videos=videos_html), title).encode())
    say(f"  wrote {markdown_path}")
    say(f"  wrote {html_path}")
    return ReportFiles(markdown_path, html_path, written, missing)


def write_page(
    result: Analysis,
    page: str | Path,
    notes: str | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Write the report as one markdown page for a repository, its PNG figures beside it.

    ``docs/benchmark.md`` gets its figures in ``docs/benchmark/`` (PNG only, linked relatively),
    so the page reads on a code host without a browser. Running it again on the same runs gives
    the same page apart from its generation date.

    :param result: the analysis of a runs folder
    :param page: path of the markdown file (``.md``)
    :param notes: markdown placed after the header, e.g. the written reading of the results
    :param log: callable taking one progress line, or None
    :return: the page's path
    :raises ValueError: ``page`` does not end in ``.md``
    """
    page = Path(page)
    if page.suffix != ".md":
        raise ValueError(f"page {str(page)!r} is invalid; expected a markdown file ending in .md")
    say = log or (lambda line: None)
    say("drawing figures")
    rendered, missing = render_figures(result)
    figure_dir = page.with_suffix("")
    figure_dir.mkdir(parents=True, exist_ok=True)
    for name, files in rendered.items():
        write_atomic(figure_dir / f"{name}.png", files["png"])
        say(f"  figure {figure_dir / name}.png")

    def relative(name: str) -> str | None:
        return f"{figure_dir.name}/{name}.png" if name in rendered else None

    write_atomic(page, build_markdown(result, relative, missing, notes).encode())
    say(f"  wrote {page}")
    return page
