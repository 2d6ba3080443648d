"""``randbench video RUN_DIR``: what a run's final policy does, as an MP4 and a small animated GIF.

The run folder's ``model.zip`` acts deterministically in a fresh copy of the run's task (its
``config.yaml``: env id and kwargs), its observations normalized with the run's
``vecnormalize.pkl`` statistics when the folder has one (frozen, as in evaluation). Every env
step is rendered off-screen with ``render_mode="rgb_array"``: MuJoCo tasks (Hopper, Humanoid,
Go1) through EGL by default (``MUJOCO_GL``; ``--gl osmesa`` for Mesa's software renderer),
Box2D tasks (LunarLander, BipedalWalker) through pygame surfaces. No display is needed. MuJoCo
tasks are drawn without shadows and floor reflections unless ``--shadows`` is given (software GL
spends most of a frame on them).

One clip per process: with EGL, a second MuJoCo env made after the first one was closed renders
black frames, so :mod:`analysis.videos` renders each run in a process of its own.

Written to ``RUN_DIR/video/`` (or ``--out``):

- ``policy.mp4``: every frame at the task's ``render_fps`` (H.264 through imageio-ffmpeg, whose
  wheel ships the ffmpeg binary: nothing is downloaded);
- ``policy.gif``: every ``stride``-th frame, ``stride = max(1, round(render_fps / gif_fps))``,
  downscaled to ``gif_width`` pixels, one 128-colour palette for the whole clip (Pillow's GIF
  writer), with a 2-pixel bar along the bottom edge showing how far into the clip the frame is
  (so that no two frames are the same: the writer would merge equal neighbours into one);
- ``video.json``: episodes (return, length), frame counts, frame rates, sizes, render seconds,
  the GL backend and the SHA-256 of the ``model.zip`` it shows (a report re-renders a clip whose
  model changed).

A clip holds ``episodes`` episodes back to back, each cut at ``max_steps`` env steps; an episode
of ``n`` steps gives ``n + 1`` frames (the reset state, then one per step).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from analysis.argtypes import positive_float, positive_int

GL_BACKENDS = ("egl", "osmesa", "glfw")
VIDEO_DIR = "video"
MP4_NAME, GIF_NAME, META_NAME = "policy.mp4", "policy.gif", "video.json"
DEFAULT_MAX_STEPS = 1000
DEFAULT_GIF_WIDTH = 200
DEFAULT_GIF_FPS = 12.5
BAR_PX = 2
BAR_RGB = (214, 39, 40)
# Seed of the rendered episodes' resets, apart from training (seed + i) and evaluation (seed + 10000).
SEED_OFFSET = 20_000


@dataclass(frozen=True)
class VideoFiles:
    """A rendered clip.

    :param mp4: the MP4 file (every frame)
    :param gif: the animated GIF (every ``stride``-th frame, downscaled)
    :param meta: ``video.json``
    :param info: the content of ``video.json``
    """

    mp4: Path
    gif: Path
    meta: Path
    info: dict[str, Any]


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def select_gl(gl: str | None = None) -> str:
    """Choose MuJoCo's OpenGL backend before MuJoCo is imported: ``gl``, else ``$MUJOCO_GL``, else EGL.

    :return: the backend, also set as ``MUJOCO_GL`` (and ``PYOPENGL_PLATFORM`` for EGL and OSMesa).
    :raises ValueError: ``gl`` (or ``$MUJOCO_GL``) is not one of :data:`GL_BACKENDS`.
    """
    backend = (gl or os.environ.get("MUJOCO_GL") or "egl").lower()
    if backend not in GL_BACKENDS:
        raise ValueError(f"OpenGL backend {backend!r} is invalid; expected one of {list(GL_BACKENDS)}")
    os.environ["MUJOCO_GL"] = backend
    if backend in ("egl", "osmesa"):
        os.environ["PYOPENGL_PLATFORM"] = backend
    return backend


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """A completed run folder's resolved config (``config.yaml``), checked to hold a model.

    :raises ValueError: the folder does not exist, lacks ``config.yaml`` or ``model.zip``, or its
        config has no ``env`` and ``algo`` sections.
    """
    import yaml

    if not run_dir.is_dir():
        raise ValueError(f"run folder {str(run_dir)!r} does not exist or is not a directory")
    for name in ("config.yaml", "model.zip"):
        if not (run_dir / name).is_file():
            raise ValueError(
                f"{run_dir / name} is missing; expected a completed run folder (written by `randbench train`) "
                "holding config.yaml and model.zip"
            )
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    sections = config if isinstance(config, dict) else {}
    if not isinstance(sections.get("env"), dict) or not isinstance(sections.get("algo"), dict):
        raise ValueError(  # noqa: TRY004 - a bad run folder is bad input (exit status 2)
            f"{run_dir / 'config.yaml'} has no env and algo sections; expected a run's resolved config"
        )
    return config


def run_identity(run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """What names a run and the model a file derived from it shows: its folder, env id, algorithm
    name and label, seed, and the SHA-256 of its ``model.zip`` (``video.json``, ``final_eval.json``)."""
    return {
        "run_dir": str(run_dir),
        "env_id": config["env"]["id"],
        "algo_name": config["algo"].get("name"),
        "algo_label": config.get("algo_label", config["algo"].get("name")),
        "run_seed": config.get("seed"),
        "model_sha256": file_sha256(run_dir / "model.zip"),
    }


def load_run_model(config: dict[str, Any], path: Path) -> Any:
    """The SB3 model saved at ``path``, loaded on the CPU with the class its run's ``config`` names.

    :raises ValueError: the algorithm is unknown, or the zip cannot be loaded as that class.
    """
    from baselines.registry import ALGORITHMS, get_spec

    name = config["algo"].get("name")
    if name in ALGORITHMS:
        cls = get_spec(name).load_class()
    else:  # an algorithm outside the registry: the class its config built
        import importlib

        target = config["algo"].get("model", {}).get("_target_", "")
        module, _, attribute = target.rpartition(".")
        if not module:
            raise ValueError(f"{path.parent / 'config.yaml'}: algorithm {name!r} is unknown and has no model._target_")
        cls = getattr(importlib.import_module(module), attribute)
    try:
        return cls.load(path, device="cpu")
    except Exception as error:  # noqa: BLE001 - a damaged or foreign zip: bad input, named
        raise ValueError(f"{path} cannot be loaded as a {cls.__name__} model: {type(error).__name__}: {error}") from None


def _drop_shadows_and_reflections(env: Any) -> None:
    """Switch off the shadows and floor reflections of a MuJoCo task's render copy.

    Rendering fields only (``light_castshadow``, ``mat_reflectance``): the physics is unchanged. In
    Mesa's software GL a frame of Go1 at 480 x 480 took about 1.2 s with them and 0.17-0.27 s without
    (Hopper: 0.17 s and 0.07 s), on a loaded 2-core machine.
    """
    model = getattr(env.unwrapped, "model", None)
    if model is None or not hasattr(model, "light_castshadow"):
        return  # not a MuJoCo task
    model.light_castshadow[:] = 0
    model.mat_reflectance[:] = 0


def _downscale(frame: np.ndarray, width: int) -> np.ndarray:
    """``frame`` resized to ``width`` pixels wide, its aspect ratio kept (Lanczos)."""
    from PIL import Image

    height = max(2 * BAR_PX, round(frame.shape[0] * width / frame.shape[1]))
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.Resampling.LANCZOS))


def _with_bar(small: np.ndarray, progress: float) -> Any:
    """A GIF frame as a PIL image: ``small`` with a progress bar (``progress`` in (0, 1]) along its bottom edge."""
    from PIL import Image

    small = small.copy()
    width = small.shape[1]
    small[-BAR_PX:, :] = 255
    small[-BAR_PX:, : max(1, round(progress * width))] = BAR_RGB
    return Image.fromarray(small)


def _write_gif(path: Path, frames: list[Any], duration_ms: float) -> None:
    """An animated GIF with one 128-colour palette for every frame (taken from a mosaic of up to 16
    frames), without dithering, so that still parts of the picture compress between frames."""
    from PIL import Image

    sample = frames[:: max(1, len(frames) // 16)][:16]
    width, height = frames[0].size
    mosaic = Image.new("RGB", (width, height * len(sample)))
    for i, frame in enumerate(sample):
        mosaic.paste(frame, (0, i * height))
    scene = mosaic.quantize(colors=126, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    colors = scene.getpalette()[: 126 * 3]
    colors += [0, 0, 0] * (126 - len(colors) // 3) + [255, 255, 255, *BAR_RGB]  # the bar's colours, exact
    palette = Image.new("P", (1, 1))
    palette.putpalette(colors)
    indexed = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    indexed[0].save(
        path, format="GIF", save_all=True, append_images=indexed[1:], duration=round(duration_ms), loop=0,
        optimize=False, disposal=1,
    )


def render_run(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    episodes: int = 1,
    max_steps: int = DEFAULT_MAX_STEPS,
    seed: int | None = None,
    gif_width: int = DEFAULT_GIF_WIDTH,
    gif_fps: float = DEFAULT_GIF_FPS,
    gl: str | None = None,
    fast: bool = True,
    log: Callable[[str], None] | None = None,
) -> VideoFiles:
    """Render a run's final policy (deterministic) to ``policy.mp4``, ``policy.gif`` and ``video.json``.

    :param run_dir: a run folder with ``config.yaml`` and ``model.zip`` (``vecnormalize.pkl`` used if present)
    :param out_dir: where to write (default ``run_dir/video``)
    :param episodes: episodes in the clip, >= 1
    :param max_steps: env steps after which an episode is cut, >= 1
    :param seed: seed of the first episode's reset (episode ``i`` gets ``seed + i``); default the
        run's seed + 20000
    :param gif_width: GIF width in pixels, >= 16
    :param gif_fps: GIF frame rate in frames per second, > 0 (at most the task's ``render_fps``)
    :param gl: MuJoCo's OpenGL backend (:func:`select_gl`)
    :param fast: render MuJoCo tasks without shadows and reflections (3-7x faster in software GL)
    :param log: callable taking one progress line, or None
    :raises ValueError: on a bad argument or a run folder without ``config.yaml``/``model.zip``
    :raises RuntimeError: when the task cannot be rendered off-screen (the message names the backend)
    """
    say = log or (lambda line: None)
    for name, value, low in (("episodes", episodes, 1), ("max_steps", max_steps, 1), ("gif_width", gif_width, 16)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}={value!r} is invalid; expected an integer >= {low}")
    if not gif_fps > 0:
        raise ValueError(f"gif_fps={gif_fps!r} is invalid; expected frames per second > 0")
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    backend = select_gl(gl)
    started = time.perf_counter()

    import gymnasium as gym
    import imageio.v2 as imageio
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    import envs  # noqa: F401  (registers randbench's own tasks)

    env_cfg = config["env"]
    env_id, kwargs = env_cfg["id"], dict(env_cfg.get("kwargs") or {})
    kwargs["render_mode"] = "rgb_array"
    model = load_run_model(config, run_dir / "model.zip")
    env = gym.make(env_id, **kwargs)
    if fast:
        _drop_shadows_and_reflections(env)
    normalizer = None
    if (run_dir / "vecnormalize.pkl").is_file():
        normalizer = VecNormalize.load(str(run_dir / "vecnormalize.pkl"), DummyVecEnv([lambda: env]))
        normalizer.training = False
    fps = float(env.metadata.get("render_fps") or 30)
    stride = max(1, round(fps / gif_fps))
    first_seed = int(config.get("seed", 0)) + SEED_OFFSET if seed is None else int(seed)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / VIDEO_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    mp4, gif, meta = out_dir / MP4_NAME, out_dir / GIF_NAME, out_dir / META_NAME
    tmp_mp4 = out_dir / f".{MP4_NAME}.tmp.mp4"
    say(f"rendering {env_id} with {run_dir / 'model.zip'} ({backend}), {episodes} episode(s) of <= {max_steps} steps")

    raw: list[np.ndarray] = []  # the GIF's frames (every stride-th), downscaled
    played: list[dict[str, Any]] = []
    n_frames, shape = 0, None
    writer = imageio.get_writer(
        tmp_mp4, format="FFMPEG", fps=fps, codec="libx264", quality=6, macro_block_size=2,
        ffmpeg_log_level="error",
    )
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=first_seed + episode)
            total, steps, ended = 0.0, 0, "max_steps"
            while True:
                try:
                    frame = np.asarray(env.render())
                except Exception as error:  # GL set-up errors come in many types
                    raise RuntimeError(
                        f"cannot render {env_id} off-screen with MUJOCO_GL={backend}: {type(error).__name__}: "
                        f"{error}. Install the rendering libraries (make render-libs) or try --gl osmesa"
                    ) from error
                if shape is None:
                    shape = frame.shape
                writer.append_data(frame)
                if n_frames % stride == 0:
                    raw.append(_downscale(frame, gif_width))
                n_frames += 1
                if steps >= max_steps:
                    break
                policy_obs = normalizer.normalize_obs(obs) if normalizer is not None else obs
                action, _ = model.predict(policy_obs, deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                if terminated or truncated:
                    ended = "terminated" if terminated else "truncated"
                    frame = np.asarray(env.render())
                    writer.append_data(frame)
                    if n_frames % stride == 0:
                        raw.append(_downscale(frame, gif_width))
                    n_frames += 1
                    break
            played.append({"seed": first_seed + episode, "return": total, "length": steps, "ended": ended})
            say(f"  episode {episode + 1}: return {total:.1f} over {steps} steps ({ended})")
    except BaseException:
        writer.close()
        tmp_mp4.unlink(missing_ok=True)
        raise
    finally:
        env.close()
    writer.close()
    tmp_mp4.replace(mp4)
    gif_frames = [_with_bar(f, (i + 1) / len(raw)) for i, f in enumerate(raw)]
    tmp_gif = out_dir / f".{GIF_NAME}.tmp.gif"
    _write_gif(tmp_gif, gif_frames, 1000.0 * stride / fps)
    tmp_gif.replace(gif)
    info = {
        **run_identity(run_dir, config),
        "normalization": normalizer is not None,
        "deterministic": True,
        "episodes": played,
        "max_steps": max_steps,
        "n_episodes": episodes,
        "frames": n_frames,
        "fps": fps,
        "width": int(shape[1]),
        "height": int(shape[0]),
        "gif_frames": len(gif_frames),
        "gif_stride": stride,
        "gif_fps": fps / stride,
        "gif_width": gif_frames[0].size[0],
        "gif_height": gif_frames[0].size[1],
        "mp4_bytes": mp4.stat().st_size,
        "gif_bytes": gif.stat().st_size,
        "gl": backend,
        "fast": fast,
        "render_s": time.perf_counter() - started,
    }
    tmp_meta = out_dir / f".{META_NAME}.tmp"
    tmp_meta.write_text(json.dumps(info, indent=2) + "\n")
    tmp_meta.replace(meta)
    say(
        f"  wrote {mp4} ({n_frames} frames at {fps:g} fps, {info['mp4_bytes'] / 1024:.0f} KiB) and {gif} "
        f"({len(gif_frames)} frames at {fps / stride:g} fps, {info['gif_bytes'] / 1024:.0f} KiB) "
        f"in {info['render_s']:.1f} s"
    )
    return VideoFiles(mp4, gif, meta, info)


def read_video(run_dir: str | Path, **settings: Any) -> dict[str, Any] | None:
    """The ``video.json`` of a run's clip in ``run_dir/video``, if the clip is up to date; else None.

    Up to date: its MP4 and GIF exist, it shows the run's current ``model.zip`` (SHA-256), and each
    of ``settings`` (keys of ``video.json``, e.g. ``max_steps=500``) has the value given.
    """
    folder = Path(run_dir) / VIDEO_DIR
    try:
        info = json.loads((folder / META_NAME).read_text())
    except (OSError, ValueError):
        return None
    model = Path(run_dir) / "model.zip"
    if not (folder / GIF_NAME).is_file() or not (folder / MP4_NAME).is_file() or not model.is_file():
        return None
    if not isinstance(info, dict) or any(info.get(key) != value for key, value in settings.items()):
        return None
    return info if info.get("model_sha256") == file_sha256(model) else None


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``randbench video``."""
    parser = argparse.ArgumentParser(
        prog="randbench video",
        description="Render a run's final policy (deterministic, with its normalization statistics) off-screen "
        "to policy.mp4 and a small animated policy.gif, with video.json beside them.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a completed run folder (holds model.zip)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: RUN_DIR/video)")
    parser.add_argument("--episodes", type=positive_int, default=1, help="episodes in the clip (default: 1)")
    parser.add_argument(
        "--max-steps", type=positive_int, default=DEFAULT_MAX_STEPS, metavar="N",
        help=f"env steps after which an episode is cut (default: {DEFAULT_MAX_STEPS})",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the first episode (default: run seed + 20000)")
    parser.add_argument(
        "--gif-width", type=positive_int, default=DEFAULT_GIF_WIDTH, metavar="PX",
        help=f"GIF width in pixels (default: {DEFAULT_GIF_WIDTH})",
    )
    parser.add_argument(
        "--gif-fps", type=positive_float, default=DEFAULT_GIF_FPS, metavar="F",
        help=f"GIF frames per second (default: {DEFAULT_GIF_FPS:g})",
    )
    parser.add_argument(
        "--shadows", action="store_true",
        help="draw MuJoCo's shadows and floor reflections (3-7x slower in software GL)",
    )
    parser.add_argument(
        "--gl", choices=GL_BACKENDS, default=None,
        help="MuJoCo's OpenGL backend (default: $MUJOCO_GL, else egl; osmesa: Mesa's software renderer)",
    )
    return parser


def video_main(argv: list[str] | None = None) -> int:
    """Run ``randbench video``; returns the exit status (0 written, 1 rendering failed, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        files = render_run(
            args.run_dir, args.out, episodes=args.episodes, max_steps=args.max_steps, seed=args.seed,
            gif_width=args.gif_width, gif_fps=args.gif_fps, gl=args.gl, fast=not args.shadows, log=print,
        )
    except ValueError as error:
        print(f"randbench video: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        print(f"randbench video: {error}", file=sys.stderr)
        return 1
    print(f"video written: {files.mp4}, {files.gif}")
    return 0


if __name__ == "__main__":
    sys.exit(video_main())
