"""RANDPOL's update (``train()``) against its whole train time, per part and per option.

``python -m benchmarks.update_cost [--envs hopper lunarlander go1] [--steps N] [--repeats 2]
[--solvers ridge lsq] [--output results/benchmarks/update_cost.csv]``

For every env, each repetition runs ``learn(steps)`` of the tuned RANDPOL (``conf/tuned/
randpol_<env>.yaml``, built as the harness builds it) under these conditions, interleaved:

- ``tuned``: the tuned config as the harness runs it;
- ``guard_per_step``: the same with the KL guard checked after every actor step
  (``RANDPOL.guard_chunk = 1``, its exact check one step at a time), when the tuned config has a
  guard. The two must end with the same actor and critic (``same_result``, also for ``autograd_per_step``
  against ``actor_autograd``): the batched check is a speed change only;
- ``actor_autograd``: the actor's minibatch gradients by autograd on the loss (a graph per
  minibatch) instead of their closed form (:meth:`RANDPOL._actor_gradients`); equal to float
  rounding, so the results drift apart over training and are not compared;
- ``autograd_per_step``: both of the above (autograd gradients, a guard check after every step);
- ``critic_ridge``, ``critic_lsq`` (``--solvers``): the exact critic solvers in place of the tuned one (ridge
  solve then clamp; box-constrained least squares), which change what is learned; only their
  cost is compared.

Each run times ``learn()`` (construction excluded) and, inside it, ``train()`` and its two parts,
the critic fit and the actor update, with ``time.perf_counter``. Columns: microseconds per env
step of each, ``train_share`` (``train()`` over ``learn()``), and ``ratio_vs_tuned`` (learn time
of the tuned condition over this one, median of per-repetition ratios). One torch thread.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import time
import types
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch as th
from omegaconf import DictConfig

from algos.randpol import RANDPOL
from algos.randpol.randpol import _approx_kl
from baselines.build import build_algorithm
from benchmarks.throughput import check_env_names, compose_config, make_env, write_tables

# Enough env steps for several updates of each tuned RANDPOL (2,048 / 8,192 / 2,048 per update).
DEFAULT_STEPS = {"hopper": 20_480, "lunarlander": 65_536, "go1": 16_384, "bipedalwalker": 65_536,
                 "humanoid": 20_480, "pendulum": 8_192}


class _Timer:
    """Wraps methods of one model to add up their wall-clock seconds."""

    def __init__(self, model: RANDPOL, names: tuple[str, ...]) -> None:
        self.seconds = dict.fromkeys(names, 0.0)
        for name in names:
            setattr(model, name, self._timed(name, getattr(model, name)))

    def _timed(self, name: str, method: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def autograd_actor_gradients(self: RANDPOL, rollout, advantages: th.Tensor, clipped: bool, idx, state) -> bool:
    """:meth:`RANDPOL._actor_gradients` by autograd: the loss built as a graph, then ``backward()``."""
    policy = self.policy
    log_prob, entropy = policy.log_prob_from_features(rollout.pi_features[idx], rollout.actions[idx])
    adv = advantages[idx]
    if self.target_kl is not None:
        with th.no_grad():
            if _approx_kl(log_prob - rollout.old_log_prob[idx]) > 1.5 * self.target_kl:
                state.stop = True
                return False
    if not clipped:
        policy_loss = -(adv * log_prob).mean()
    else:
        ratio = th.exp(log_prob - rollout.old_log_prob[idx])
        clipped_ratio = ratio.clamp(1 - self.clip_range, 1 + self.clip_range)
        policy_loss = -th.min(ratio * adv, clipped_ratio * adv).mean()
        state.clip_fractions.append(((ratio - 1).abs() > self.clip_range).float().mean().detach())
    loss = policy_loss - self.ent_coef * entropy.mean()
    policy.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return True


def conditions(env: str, solvers: tuple[str, ...] = ("ridge", "lsq")) -> dict[str, tuple[DictConfig, int, bool]]:
    """The measured conditions of one env: name -> (config, guard_chunk, autograd gradients)."""
    tuned = compose_config("randpol", env)
    batched = RANDPOL.guard_chunk
    out = {"tuned": (tuned, batched, False)}
    if tuned.algo.model.get("max_kl") is not None:
        out["guard_per_step"] = (tuned, 1, False)
    if tuned.algo.model.get("actor_update") != "natural":
        out["actor_autograd"] = (tuned, batched, True)
        out["autograd_per_step"] = (tuned, 1, True)
    for solver in solvers:
        if tuned.algo.model.get("critic_solver", "adam") != solver:
            cfg = tuned.copy()
            cfg.algo.model.critic_solver = solver
            out[f"critic_{solver}"] = (cfg, batched, False)
    return out


def measure(
    cfg: DictConfig, guard_chunk: int, steps: int, autograd: bool = False, seed: int = 0
) -> tuple[dict[str, float], list[th.Tensor]]:
    """One timed ``learn(steps)``: seconds and update counts, and the trained heads (weights, biases,
    log-std) to compare results."""
    model = build_algorithm(cfg.algo, make_env(cfg, seed), seed=seed, device="cpu", verbose=0)
    if autograd:
        model._actor_gradients = types.MethodType(autograd_actor_gradients, model)  # type: ignore[method-assign]
    default_chunk = RANDPOL.guard_chunk
    RANDPOL.guard_chunk = guard_chunk
    try:
        timer = _Timer(model, ("train", "_fit_critic", "_update_actor"))
        start = time.perf_counter()
        model.learn(steps)
        total = time.perf_counter() - start
    finally:
        RANDPOL.guard_chunk = default_chunk
    model.get_env().close()
    policy = model.policy
    heads = [t.detach().clone() for t in (policy.action_net.weight, policy.action_net.bias, policy.log_std,
                                          *policy.critic_parameters())]
    return {"timesteps": model.num_timesteps, "total": total, "n_updates": model._n_updates,
            "train": timer.seconds["train"], "critic": timer.seconds["_fit_critic"],
            "actor": timer.seconds["_update_actor"]}, heads


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=["hopper", "lunarlander", "go1"], help="env config names (conf/env/)")
    parser.add_argument("--steps", type=int, default=None, help="env steps per run (default: per env)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions (>= 1)")
    parser.add_argument("--solvers", nargs="*", default=["ridge", "lsq"], choices=["adam", "ridge", "lsq"],
                        help="exact critic solvers measured in place of the tuned one (lsq: seconds per update)")
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/update_cost.csv"))
    args = parser.parse_args(argv)
    check_env_names(parser, args.envs)
    if args.repeats < 1 or (args.steps is not None and args.steps < 1):
        parser.error(f"--repeats and --steps must be >= 1, got {args.repeats} and {args.steps}")
    th.set_num_threads(1)
    plan = {env: conditions(env, tuple(args.solvers)) for env in args.envs}
    records, heads = [], {}
    for repeat in range(args.repeats):
        for env, env_conditions in plan.items():
            for name, (cfg, chunk, autograd) in env_conditions.items():
                seconds, trained = measure(cfg, chunk, args.steps or DEFAULT_STEPS.get(env, 16_384), autograd)
                heads[env, name] = trained
                n = seconds["timesteps"]
                record = {"env": env, "condition": name, "guard_chunk": chunk, "autograd": autograd,
                          "critic_solver": cfg.algo.model.get("critic_solver", "adam"), "repeat": repeat,
                          "timesteps": n, "n_updates": seconds["n_updates"],
                          **{f"{part}_us": 1e6 * seconds[part] / n for part in ("total", "train", "critic", "actor")},
                          "train_share": seconds["train"] / seconds["total"]}
                records.append(record)
                print(f"[{repeat}] {env:12s} {name:15s} learn {record['total_us']:6.1f} us/step, train "
                      f"{record['train_us']:6.1f} ({100 * record['train_share']:4.1f}%): critic "
                      f"{record['critic_us']:5.1f}, actor {record['actor_us']:5.1f}", flush=True)
    runs = pd.DataFrame(records)
    rows = []
    for (env, name), group in runs.groupby(["env", "condition"], sort=False):
        tuned = runs[(runs.env == env) & (runs.condition == "tuned")].set_index("repeat")["total_us"]
        mine = group.set_index("repeat")["total_us"]
        # the guard's per-step check against its batched one, with either gradient
        twin = {"guard_per_step": "tuned", "autograd_per_step": "actor_autograd"}.get(name)
        same = None
        if twin is not None:
            same = all(th.equal(a, b) for a, b in zip(heads[env, name], heads[env, twin], strict=True))
        rows.append({
            "env": env, "condition": name, "guard_chunk": group["guard_chunk"].iloc[0],
            "autograd": bool(group["autograd"].iloc[0]),
            "critic_solver": group["critic_solver"].iloc[0], "timesteps": int(group["timesteps"].median()),
            "n_updates": int(group["n_updates"].median()),
            **{c: float(group[c].median()) for c in ("total_us", "train_us", "critic_us", "actor_us", "train_share")},
            "ratio_vs_tuned": float((tuned / mine).median()), "same_result": same,
        })
    table = pd.DataFrame(rows)
    write_tables(table, runs, args.output)
    print()
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}" if v < 10 else f"{v:.0f}"))
    print(f"\nwritten: {args.output}")
    return table


if __name__ == "__main__":
    main()
