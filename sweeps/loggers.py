"""The training log outputs of a run: ``progress.csv`` always, TensorBoard and W&B on request.

``configure_run_logger(cfg, model, run_dir)`` gives the model one Stable-Baselines3 logger whose
outputs the ``logger`` node of ``conf/config.yaml`` chooses:

- ``progress.csv`` in the run folder (always): the algorithm's own training log, one row per dump.
- ``logger.tensorboard=true``: SB3's TensorBoard writer, its event files
  (``events.out.tfevents.*``) in the run folder, so that ``tensorboard --logdir <sweep folder>``
  shows every run of a sweep as ``<env>/<algo_label>/seed<k>``.
- ``logger.wandb.mode=online|offline``: every scalar SB3 dumps (the keys TensorBoard gets) logged
  to a Weights & Biases run named after the run id (``<sweep>/<env>/<algo_label>/seed<k>``),
  grouped by sweep, its files under ``<run folder>/wandb/``. ``offline`` needs no network or
  account (``wandb sync <run folder>/wandb/offline-run-*`` uploads it later).

The harness's own measurements (evaluation return, train seconds, FPS over the last evaluation
interval; see :mod:`sweeps.recorder`) reach TensorBoard and W&B through :func:`log_harness_scalars`,
at the exact step of each evaluation, under ``eval/`` and ``time/``; ``progress.csv`` stays the
algorithm's log (``metrics.csv`` holds them).

Logging only reads the model: it never changes what an algorithm learns.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.logger import CSVOutputFormat, KVWriter, Logger, TensorBoardOutputFormat

WANDB_MODES = ("disabled", "online", "offline")
# Keys of the harness's scalars (units in the names' documentation, sweeps/recorder.py).
HARNESS_KEYS = (
    "eval/mean_reward",
    "eval/std_reward",
    "eval/min_reward",
    "eval/max_reward",
    "eval/mean_ep_length",
    "time/train_time_s",
    "time/wall_time_s",
    "time/train_fps",
)
TENSORBOARD_GLOB = "events.out.tfevents.*"


def _logger_options(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The run config's ``logger`` node as plain Python, with the defaults of conf/config.yaml for a
    config composed without one."""
    node = cfg.get("logger") if hasattr(cfg, "get") else None
    options = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node or {})
    wandb = options.get("wandb")
    wandb = dict(wandb) if isinstance(wandb, Mapping) else {} if wandb is None else {"mode": wandb}
    return {
        "tensorboard": options.get("tensorboard", False),
        "wandb": {"mode": "disabled", "project": "randbench", "entity": None, "tags": [], **wandb},
    }


def check_logger_config(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """Check the ``logger`` node of a run config; return it as plain Python.

    :param cfg: the run config (``conf/config.yaml``); a config without a ``logger`` node gets
        ``progress.csv`` only.
    :return: ``{"tensorboard": bool, "wandb": {"mode", "project", "entity", "tags"}}``
    :raises ValueError: naming the bad value and what is accepted, or the package an output needs
        when it is not installed (``tensorboard``; ``wandb``, the ``[wandb]`` extra).
    """
    options = _logger_options(cfg)
    if not isinstance(options["tensorboard"], bool):
        # a bad config value, refused as every config check is (ValueError: exit status 2)
        raise ValueError(  # noqa: TRY004
            f"logger.tensorboard={options['tensorboard']!r} is invalid; expected true or false"
        )
    if options["tensorboard"] and importlib.util.find_spec("tensorboard") is None:
        raise ValueError(
            "logger.tensorboard=true needs the tensorboard package, which is not installed: "
            "pip install tensorboard (or pip install -e '.[dev]')"
        )
    wandb = options["wandb"]
    if wandb["mode"] not in WANDB_MODES:
        raise ValueError(f"logger.wandb.mode={wandb['mode']!r} is invalid; expected one of {list(WANDB_MODES)}")
    if not isinstance(wandb["project"], str) or not wandb["project"]:
        raise ValueError(f"logger.wandb.project={wandb['project']!r} is invalid; expected a non-empty name")
    if wandb["entity"] is not None and (not isinstance(wandb["entity"], str) or not wandb["entity"]):
        raise ValueError(f"logger.wandb.entity={wandb['entity']!r} is invalid; expected null or a W&B entity name")
    tags = wandb["tags"]
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise ValueError(f"logger.wandb.tags={tags!r} is invalid; expected a list of strings")
    if wandb["mode"] != "disabled" and importlib.util.find_spec("wandb") is None:
        raise ValueError(
            f"logger.wandb.mode={wandb['mode']} needs the wandb package, which is not installed: "
            "pip install -e '.[wandb]'"
        )
    return options


class WandbOutputFormat(KVWriter):
    """An SB3 logger output that logs each dump to a W&B run at ``step`` = env steps.

    It takes the keys SB3's TensorBoard writer takes: numbers only, and a key excluded from
    ``"tensorboard"`` (or from ``"wandb"``) is left out.

    :param run: an initialized ``wandb`` run; finished by :meth:`close`.
    """

    def __init__(self, run: Any) -> None:
        self.run = run

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, tuple[str, ...]], step: int = 0) -> None:
        """Log the numeric values of one dump at ``step`` (env steps)."""
        data = {}
        for key, value in key_values.items():
            excluded = key_excluded.get(key) or ()
            if "tensorboard" in excluded or "wandb" in excluded:
                continue
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
                continue
            data[key] = float(value)
        if data:
            self.run.log(data, step=int(step))

    def close(self) -> None:
        """Finish the W&B run (writes its summary; in offline mode, the run folder is complete)."""
        if self.run is not None:
            self.run.finish()
            self.run = None


def _wandb_run(cfg: DictConfig, options: Mapping[str, Any], run_dir: Path) -> Any:
    import wandb

    run_id = f"{cfg.sweep_name}/{cfg.env.name}/{cfg.algo_label}/seed{cfg.seed}"
    return wandb.init(
        project=options["project"],
        entity=options["entity"],
        group=str(cfg.sweep_name),
        job_type=str(cfg.algo_label),
        name=run_id,
        tags=list(options["tags"]),
        config=OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg),
        dir=str(run_dir),
        mode=options["mode"],
        # randbench prints its own progress; W&B's process sampler would take CPU from the
        # timed training on a small machine.
        settings=wandb.Settings(console="off", x_disable_stats=True, silent=True),
    )


def configure_run_logger(cfg: DictConfig, model: Any, run_dir: str | Path) -> Logger:
    """Give ``model`` the run's SB3 logger: ``progress.csv`` and the outputs ``cfg.logger`` asks for.

    TensorBoard event files of a previous attempt of this run (which ``randbench train`` restarts
    from step 0) are removed first, as the run's other files are, so that the folder's curves are
    the new attempt's only. A W&B run is started when ``logger.wandb.mode`` is ``online`` or
    ``offline``; ``model.logger.close()`` (at the end of every run, sweeps/run.py) finishes it.

    :param cfg: the run config (``conf/config.yaml``; the ``logger`` node is optional).
    :param model: the SB3 algorithm; its logger is replaced (``model.set_logger``).
    :param run_dir: the run folder, which must exist.
    :return: the logger, also set on ``model``.
    :raises ValueError: on a bad ``logger`` node (see :func:`check_logger_config`), or when W&B
        cannot start its run (e.g. ``online`` without ``wandb login``).
    """
    options = check_logger_config(cfg)
    run_dir = Path(run_dir)
    formats: list[KVWriter] = [CSVOutputFormat(str(run_dir / "progress.csv"))]
    for stale in run_dir.glob(TENSORBOARD_GLOB):  # a previous attempt's, with or without TensorBoard now
        stale.unlink()
    if options["tensorboard"]:
        formats.append(TensorBoardOutputFormat(str(run_dir)))
    if options["wandb"]["mode"] != "disabled":
        try:
            formats.append(WandbOutputFormat(_wandb_run(cfg, options["wandb"], run_dir)))
        except Exception as error:  # noqa: BLE001 - W&B raises its own types (auth, network, settings)
            for output in formats:
                output.close()
            raise ValueError(
                f"logger.wandb.mode={options['wandb']['mode']}: W&B could not start the run: "
                f"{type(error).__name__}: {error} (`wandb login` first, or logger.wandb.mode=offline)"
            ) from None
    logger = Logger(folder=str(run_dir), output_formats=formats)
    model.set_logger(logger)
    return logger


def log_harness_scalars(logger: Logger, values: Mapping[str, float], step: int) -> None:
    """Write the harness's scalars at ``step`` (env steps) to the TensorBoard and W&B outputs of ``logger``.

    Written at once, to the writers directly: the algorithm's pending values (recorded for its
    next dump) are left as they are, so ``progress.csv`` and the algorithm's own rows do not
    change, and each evaluation lands at the step it was made at.

    :param logger: the model's logger (:func:`configure_run_logger`).
    :param values: key -> number, e.g. ``{"eval/mean_reward": 312.5}``.
    :param step: env steps (summed over parallel envs) of the evaluation.
    """
    values = {key: float(value) for key, value in values.items()}
    excluded: dict[str, tuple[str, ...]] = {key: () for key in values}
    for output in logger.output_formats:
        if isinstance(output, (TensorBoardOutputFormat, WandbOutputFormat)):
            output.write(values, excluded, step=int(step))
