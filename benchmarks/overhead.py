"""Recording overhead of the harness: bare SB3 ``learn()`` FPS against what ``randbench train`` records.

For each algorithm, in one process and interleaved over repeats, the same (algo, env, seed,
budget, tuned config) is trained twice:

- bare: the algorithm built from the config, ``model.learn(budget)`` with no callback, timed
  around ``learn()`` only;
- randbench: ``sweeps.run.run`` with recording and evaluation on; FPS = timesteps / train_time_s
  as written in metrics.csv (evaluation excluded by the harness).

The ratio randbench / bare should be >= 0.95 (issue target on Hopper-v5 with PPO and SAC).

    python -m benchmarks.overhead                      # PPO and SAC on hopper
    python -m benchmarks.overhead --algos ppo --env lunarlander --repeats 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from hydra import compose, initialize_config_dir

from sweeps.run import build_run, run
from sweeps.train import CONFIG_DIR

DEFAULT_BUDGETS = {"ppo": 20_000, "sac": 12_000}


def compose_run(algo: str, env: str, budget: int, root: Path, tag: str) -> object:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("config", overrides=[
            f"algo={algo}", f"env={env}", f"budget={budget}", f"eval.freq={max(budget // 4, 1)}",
            "eval.n_episodes=2", f"output.root={root}", f"sweep_name={tag}", "progress=false", "force=true",
        ])


def bare_fps(cfg) -> float:
    train_env, eval_env, model = build_run(cfg)
    try:
        start = time.perf_counter()
        model.learn(total_timesteps=int(cfg.budget))
        elapsed = time.perf_counter() - start
        return model.num_timesteps / elapsed
    finally:
        train_env.close()
        eval_env.close()


def recorded_fps(cfg) -> float:
    result = run(cfg)
    if result.status != "completed":
        raise RuntimeError(f"benchmark run {result.status}: {result.error}")
    last = pd.read_csv(result.run_dir / "metrics.csv").iloc[-1]
    return float(last["timesteps"] / last["train_time_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac"])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--budget", type=int, default=None, help="env steps per run (default: per algo)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--csv", type=Path, default=Path("results/benchmarks/overhead.csv"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1, got {args.repeats}")
    torch.set_num_threads(1)

    samples: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for algo in args.algos:
                budget = args.budget or DEFAULT_BUDGETS.get(algo, 20_000)
                cfg = compose_run(algo, args.env, budget, Path(tmp), f"r{repeat}")
                for mode, measure in (("bare", bare_fps), ("randbench", recorded_fps)):
                    fps = measure(cfg)
                    samples.setdefault((algo, mode), []).append(fps)
                    print(f"repeat {repeat} {algo:>5} {mode:>9}: {fps:9.1f} steps/s", flush=True)

    rows = []
    for algo in args.algos:
        bare = statistics.median(samples[(algo, "bare")])
        recorded = statistics.median(samples[(algo, "randbench")])
        rows.append({"algo": algo, "env": args.env, "repeats": args.repeats, "bare_fps": round(bare, 1),
                     "randbench_fps": round(recorded, 1), "ratio": round(recorded / bare, 3)})
    print(f"\n{'algo':>6} {'env':>12} {'bare FPS':>10} {'randbench FPS':>14} {'ratio':>7}")
    for row in rows:
        print(f"{row['algo']:>6} {row['env']:>12} {row['bare_fps']:>10.1f} {row['randbench_fps']:>14.1f} "
              f"{row['ratio']:>7.3f}")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
