# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # randbench: paper figures
#
# The figures and tables of `randbench report`, drawn by the same library functions (`analysis`)
# from a runs folder. Set `RANDBENCH_RUNS_DIR` (and optionally `RANDBENCH_THRESHOLD_FRACTION`)
# or edit the parameter cell; `python -m analysis.notebooks.run analysis/notebooks/paper_figures.py RUNS_DIR`
# executes it headless (it overrides the parameters in a cell of its own).

# %% tags=["parameters"]
import os

RUNS_DIR = os.environ.get("RANDBENCH_RUNS_DIR", "results/runs/demo")
THRESHOLD_FRACTION = (
    float(os.environ["RANDBENCH_THRESHOLD_FRACTION"])
    if os.environ.get("RANDBENCH_THRESHOLD_FRACTION")
    else None
)
SEED = 0
REPS = 2000  # bootstrap resamples

# %%
from analysis import analyze, figures

result = analyze(RUNS_DIR, threshold_fraction=THRESHOLD_FRACTION, seed=SEED, reps=REPS, log=print)
print("algorithms:", result.algos, "| envs:", result.envs, "| thresholds:", result.thresholds)

# %% [markdown]
# ## Runs

# %%
result.runs.runs[["run_id", "status", "budget", "n_evals", "params_trainable", "params_total", "error"]]

# %% [markdown]
# ## Final return, mean over seeds with 95% bootstrap CI

# %%
table = result.seed_aggregates
table[table["metric"] == "final_return"].round(2)

# %% [markdown]
# ## Return vs timesteps

# %%
fig = figures.plot_return_curves(
    result.runs.completed_curves,
    "timesteps",
    result.thresholds,
    result.palette,
    result.seed,
    reps=result.reps,
)

# %% [markdown]
# ## Return vs train wall-clock

# %%
fig = figures.plot_return_curves(
    result.runs.completed_curves,
    "train_time_s",
    result.thresholds,
    result.palette,
    result.seed,
    reps=result.reps,
)

# %% [markdown]
# ## Throughput and time to threshold

# %%
fig = figures.plot_fps(result.run_metrics, result.palette, result.seed, result.reps, result.seed_aggregates)

# %%
fig = figures.plot_time_to_threshold(
    result.run_metrics, result.palette, result.seed, result.reps, result.seed_aggregates
)

# %% [markdown]
# ## Speedup: train seconds to threshold relative to PPO

# %%
result.time_ratios["ppo"].round(3) if "ppo" in result.time_ratios else "no PPO runs"

# %% [markdown]
# ## Aggregates across tasks (rliable)

# %%
result.aggregates.round(3)

# %%
fig = figures.plot_aggregate_intervals(result.aggregates, result.palette)

# %%
fig = figures.plot_performance_profile(*result.profile, result.palette)

# %%
fig = (
    figures.plot_probability_of_improvement(result.improvement, result.palette)
    if len(result.improvement)
    else print("probability of improvement needs two algorithms")
)

# %% [markdown]
# ## Parameters

# %%
fig = figures.plot_parameters(result.run_metrics, result.palette)
