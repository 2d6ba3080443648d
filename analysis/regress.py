"""The regression check on reward curves: fresh seeded runs against a committed reference.

A reference (``results/reference/<suite>/``) holds, per (algo, env), the evaluation curves of the
reference seeds (``curves.csv``) and, in ``reference.json``, the measurement protocol they were
made with (task, budget, evaluation settings, seeds), the versions and the command that made them,
and the tolerance. A check loads the fresh runs of the same suite and, per (algo, env) and per
metric (final return, AUC; see :mod:`analysis.metrics`):

- band = [min over reference seeds - tol, max over reference seeds + tol], where
  tol = ``tolerance`` x (score_max - score_min) of the env (``conf/env/<env>.yaml`` score bounds),
  so the band is the reference seeds' spread widened by a stated fraction of the task's range;
- the fresh value is the mean over the fresh seeds; below the band's lower end is a regression.

The worst point of the curve is also reported: the fresh seed-mean curve and the lower edge of the
reference band (per-point minimum over reference seeds minus tol), interpolated on the common grid
of :func:`analysis.metrics.align_curves`, and the grid point where the fresh curve is furthest below.

A reference is unusable (exit status 2) when it is missing or damaged, or was made with another
protocol than the fresh runs: a different task, budget, evaluation frequency, number of evaluation
episodes, deterministic flag or set of seeds, or a different list of (algo, env) pairs. Hyper-
parameters are not part of the protocol: changing one is exactly what the check must judge.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.argtypes import EXIT_PASS, EXIT_REGRESSION, REGRESS_TOLERANCE
from analysis.contract import write_atomic
from analysis.envspec import EnvSpec, load_env_specs
from analysis.load import RunSet, load_runs
from analysis.metrics import DEFAULT_LAST_K, align_curves, final_return, normalized_auc

REFERENCE_FILE = "reference.json"
CURVES_FILE = "curves.csv"
REFERENCE_FORMAT = 1
DEFAULT_TOLERANCE = REGRESS_TOLERANCE
METRICS = ("final_return", "auc")
# The settings that define what a curve measures; a reference made with other values is unusable.
PROTOCOL_KEYS = ("env_id", "env_kwargs", "budget", "eval_freq", "eval_episodes", "eval_deterministic")
CURVE_COLUMNS = ("algo", "env", "seed", "timesteps", "eval_return_mean")
TABLE_COLUMNS = (
    "algo",
    "env",
    "metric",
    "reference",
    "band_low",
    "band_high",
    "fresh",
    "margin",
    "worst_point_timesteps",
    "worst_point_margin",
    "result",
)


class ReferenceUnusableError(ValueError):
    """The reference cannot judge the fresh runs (missing, damaged, other protocol); says which."""


@dataclass
class RegressionResult:
    """The outcome of one check.

    :param table: one row per (algo, env, metric), columns ``TABLE_COLUMNS``; ``result`` is
        ``pass``, ``REGRESSION``, or ``NOT COMPLETED`` for a pair with a run that did not complete
    :param failed_runs: run ids of fresh runs that did not complete, with their status and error
    :param notes: facts worth printing that do not change the verdict (other library versions)
    """

    table: pd.DataFrame
    failed_runs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """No regression and no run that failed to complete."""
        return bool((self.table["result"] == "pass").all()) and not self.failed_runs

    @property
    def exit_status(self) -> int:
        """0 when passed, 1 on any shortfall or run that did not complete."""
        return EXIT_PASS if self.passed else EXIT_REGRESSION


def run_protocol(config: Mapping[str, Any]) -> dict[str, Any]:
    """The measurement protocol of a run, from its resolved ``config.yaml``.

    :param config: the run's config (keys ``env``, ``budget``, ``eval``)
    :return: ``PROTOCOL_KEYS`` -> values
    :raises ReferenceUnusableError: a key is missing from the config
    """
    try:
        env, evaluation = config["env"], config["eval"]
        return {
            "env_id": env["id"],
            "env_kwargs": dict(env.get("kwargs") or {}),
            "budget": int(config["budget"]),
            "eval_freq": int(evaluation["freq"]),
            "eval_episodes": int(evaluation["n_episodes"]),
            "eval_deterministic": bool(evaluation["deterministic"]),
        }
    except (KeyError, TypeError) as error:
        raise ReferenceUnusableError(f"a run's config.yaml lacks {error} (needed for the protocol)") from None


def _pairs(runs: RunSet) -> dict[tuple[str, str], pd.DataFrame]:
    return {(algo, env): group for (algo, env), group in runs.runs.groupby(["algo", "env"], sort=True)}


def _protocols(runs: RunSet) -> dict[tuple[str, str], dict[str, Any]]:
    """(algo, env) -> protocol with the sorted seeds; the runs of a pair must share one protocol."""
    protocols = {}
    for pair, group in _pairs(runs).items():
        # A run that failed while being built has no config.yaml; its pair is judged on the others.
        found = {
            json.dumps(run_protocol(runs.configs[run_id]), sort_keys=True)
            for run_id in group["run_id"]
            if runs.configs.get(run_id)
        }
        if len(found) > 1:
            raise ReferenceUnusableError(
                f"the runs of {pair[0]} on {pair[1]} were made with different protocols: {sorted(found)}"
            )
        protocol = json.loads(found.pop()) if found else {}
        protocols[pair] = {**protocol, "seeds": sorted(int(s) for s in group["seed"])}
    return protocols


def _seed_values(curves: pd.DataFrame, budget: float, k: int) -> pd.DataFrame:
    """Per seed: final return and AUC of its curve (columns ``seed``, ``final_return``, ``auc``)."""
    rows = []
    for seed, curve in curves.groupby("seed", sort=True):
        curve = curve.sort_values("timesteps", kind="stable")
        returns = curve["eval_return_mean"].to_numpy(dtype=float)
        rows.append(
            {
                "seed": int(seed),
                "final_return": final_return(returns, k),
                "auc": normalized_auc(curve["timesteps"].to_numpy(dtype=float), returns, budget),
            }
        )
    return pd.DataFrame(rows, columns=["seed", *METRICS])


def _last_line(error: Any) -> str:
    """`` (last line of the error)`` or an empty string."""
    if isinstance(error, str) and error.strip():
        return f" ({error.strip().splitlines()[-1]})"
    return ""


def _versions(runs: RunSet) -> dict[str, Any]:
    versions = [meta.get("versions") for meta in runs.meta.values() if meta.get("versions")]
    return versions[0] if versions else {}


def make_reference(
    runs_root: str | Path,
    command: str,
    tolerance: float = DEFAULT_TOLERANCE,
    k: int = DEFAULT_LAST_K,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Build a reference from a folder of completed runs.

    :param runs_root: the suite's runs folder (``results/runs/ci``)
    :param command: the command that made the runs, recorded in the reference
    :param tolerance: fraction of each env's score range added to the band, >= 0
    :param k: evaluation points averaged into the final return
    :return: the ``reference.json`` content and the curves (columns ``CURVE_COLUMNS``)
    :raises ValueError: a bad tolerance, or a run that did not complete (a reference is made only
        from a suite that ran whole), or no runs
    """
    if not tolerance >= 0:
        raise ValueError(f"tolerance={tolerance} is invalid; expected a fraction of the score range >= 0")
    runs = load_runs(runs_root)
    if runs.problems or len(runs.not_completed):
        bad = [f"{r.run_id} ({r.status})" for r in runs.not_completed.itertuples()]
        bad += [str(problem) for problem in runs.problems]
        raise ValueError(
            f"a reference needs every run of the suite completed; not completed: {', '.join(bad)}"
        )
    protocols = _protocols(runs)
    curves = runs.curves[list(CURVE_COLUMNS)].sort_values(["algo", "env", "seed", "timesteps"], kind="stable")
    meta = next(iter(runs.meta.values()))
    made_with = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": meta.get("git_commit"),
        "versions": _versions(runs),
        "host": meta.get("host"),
    }
    reference = {
        "format": REFERENCE_FORMAT,
        "suite": str(runs.runs["sweep"].iloc[0]),
        "made_with": made_with,
        "tolerance": float(tolerance),
        "last_k": int(k),
        "pairs": [
            {"algo": algo, "env": env, "protocol": protocol, "made_with": made_with}
            for (algo, env), protocol in sorted(protocols.items())
        ],
    }
    return reference, curves.reset_index(drop=True)


def merge_reference(
    previous: tuple[dict[str, Any], pd.DataFrame], update: tuple[dict[str, Any], pd.DataFrame]
) -> tuple[dict[str, Any], pd.DataFrame]:
    """``update``'s (algo, env) pairs replace those of ``previous``; the other pairs are kept.

    Re-makes the reference of some algorithms (``randbench regress --update --merge``) without
    training the whole suite again. Tolerance and ``last_k`` are taken from ``update``; every pair
    keeps its own ``made_with`` record.

    :raises ValueError: the two references belong to different suites
    """
    (old, old_curves), (new, new_curves) = previous, update
    if old.get("suite") != new.get("suite"):
        raise ValueError(
            f"cannot merge suite {new.get('suite')!r} into a reference of suite {old.get('suite')!r}"
        )
    replaced = {(p["algo"], p["env"]) for p in new["pairs"]}
    kept = [p for p in old["pairs"] if (p["algo"], p["env"]) not in replaced]
    keep_rows = [(a, e) not in replaced for a, e in zip(old_curves["algo"], old_curves["env"])]
    curves = pd.concat([old_curves[keep_rows], new_curves], ignore_index=True)
    merged = {
        **new,
        "pairs": sorted([*kept, *new["pairs"]], key=lambda p: (p["algo"], p["env"])),
    }
    order = ["algo", "env", "seed", "timesteps"]
    return merged, curves.sort_values(order, kind="stable").reset_index(drop=True)


def write_reference(folder: str | Path, reference: Mapping[str, Any], curves: pd.DataFrame) -> Path:
    """Write ``reference.json`` and ``curves.csv`` into ``folder`` (created), each atomically.

    :return: the path of ``reference.json``
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / CURVES_FILE, curves.to_csv(index=False, float_format="%.6f").encode())
    path = folder / REFERENCE_FILE
    write_atomic(path, (json.dumps(reference, indent=2) + "\n").encode())
    return path


def load_reference(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read a reference written by :func:`write_reference`.

    :raises ReferenceUnusableError: the folder or a file is missing, unreadable, or of another format
    """
    folder = Path(folder)
    path, curves_path = folder / REFERENCE_FILE, folder / CURVES_FILE
    for file in (path, curves_path):
        if not file.is_file():
            raise ReferenceUnusableError(
                f"no reference: {file} is missing (make one with `randbench regress --update`)"
            )
    try:
        reference = json.loads(path.read_text())
        curves = pd.read_csv(curves_path)
    except (OSError, ValueError) as error:
        raise ReferenceUnusableError(f"the reference in {folder} is unreadable: {error}") from None
    if reference.get("format") != REFERENCE_FORMAT:
        raise ReferenceUnusableError(
            f"{path} has format {reference.get('format')!r}; this randbench reads format {REFERENCE_FORMAT} "
            f"(re-make it with `randbench regress --update`)"
        )
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing or not {"pairs", "tolerance", "last_k"} <= reference.keys():
        raise ReferenceUnusableError(f"the reference in {folder} is damaged: missing {missing or 'keys'}")
    return reference, curves


def _check_protocols(reference: Mapping[str, Any], fresh: Mapping[tuple[str, str], dict[str, Any]]) -> None:
    expected = {(p["algo"], p["env"]): p["protocol"] for p in reference["pairs"]}
    problems = []
    for pair in sorted(fresh.keys() - expected.keys()):
        problems.append(f"{pair[0]} on {pair[1]} has no reference curve")
    for pair in sorted(expected.keys() - fresh.keys()):
        problems.append(f"{pair[0]} on {pair[1]} is in the reference but was not run")
    for pair in sorted(fresh.keys() & expected.keys()):
        for key in (*PROTOCOL_KEYS, "seeds"):
            if key in fresh[pair] and expected[pair].get(key) != fresh[pair][key]:
                problems.append(
                    f"{pair[0]} on {pair[1]}: {key} is {fresh[pair].get(key)!r}, the reference was made "
                    f"with {expected[pair].get(key)!r}"
                )
    if problems:
        raise ReferenceUnusableError(
            "the reference was made with other settings than these runs (run `randbench regress --update` "
            "if the change is deliberate):\n  " + "\n  ".join(problems)
        )


def _worst_point(fresh: pd.DataFrame, reference: pd.DataFrame, tol: float) -> tuple[float, float]:
    """Grid point where the fresh seed-mean curve is furthest below the band's lower edge.

    :return: (timesteps, fresh mean - lower edge) at that point; NaNs if the curves share no range
    """
    frames = []
    for source, curves in (("fresh", fresh), ("reference", reference)):
        curves = curves.assign(run_id=[f"{source}/{seed}" for seed in curves["seed"]], pair="pair")
        frames.append(curves)
    grid = align_curves(pd.concat(frames, ignore_index=True), by=("pair",), span="common")
    if grid.empty:
        return float("nan"), float("nan")
    grid["source"] = grid["run_id"].str.split("/").str[0]
    table = grid.pivot_table(index="timesteps", columns="run_id", values="eval_return_mean")
    fresh_mean = table[[c for c in table.columns if c.startswith("fresh/")]].mean(axis=1)
    lower = table[[c for c in table.columns if c.startswith("reference/")]].min(axis=1) - tol
    margin = fresh_mean - lower
    at = margin.idxmin()
    return float(at), float(margin.loc[at])


def compare(
    runs_root: str | Path,
    reference_folder: str | Path,
    specs: Mapping[str, EnvSpec] | None = None,
    tolerance: float | None = None,
) -> RegressionResult:
    """Judge the fresh runs under ``runs_root`` against the reference in ``reference_folder``.

    :param runs_root: the fresh suite's runs folder
    :param reference_folder: the folder written by :func:`write_reference`
    :param specs: env name -> :class:`EnvSpec` for score ranges (default: this repository's conf/)
    :param tolerance: override of the reference's stated tolerance (fraction of the score range)
    :raises ReferenceUnusableError: missing or damaged reference, another protocol, an env without
        score bounds
    :raises ValueError: no run folders under ``runs_root``
    """
    reference, reference_curves = load_reference(reference_folder)
    runs = load_runs(runs_root)
    fresh_protocols = _protocols(runs)
    _check_protocols(reference, fresh_protocols)
    reference_protocols = {(p["algo"], p["env"]): p["protocol"] for p in reference["pairs"]}
    specs = load_env_specs() if specs is None else specs
    tolerance = float(reference["tolerance"] if tolerance is None else tolerance)
    k = int(reference["last_k"])

    failed = runs.not_completed
    failed_runs = [f"{r.run_id}: {r.status}{_last_line(r.error)}" for r in failed.itertuples()]
    notes = []
    versions = _versions(runs)
    changed = set()
    for entry in reference["pairs"]:
        made_with = (entry.get("made_with") or reference["made_with"]).get("versions") or {}
        changed |= {
            (name, str(made_with.get(name)), str(version))
            for name, version in versions.items()
            if made_with.get(name) != version
        }
    if changed:
        notes.append(
            "versions differ from the reference's: "
            + ", ".join(f"{name} {old} -> {new}" for name, old, new in sorted(changed))
        )

    rows = []
    for pair, protocol in sorted(fresh_protocols.items()):
        algo, env = pair
        if env not in specs:
            raise ReferenceUnusableError(f"env {env!r} has no score bounds in conf/env/{env}.yaml")
        spec = specs[env]
        tol = tolerance * (spec.score_max - spec.score_min)
        ref = reference_curves[(reference_curves["algo"] == algo) & (reference_curves["env"] == env)]
        new = runs.curves[(runs.curves["algo"] == algo) & (runs.curves["env"] == env)]
        incomplete = bool(((failed["algo"] == algo) & (failed["env"] == env)).any())
        budget = protocol.get("budget", reference_protocols[pair]["budget"])
        ref_values = _seed_values(ref, budget, k)
        new_values = _seed_values(new[new["status"] == "completed"], budget, k)
        at, worst = (np.nan, np.nan)
        if len(new_values):
            at, worst = _worst_point(new[new["status"] == "completed"], ref, tol)
        for metric in METRICS:
            low = float(ref_values[metric].min()) - tol
            high = float(ref_values[metric].max()) + tol
            value = float(new_values[metric].mean()) if len(new_values) else float("nan")
            margin = value - low
            if incomplete:
                result = "NOT COMPLETED"
            else:
                result = "pass" if margin >= 0 else "REGRESSION"
            rows.append(
                {
                    "algo": algo,
                    "env": env,
                    "metric": metric,
                    "reference": float(ref_values[metric].mean()),
                    "band_low": low,
                    "band_high": high,
                    "fresh": value,
                    "margin": margin,
                    "worst_point_timesteps": at,
                    "worst_point_margin": worst,
                    "result": result,
                }
            )
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    return RegressionResult(table=table, failed_runs=failed_runs, notes=notes)


def format_table(table: pd.DataFrame) -> str:
    """The check's table as Markdown: one row per (algo, env, metric), numbers rounded.

    ``margin`` is fresh minus the band's lower end (negative: the shortfall); the worst point is
    where the fresh mean curve comes closest to (or falls furthest below) the band's lower edge.
    """
    shown = table.copy()
    shown["band"] = [f"[{low:.1f}, {high:.1f}]" for low, high in zip(table["band_low"], table["band_high"])]
    shown["worst point"] = [
        "" if np.isnan(at) else f"{margin:+.1f} at {at:,.0f} steps"
        for at, margin in zip(table["worst_point_timesteps"], table["worst_point_margin"])
    ]
    shown = shown[["algo", "env", "metric", "reference", "band", "fresh", "margin", "worst point", "result"]]
    return shown.to_markdown(index=False, floatfmt=".1f")


def summary(result: RegressionResult, log: Callable[[str], None] = print) -> None:
    """Print the verdict: the table, runs that did not complete, notes, and one closing line."""
    log(format_table(result.table))
    for line in result.failed_runs:
        log(f"  ! run did not complete: {line}")
    for note in result.notes:
        log(f"  note: {note}")
    shortfalls = result.table[result.table["result"] != "pass"]
    if result.passed:
        log(f"regression check passed: {len(result.table)} rows within their bands")
    else:
        pairs = sorted({f"{r.algo}/{r.env}" for r in shortfalls.itertuples()})
        log(f"regression check FAILED: {len(shortfalls)} row(s) short of the band ({', '.join(pairs)})")
