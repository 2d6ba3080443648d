"""The clips of ``randbench report --videos``: one per (task, algorithm), its best seed's final policy.

The best seed is the completed run with the highest final return (ties: the lowest seed). Its clip
is the one ``randbench video`` wrote in the run folder (``video/``), when that clip shows the run's
current ``model.zip`` with the same length settings; otherwise it is rendered, each run in a
process of its own (:mod:`sweeps.video` explains why), off-screen.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from analysis.analyze import Analysis

DEFAULT_VIDEO_STEPS = 500
RENDER_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Clip:
    """One embedded clip.

    :param env: task name (conf/env)
    :param algo: algorithm label
    :param seed: the run's seed
    :param final_return: the run's final return (mean of its last evaluations)
    :param run_dir: the run folder
    :param gif: the animated GIF's bytes
    :param mp4: the MP4 file in the run folder
    :param info: the clip's ``video.json`` (episodes' returns and lengths, frame counts, fps)
    """

    env: str
    algo: str
    seed: int
    final_return: float
    run_dir: Path
    gif: bytes
    mp4: Path
    info: dict[str, Any]


def best_runs(result: Analysis) -> pd.DataFrame:
    """One completed run per (env, algo): the one with the highest final return, lowest seed on ties.

    :return: rows of ``result.run_metrics`` with a ``path`` column (the run folder)
    """
    metrics = result.run_metrics.merge(result.runs.runs[["run_id", "path"]], on="run_id", how="left")
    ranked = metrics.sort_values(["env", "algo", "final_return", "seed"], ascending=[True, True, False, True])
    return ranked.drop_duplicates(["env", "algo"]).reset_index(drop=True)


def collect_clips(
    result: Analysis,
    max_steps: int = DEFAULT_VIDEO_STEPS,
    episodes: int = 1,
    log: Callable[[str], None] | None = None,
) -> tuple[list[Clip], dict[tuple[str, str], str]]:
    """The clip of each (env, algo)'s best seed, rendered where the run folder has no current one.

    :param result: the analysis of a runs folder
    :param max_steps: env steps after which a clip's episode is cut, >= 1
    :param episodes: episodes per clip, >= 1
    :param log: callable taking one progress line, or None
    :return: the clips, in env then palette order, and (env, algo) -> why it has none (the
        rendering's error)
    """
    from sweeps.video import GIF_NAME, MP4_NAME, VIDEO_DIR, read_video

    say = log or (lambda line: None)
    clips, missing = [], {}
    for row in best_runs(result).itertuples():
        run_dir = Path(row.path)
        info = read_video(run_dir, max_steps=max_steps, n_episodes=episodes)
        if info is None:
            say(f"  rendering {row.env}/{row.algo} seed {row.seed} ({run_dir})")
            command = [sys.executable, "-m", "sweeps.video", str(run_dir), "--max-steps", str(max_steps),
                       "--episodes", str(episodes)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False)
            except subprocess.TimeoutExpired:
                missing[(row.env, row.algo)] = f"rendering took more than {RENDER_TIMEOUT_S} s"
                continue
            info = read_video(run_dir, max_steps=max_steps, n_episodes=episodes)
            if done.returncode != 0 or info is None:
                lines = (done.stderr or done.stdout).strip().splitlines()
                missing[(row.env, row.algo)] = lines[-1] if lines else f"exit status {done.returncode}"
                say(f"  ! no clip for {row.env}/{row.algo}: {missing[(row.env, row.algo)]}")
                continue
        else:
            say(f"  clip of {row.env}/{row.algo} seed {row.seed} found in {run_dir / VIDEO_DIR}")
        clips.append(Clip(
            env=row.env, algo=row.algo, seed=int(row.seed), final_return=float(row.final_return), run_dir=run_dir,
            gif=(run_dir / VIDEO_DIR / GIF_NAME).read_bytes(), mp4=run_dir / VIDEO_DIR / MP4_NAME, info=info,
        ))
    order = {algo: i for i, algo in enumerate(result.algos)}
    clips.sort(key=lambda clip: (clip.env, order.get(clip.algo, len(order))))
    return clips, missing
