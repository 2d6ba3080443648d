"""The paper's claims judged against the measurement, as a tidy table (one row per task and claim).

The claim (Liu, Jain, Nguyen 2025): RANDPOL reaches PPO-level return with 2-3x less wall-clock
time, at the cost of more samples. Each claim has one rule below; every rule reads the analysis's
held crossings (the first evaluation at which the mean of the last k evaluations reaches
PPO-level, counted only for seeds that still hold it at the end), so that a run that touched
PPO-level once and fell back has "not reached" it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from analysis.formatting import num, ratio, with_ci

if TYPE_CHECKING:
    from analysis.analyze import Analysis

VERDICT_COLUMNS = ("env", "claim", "measured", "reading")


def speed_reading(speedup: float) -> str:
    """The wall-clock reading of a PPO / RANDPOL train-time ratio (the claim says 2-3x)."""
    if speedup > 3:
        return "more than 3x less wall-clock"
    if speedup >= 2:
        return "2-3x less wall-clock, as claimed"
    if speedup > 1:
        return "faster, but less than 2x"
    return "not faster than PPO"


def _row(env: str, claim: str, measured: str, reading: str) -> dict[str, str]:
    return {"env": env, "claim": claim, "measured": measured, "reading": reading}


def _return_claim(env: str, level: float, r: Any, p: Any, held: int, n_runs: int) -> dict[str, str]:
    """PPO-level return: RANDPOL's mean final return at or above PPO-level."""
    measured = (
        f"final return RANDPOL {with_ci(r['mean'], r['ci_low'], r['ci_high'])} vs PPO "
        f"{with_ci(p['mean'], p['ci_low'], p['ci_high'])}; PPO-level {num(level)}; RANDPOL holds it "
        f"at the end in {held}/{n_runs} seeds"
    )
    return _row(env, "PPO-level return", measured, "PPO-level" if r["mean"] >= level else "below PPO")


def _wallclock_claim(env: str, at_level: bool, t: Any, b: Any, held: int, n_runs: int) -> dict[str, str]:
    """2-3x less wall-clock: PPO / RANDPOL train seconds to a held PPO-level."""
    if not at_level:
        measured, reading = f"RANDPOL's mean final return is below PPO-level ({held}/{n_runs} seeds hold it)", \
            "not reached"
    elif t["ref_n"] == 0:
        measured, reading = "no RANDPOL seed reached and held PPO-level", "not reached"
    elif t["n"] == 0:
        measured, reading = "no PPO seed reached and held its own level", "faster (PPO never held it)"
    else:
        measured = (
            f"PPO / RANDPOL train seconds to a held PPO-level = {with_ci(t['ratio'], t['ci_low'], t['ci_high'], ratio)} "
            f"({num(t['mean'])} s, {t['n']}/{t['n_runs']} seeds, vs {num(t['ref_mean'])} s, "
            f"{t['ref_n']}/{t['ref_n_runs']} seeds)"
        )
        reading = speed_reading(t["ratio"])
    return _row(env, "2-3x less wall-clock", f"{measured}; at the full budget PPO / RANDPOL = {ratio(b['ratio'])}",
                reading)


def _timesteps_claim(env: str, at_level: bool, s: Any) -> dict[str, str]:
    """More timesteps: RANDPOL / PPO env steps to a held PPO-level."""
    if not at_level or s["n"] == 0 or s["ref_n"] == 0:
        return _row(env, "needs more timesteps", "PPO-level was not reached and held by both", "not measured")
    measured = (
        f"RANDPOL / PPO timesteps to a held PPO-level = {with_ci(s['ratio'], s['ci_low'], s['ci_high'], ratio)} "
        f"({num(s['mean'])} vs {num(s['ref_mean'])} env steps)"
    )
    reading = "more timesteps, as the paper says" if s["ratio"] > 1 else "no more timesteps than PPO"
    return _row(env, "needs more timesteps", measured, reading)


def _intervals_overlap(a: Any, b: Any) -> bool:
    bounds = (a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"])
    return all(np.isfinite(bounds)) and a["ci_high"] >= b["ci_low"] and b["ci_high"] >= a["ci_low"]


def _equal_time_claim(env: str, at_time: float, er: Any, ep: Any) -> dict[str, str] | None:
    """Return at equal train time: ahead only when the two CIs are apart."""
    if not (np.isfinite(er["mean"]) and np.isfinite(ep["mean"])):
        return None
    apart = not _intervals_overlap(er, ep)
    reading = "RANDPOL ahead" if apart and er["mean"] > ep["mean"] else \
        "PPO ahead" if apart and ep["mean"] > er["mean"] else "within the CIs"
    measured = (
        f"return at {num(at_time)} train s: RANDPOL {with_ci(er['mean'], er['ci_low'], er['ci_high'])} vs PPO "
        f"{with_ci(ep['mean'], ep['ci_low'], ep['ci_high'])}"
    )
    return _row(env, "equal train time", measured, reading)


def claim_verdicts(result: Analysis) -> pd.DataFrame:
    """One row per (task, claim): ``env``, ``claim``, ``measured`` (the numbers, as text) and ``reading``.

    Tasks where RANDPOL or PPO has no completed run get one ``not measured`` row.

    :param result: the analysis (its ``level_aggregates``, level and budget ratios, equal times).
    :raises KeyError: without completed RANDPOL and PPO runs anywhere (check ``result.algos`` first).
    """
    stats = result.level_aggregates.set_index(["env", "algo", "metric"])
    time_vs_randpol = result.level_time_ratios["randpol"].set_index(["env", "algo"])
    steps_vs_ppo = result.level_step_ratios["ppo"].set_index(["env", "algo"])
    budget_vs_randpol = result.budget_ratios["randpol"].set_index(["env", "algo"])
    rows: list[dict[str, str]] = []
    for env in result.envs:
        if (env, "randpol", "final_return") not in stats.index or (env, "ppo", "final_return") not in stats.index:
            rows.append(_row(env, "all", "RANDPOL or PPO has no completed run here", "not measured"))
            continue
        level = result.levels[env]
        r, p = stats.loc[(env, "randpol", "final_return")], stats.loc[(env, "ppo", "final_return")]
        holds = stats.loc[(env, "randpol", "holds_threshold")]
        held, n_runs = (round(holds["mean"] * holds["n"]) if holds["n"] else 0), int(holds["n_runs"])
        at_level = bool(r["mean"] >= level)
        rows.append(_return_claim(env, level, r, p, held, n_runs))
        rows.append(_wallclock_claim(env, at_level, time_vs_randpol.loc[(env, "ppo")],
                                     budget_vs_randpol.loc[(env, "ppo")], held, n_runs))
        rows.append(_timesteps_claim(env, at_level, steps_vs_ppo.loc[(env, "randpol")]))
        equal = _equal_time_claim(env, result.equal_times.get(env, float("nan")),
                                  stats.loc[(env, "randpol", "return_at_equal_time")],
                                  stats.loc[(env, "ppo", "return_at_equal_time")])
        if equal is not None:
            rows.append(equal)
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
