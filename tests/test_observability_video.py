"""`randbench video` (sweeps/video.py) and `randbench report --videos`: a trained policy rendered
off-screen to MP4 and GIF for a MuJoCo task, a Box2D task and randbench's Go1, and embedded in a
report that headless Chromium shows."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image, ImageSequence

from sweeps.run import run
from tests.conftest import TINY, make_config, randbench
from tests.helpers.browser import probe_html

# End-to-end: `make test` leaves this module out (`make test-slow` and CI run it).
pytestmark = pytest.mark.slow

# (task, gymnasium id, episodes per clip)
TASKS = [("hopper", "Hopper-v5", 2), ("lunarlander", "LunarLanderContinuous-v3", 1), ("go1", "randbench/Go1-v0", 1)]
MAX_STEPS = 24


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A tiny PPO run (1000 env steps) on each task; on Hopper and Go1 with normalized observations."""
    root = tmp_path_factory.mktemp("video_runs")
    for env, _, _ in TASKS:
        result = run(make_config(
            "algo=ppo", f"env={env}", "budget=1000", "eval.freq=1000", "eval.n_episodes=1",
            f"output.root={root}", "progress=false", *TINY["ppo"],
        ))
        assert result.status == "completed"
    return root / "default"


@pytest.mark.parametrize("env,env_id,episodes", TASKS)
def test_video_writes_mp4_and_gif_of_the_final_policy(runs, env, env_id, episodes):
    run_dir = runs / env / "ppo" / "seed0"
    done = randbench(["video", str(run_dir), "--max-steps", str(MAX_STEPS), "--episodes", str(episodes)])
    assert done.returncode == 0, done.stderr
    folder = run_dir / "video"
    info = json.loads((folder / "video.json").read_text())
    assert info["env_id"] == env_id and info["deterministic"] and info["gl"] == "egl"
    assert info["normalization"] == (run_dir / "vecnormalize.pkl").is_file()
    assert info["normalization"] or env == "lunarlander"  # Go1 and zoo-tuned PPO on Hopper normalize
    assert len(info["episodes"]) == episodes
    assert all(1 <= e["length"] <= MAX_STEPS for e in info["episodes"])
    # the reset state, then one frame per env step, per episode
    frames = sum(e["length"] + 1 for e in info["episodes"])
    assert info["frames"] == frames

    mp4 = folder / "policy.mp4"
    assert mp4.stat().st_size > 1000 and mp4.read_bytes()[4:8] == b"ftyp"
    reader = imageio.get_reader(mp4, format="FFMPEG")
    assert reader.count_frames() == frames
    assert reader.get_meta_data()["fps"] == pytest.approx(info["fps"])
    reader.close()

    gif = Image.open(folder / "policy.gif")
    stride = max(1, round(info["fps"] / 12.5))
    assert info["gif_stride"] == stride
    assert gif.n_frames == info["gif_frames"] == math.ceil(frames / stride)
    assert gif.size == (200, info["gif_height"]) and gif.info.get("loop") == 0
    pictures = [np.asarray(f.convert("RGB"), dtype=float) for f in ImageSequence.Iterator(gif)]
    assert all(p[:-2].std() > 5 for p in pictures)  # a scene, not a blank (black) frame
    assert all(p[-1, 0].tolist() == [214, 39, 40] for p in pictures)  # the progress bar starts red
    assert pictures[-1][-1, -1].tolist() == [214, 39, 40]  # and is full on the last frame
    assert "wrote" in done.stdout and f"{frames} frames" in done.stdout


def test_report_with_videos_embeds_the_best_seed_clips_and_renders_in_chromium(runs):
    out = runs.parent / "report"
    done = randbench(["report", str(runs), "--out", str(out), "--videos", "--video-steps", str(MAX_STEPS),
                      "--reps", "100"], timeout=900)
    assert done.returncode == 0, done.stderr
    assert "collecting videos" in done.stdout and "3 clip(s)" in done.stdout
    for env, _, _ in TASKS:
        gif, mp4 = out / "videos" / f"{env}__ppo.gif", out / "videos" / f"{env}__ppo.mp4"
        assert gif.read_bytes() == (runs / env / "ppo" / "seed0" / "video" / "policy.gif").read_bytes()
        assert mp4.stat().st_size > 1000
    markdown = (out / "report.md").read_text()
    assert "## Videos" in markdown and "![hopper: ppo, seed 0](videos/hopper__ppo.gif)" in markdown
    page = (out / "report.html").read_text()
    embedded = [part.split('"', 1)[0] for part in page.split('src="data:image/gif;base64,')[1:]]
    assert len(embedded) == 3
    assert (out / "videos" / "go1__ppo.gif").read_bytes() in {base64.b64decode(e) for e in embedded}
    rendered = probe_html(out / "report.html")
    assert "Videos" in rendered["headings"]
    gifs = [(w, h) for s, w, h in zip(rendered["sources"], rendered["widths"], rendered["heights"])
            if s.startswith("data:image/gif")]
    assert len(gifs) == 3 and all(w == 200 and h > 0 for w, h in gifs)


def test_video_refuses_bad_input_with_what_is_accepted(runs, tmp_path):
    missing = randbench(["video", str(tmp_path / "nowhere")])
    assert missing.returncode == 2 and "does not exist or is not a directory" in missing.stderr
    (tmp_path / "config.yaml").write_text("seed: 0\n")
    no_model = randbench(["video", str(tmp_path)])
    assert no_model.returncode == 2 and "model.zip is missing; expected a completed run folder" in no_model.stderr
    steps = randbench(["video", str(runs / "hopper" / "ppo" / "seed0"), "--max-steps", "0"])
    assert steps.returncode == 2 and "--max-steps: 0 must be >= 1" in steps.stderr
    gl = randbench(["video", str(runs / "hopper" / "ppo" / "seed0"), "--gl", "vulkan"])
    assert gl.returncode == 2 and "invalid choice: 'vulkan'" in gl.stderr
    report = randbench(["report", str(runs), "--video-steps", "10"])
    assert report.returncode == 2 and "--video-steps is a setting of --videos" in report.stderr


def test_report_clip_is_the_best_seed_and_a_run_without_model_is_named(tmp_path):
    from analysis.analyze import analyze
    from analysis.report import write_report
    from analysis.videos import best_runs, collect_clips
    from tests.helpers.synthetic_runs import write_run

    write_run(tmp_path, "pendulum", "ppo", 0, [1000, 2000, 3000], [-1000.0, -900.0, -800.0])
    write_run(tmp_path, "pendulum", "ppo", 1, [1000, 2000, 3000], [-600.0, -300.0, -300.0])
    write_run(tmp_path, "pendulum", "ppo", 2, [1000, 2000, 3000], [-600.0, -300.0, -300.0])  # a tie: seed 1
    result = analyze(tmp_path, reps=100)
    [best] = list(best_runs(result).itertuples())
    assert (best.env, best.algo, best.seed) == ("pendulum", "ppo", 1)
    clips, missing = collect_clips(result, max_steps=10)
    assert clips == [] and "model.zip is missing" in missing[("pendulum", "ppo")]
    files = write_report(result, tmp_path / "report", clips=clips, clips_missing=missing)
    text = files.markdown.read_text()
    assert "## Videos" in text and "No clip: " in text and "model.zip is missing" in text
