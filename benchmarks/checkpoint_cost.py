"""The cost of a checkpoint (sweeps/checkpoint.py): seconds per checkpoint, and its share of train time.

For each algorithm the run is built from its tuned config as ``randbench train`` builds it, trained
for a few thousand steps to measure its training FPS, and then checkpointed ``--repeats`` times.
An off-policy algorithm's replay buffer is first filled to ``--buffer`` transitions (random
values of the right shapes: what is written is the buffer's arrays, whatever they hold), so that
the checkpoint is the size it is late in a run. The share of train time is

    seconds per checkpoint / (checkpoint.freq / training FPS)

at the default ``checkpoint.freq`` (or ``--freq``). Checkpoint time is excluded from a run's
``train_time_s``, as evaluation is; the share says how much longer a run takes in wall-clock.

    python -m benchmarks.checkpoint_cost                  # PPO, SAC and RANDPOL on hopper
    python -m benchmarks.checkpoint_cost --algos sac --buffer 1000000 --env hopper
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from sweeps.checkpoint import remove_checkpoints, save_checkpoint
from sweeps.recorder import RunRecorder
from sweeps.run import build_run
from sweeps.train import CONFIG_DIR

TRAIN_STEPS = {"ppo": 4096, "randpol": 4096, "sac": 1500}


def _config(algo: str, env: str) -> object:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base=None):
        return compose("config", overrides=[f"algo={algo}", f"env={env}", "progress=false"])


def _fill_buffer(model: object, n: int) -> int:
    """Mark ``n`` transitions of the replay buffer as stored (random contents of its dtypes)."""
    buffer = model.replay_buffer  # type: ignore[attr-defined]
    n = min(n, buffer.buffer_size)
    rng = np.random.default_rng(0)
    for name in ("observations", "next_observations", "actions", "rewards"):
        array = getattr(buffer, name, None)
        if isinstance(array, np.ndarray):
            array[:n] = rng.standard_normal(array[:n].shape).astype(array.dtype)
    buffer.pos, buffer.full = n % buffer.buffer_size, n == buffer.buffer_size
    return n


def measure(algo: str, env: str, repeats: int, buffer: int, freq: int) -> dict[str, float]:
    cfg = _config(algo, env)
    train_env, eval_env, model = build_run(cfg, vec_env="dummy")
    try:
        if hasattr(model, "learning_starts"):  # time gradient steps, not the random warm-up
            model.learning_starts = 100
        start = time.perf_counter()
        model.learn(TRAIN_STEPS.get(algo, 4096))
        fps = model.num_timesteps / (time.perf_counter() - start)
        stored = _fill_buffer(model, buffer) if hasattr(model, "replay_buffer") and model.replay_buffer else 0
        with tempfile.TemporaryDirectory() as folder:
            recorder = RunRecorder(Path(folder), eval_env, eval_freq=10**9, n_eval_episodes=1,
                                   total_timesteps=10**9, progress=False)
            (Path(folder) / "progress.csv").write_text("time/total_timesteps\n0\n")
            seconds = []
            for _ in range(repeats):
                seconds.append(save_checkpoint(Path(folder), model, train_env, recorder, "benchmark", eval_env))
            size = sum(p.stat().st_size for p in (Path(folder) / ".checkpoint").iterdir())
            remove_checkpoints(Path(folder))
    finally:
        train_env.close()
        eval_env.close()
    per = statistics.median(seconds)
    return {"fps": fps, "seconds": per, "share": per / (freq / fps), "mb": size / 1e6, "stored": stored}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", default="ppo,sac,randpol")
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--buffer", type=int, default=1_000_000, help="replay-buffer transitions (off-policy)")
    parser.add_argument("--freq", type=int, default=100_000, help="checkpoint.freq, env steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"{'algo':8s} {'train FPS':>10s} {'s/checkpoint':>13s} {'MB':>8s} {'share at freq':>14s}  (buffer)")
    for algo in args.algos.split(","):
        row = measure(algo, args.env, args.repeats, args.buffer, args.freq)
        stored = f"  ({row['stored']:,} transitions)" if row["stored"] else ""
        print(f"{algo:8s} {row['fps']:10.0f} {row['seconds']:13.3f} {row['mb']:8.1f} {row['share']:14.2%}{stored}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
