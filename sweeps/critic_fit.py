"""How well RANDPOL's critic can fit the returns: ``python -m sweeps.critic_fit RUN_DIR ...``.

A diagnosis of the random-feature critic of a trained RANDPOL run (the RANDPOL study,
``docs/randpol_study_notes.md``). The run's saved policy collects ``--rollouts`` rollouts of its
own size (``n_steps * n_envs`` transitions each) with its env and frozen normalization statistics;
the policy does not change between them, so rollout ``i + 1`` is a held-out sample of the same
policy's returns. On each rollout the critic head is fitted to the rollout's GAE(lambda) returns
(the targets RANDPOL's update fits) by each solver, and scored by explained variance (SB3's
``1 - Var(R - V) / Var(R)``) on that rollout (in-sample) and on the next (held-out):

- ``adam``: RANDPOL's own procedure (projected Adam from the saved head and optimizer state,
  ``critic_epochs`` passes of ``critic_batch_size``), i.e. what training does at every update;
- ``lsq``: the exact box-constrained least squares under ``|alpha_j| <= C / J``;
- ``ridge``: RANDPOL's ridge solver (ridge, clamp to the box, refit the bias);
- ``unbounded``: the same ridge without the box. ``unbounded`` minus ``lsq`` is what the
  L-infinity bound costs the fit (its bias).

``before`` is the saved head without a fit: the training log's ``explained_variance``.

The same rollouts then score fresh random ReLU features of the paper's architecture,
``[500, J]`` for each ``--widths`` J (the critic's random net at another width, drawn with
``--seed``), under the exact solvers, with the feature matrix's spectrum: numerical rank, the
effective rank of Roy and Vetterli (2007), ``exp(-sum p_k log p_k)`` with ``p_k = s_k / sum s``
over the singular values ``s``, the condition number of its non-zero part, and the share of dead
(constant) features.

Writes one CSV (``--out``): a row per (rollout, solver, width) with ``ev_in_sample``,
``ev_held_out``, ``at_bound`` (share of head weights at the bound) and ``fit_s`` (seconds), and
the spectrum columns on the width rows; prints the medians over rollouts. Exit status 2 on bad
input (a folder that is not a completed RANDPOL run, a bad option).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.utils import (
    explained_variance,  # 1 - Var(y - y_pred) / Var(y); NaN if Var(y) = 0
)

from analysis.argtypes import positive_int

SOLVERS = ("before", "adam", "lsq", "ridge", "unbounded")
DEFAULT_WIDTHS = (100, 200, 500, 800, 2000, 4000)
# lsq_linear (bvls) on a (J + 1)-square system takes tens of seconds per fit past this width.
MAX_LSQ_WIDTH = 1000


def feature_spectrum(features: np.ndarray) -> dict[str, float]:
    """Rank and conditioning of a feature matrix.

    :param features: shape (n, J).
    :return: ``rank`` (singular values above ``s_max * max(n, J) * eps(float32)``),
        ``effective_rank`` (Roy and Vetterli 2007), ``condition`` (``s_max`` over the smallest
        singular value counted in ``rank``) and ``dead_share`` (columns constant over the rows).
    """
    x = np.asarray(features, dtype=np.float64)
    s = np.linalg.svd(x, compute_uv=False)
    if s.size == 0 or s[0] == 0:
        return {"rank": 0.0, "effective_rank": 0.0, "condition": float("inf"), "dead_share": 1.0}
    tolerance = s[0] * max(x.shape) * np.finfo(np.float32).eps
    kept = s[s > tolerance]
    p = s / s.sum()
    p = p[p > 0]
    return {
        "rank": float(kept.size),
        "effective_rank": float(np.exp(-(p * np.log(p)).sum())),
        "condition": float(kept[0] / kept[-1]),
        "dead_share": float((np.ptp(x, axis=0) == 0).mean()),
    }


def _load(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The run's RANDPOL model on a fresh training env with the run's frozen normalization, and
    the run's (resolved) config."""
    from stable_baselines3.common.vec_env import VecNormalize

    from algos.randpol import RANDPOL
    from envs.make import make_train_env
    from sweeps.video import load_run_model, read_run_config

    config = read_run_config(run_dir)
    model = load_run_model(config, run_dir / "model.zip")
    if not isinstance(model, RANDPOL):
        raise ValueError(  # noqa: TRY004 - a run of another algorithm is bad input (exit status 2)
            f"{run_dir} holds a {type(model).__name__} model; expected a RANDPOL run"
        )
    if model.policy.critic_net is not None:
        raise ValueError(f"{run_dir}: its critic is a trained network (critic_net), not random features")
    env_cfg = config["env"]
    venv = make_train_env(
        env_cfg["id"], n_envs=int(env_cfg["n_envs"]), seed=10_000 + int(config.get("seed", 0)),
        env_kwargs=env_cfg.get("kwargs"), vec_env="dummy",
    )
    stats = run_dir / "vecnormalize.pkl"
    if stats.is_file():
        venv = VecNormalize.load(str(stats), venv)
        venv.training = False  # the statistics the policy ended with, frozen
    elif env_cfg.get("normalize"):
        raise ValueError(f"{run_dir}: the env was normalized but vecnormalize.pkl is missing")
    model.set_env(venv)
    return model, config


def collect(model: Any, n_rollouts: int) -> list[dict[str, np.ndarray]]:
    """``n_rollouts`` rollouts of the model's policy: observations, critic features and returns.

    :return: per rollout ``observations`` (n, *obs_shape), ``vf_features`` (n, J) and
        ``returns`` (n,), n = ``n_steps * n_envs``.
    """
    n = model.n_steps * model.n_envs
    model.tensorboard_log = None  # no new TensorBoard run inside the run folder
    _, callback = model._setup_learn(n * n_rollouts, callback=None, reset_num_timesteps=True)
    callback.on_training_start(locals(), globals())
    rollouts = []
    for _ in range(n_rollouts):
        if not model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps):
            raise RuntimeError("the rollout was stopped by a callback")
        samples = model.rollout_buffer.samples()
        rollouts.append({
            "observations": samples.observations.numpy().copy(),
            "vf_features": samples.vf_features.numpy().copy(),
            "returns": samples.returns.numpy().copy(),
        })
    return rollouts


def _head_state(model: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    import copy

    return copy.deepcopy(model.policy.value_net.state_dict()), copy.deepcopy(model.critic_optimizer.state_dict())


def _values(model: Any, features: np.ndarray) -> np.ndarray:
    import torch as th

    with th.no_grad():
        return model.policy.values_from_features(th.from_numpy(features)).flatten().numpy()


def fit_solvers(model: Any, rollouts: list[dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Each solver on each rollout with the run's own critic features (see the module docstring)."""
    import torch as th

    from algos.randpol.solvers import solve_box_least_squares

    saved = _head_state(model)
    bound = model.critic_bound
    J = rollouts[0]["vf_features"].shape[1]
    rows = []
    for i, rollout in enumerate(rollouts):
        phi, returns = rollout["vf_features"], rollout["returns"]
        held = rollouts[i + 1] if i + 1 < len(rollouts) else None
        for solver in SOLVERS:
            model.policy.value_net.load_state_dict(saved[0])
            model.critic_optimizer.load_state_dict(saved[1])
            start = time.perf_counter()
            if solver in ("adam", "lsq", "ridge"):
                own = model.critic_solver
                model.critic_solver = solver
                try:
                    model._fit_critic(th.from_numpy(phi), th.from_numpy(returns))
                finally:
                    model.critic_solver = own
            elif solver == "unbounded":
                alpha, bias = solve_box_least_squares(phi, returns, math.inf, "ridge", ridge=model.critic_ridge)
                with th.no_grad():
                    model.policy.value_net.weight.copy_(th.from_numpy(alpha).reshape(1, -1))
                    model.policy.value_net.bias.fill_(bias)
            seconds = time.perf_counter() - start
            alpha = model.policy.value_net.weight.detach().numpy().ravel()
            rows.append({
                "rollout": i, "solver": solver, "features": "run", "width": J, "bound": bound,
                "ev_in_sample": explained_variance(_values(model, phi), returns),
                "ev_held_out": explained_variance(_values(model, held["vf_features"]), held["returns"])
                if held is not None else float("nan"),
                "at_bound": float((np.abs(alpha) >= bound * (1 - 1e-6)).mean()),
                "fit_s": seconds,
            })
    model.policy.value_net.load_state_dict(saved[0])
    return rows


def fit_widths(
    model: Any, rollouts: list[dict[str, np.ndarray]], widths: Sequence[int], seed: int
) -> list[dict[str, Any]]:
    """Exact solvers on fresh random ReLU features ``[500, J]`` of the same observations."""
    import torch as th

    from algos.randpol.policies import RandomFeatureNet
    from algos.randpol.solvers import linf_bound, solve_box_least_squares

    policy = model.policy
    rows = []
    for J in widths:
        th.manual_seed(seed)
        net = RandomFeatureNet(int(np.prod(policy.observation_space.shape)), [500, int(J)])
        with th.no_grad():
            features = [
                net(policy.preprocess_obs(th.from_numpy(r["observations"]))).numpy().astype(np.float64)
                for r in rollouts
            ]
        bound = linf_bound(model.C, int(J))
        for i, (phi, rollout) in enumerate(zip(features, rollouts, strict=True)):
            spectrum = feature_spectrum(phi)
            held = i + 1 < len(rollouts)
            solvers = ("lsq", "ridge", "unbounded") if J <= MAX_LSQ_WIDTH else ("ridge", "unbounded")
            for solver in solvers:
                start = time.perf_counter()
                alpha, bias = solve_box_least_squares(
                    phi, rollout["returns"], math.inf if solver == "unbounded" else bound,
                    "ridge" if solver == "unbounded" else solver, model.lsq_method, model.critic_ridge,
                )
                if solver != "unbounded":
                    alpha = np.clip(alpha, -bound, bound)
                seconds = time.perf_counter() - start
                rows.append({
                    "rollout": i, "solver": solver, "features": "relu [500, J]", "width": int(J), "bound": bound,
                    "ev_in_sample": explained_variance(phi @ alpha + bias, rollout["returns"]),
                    "ev_held_out": explained_variance(features[i + 1] @ alpha + bias, rollouts[i + 1]["returns"])
                    if held else float("nan"),
                    "at_bound": float((np.abs(alpha) >= bound * (1 - 1e-6)).mean()),
                    "fit_s": seconds,
                    **spectrum,
                })
    return rows


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.critic_fit",
        description="Fit RANDPOL's critic head by each solver on rollouts of a trained run, and at other widths.",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, help="completed RANDPOL run folders (with model.zip)")
    parser.add_argument("--out", type=Path, required=True, help="CSV to write")
    parser.add_argument("--rollouts", type=positive_int, default=3, help="rollouts per run (>= 2; default 3)")
    parser.add_argument(
        "--widths", type=positive_int, nargs="*", default=list(DEFAULT_WIDTHS),
        help=f"random widths J of the [500, J] ReLU features (default {' '.join(map(str, DEFAULT_WIDTHS))}; none: skip)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fresh random features")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the diagnosis; returns the exit status (0 written, 2 bad input)."""
    import pandas as pd
    import torch as th

    args = build_parser().parse_args(argv)
    if args.rollouts < 2:
        print(f"error: --rollouts {args.rollouts} is invalid; expected >= 2 (one held-out rollout)", file=sys.stderr)
        return 2
    th.set_num_threads(1)
    frames = []
    for run_dir in args.run_dirs:
        try:
            model, config = _load(run_dir)
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{run_dir}: {args.rollouts} rollouts of {model.n_steps * model.n_envs} transitions", flush=True)
        rollouts = collect(model, args.rollouts)
        rows = fit_solvers(model, rollouts) + fit_widths(model, rollouts, args.widths, args.seed)
        frame = pd.DataFrame(rows)
        frame.insert(0, "env", config["env"]["name"])
        frame.insert(0, "run", str(run_dir))
        frames.append(frame)
        model.env.close()
    table = pd.concat(frames, ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from analysis.contract import atomic_write_text

    atomic_write_text(args.out, table.to_csv(index=False))
    summary = table.groupby(["env", "features", "width", "solver"], sort=False)[
        ["ev_in_sample", "ev_held_out", "at_bound", "fit_s"]
    ].median()
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(summary.round(3).to_string())
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
