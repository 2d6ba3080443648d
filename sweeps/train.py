"""``randbench train``: the Hydra app that runs one training run per job.

    randbench train algo=ppo env=hopper seed=0
    randbench train -m algo=ppo,a2c env=lunarlander seed=0,1,2 hydra/launcher=local
    randbench train -m +sweep=demo
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


class ExitStatus(SystemExit):
    """An exit status chosen by randbench; Hydra's own refusals exit through a plain ``SystemExit(1)``.

    ``randbench train`` (sweeps/cli.py) turns the latter into exit status 2 (refused input).
    """


# Per worker process of a joblib sweep: the sweep process that started it, and whether a job of
# this worker was interrupted (then it takes no further job).
_WORKER: dict[str, Any] = {"parent": None, "interrupted": False}


def _sweep_parent(hydra_cfg: Any) -> int | None:
    """The PID of the sweep process when this job runs in a joblib worker, else None.

    Taken at the worker's first job; a worker whose parent is already init (PID 1) was orphaned
    before it started and gets 0, which no live parent has.
    """
    import multiprocessing

    launcher = str(hydra_cfg.launcher.get("_target_", "")) if hydra_cfg.get("launcher") else ""
    if "joblib" not in launcher.lower() or multiprocessing.current_process().name == "MainProcess":
        return None  # the basic launcher (or a one-job joblib run) works in the sweep process itself
    if _WORKER["parent"] is None:
        parent = os.getppid()
        _WORKER["parent"] = 0 if parent == 1 else parent
    return _WORKER["parent"]


def _exit_if_orphaned(parent_pid: int | None) -> None:
    """End this worker process when the sweep process that started it is gone: no one is left to
    take its result, and an idle worker would otherwise linger until loky's idle timeout."""
    if parent_pid is not None and os.getppid() != parent_pid:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)


@hydra.main(config_path=CONFIG_DIR, config_name="config", version_base=None)
def train(cfg: DictConfig) -> str:
    """Run one job; in a multirun a failed job is reported and the sweep goes on.

    Exit status of a single run: 0 completed or skipped, 1 failed or diverged, 2 refused input
    (nothing written; the reason on stderr), 130 interrupted (SIGINT or SIGTERM). A multirun's
    jobs are all checked before the first one trains, and its exit status is set by the sweep
    summary (sweeps/hydra_callbacks.py).
    """
    # Imported here, not with the module: `randbench train --help` need not load torch and SB3.
    from sweeps.run import run

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    parent_pid = _sweep_parent(hydra_cfg)
    if parent_pid is not None and (_WORKER["interrupted"] or os.getppid() != parent_pid):
        # A worker whose sweep was interrupted, or whose sweep process is gone, takes no further job.
        print(f"randbench train: not starting {cfg.env.name}/{cfg.algo_label}/seed{cfg.seed}: the sweep "
              "was interrupted", file=sys.stderr, flush=True)
        _exit_if_orphaned(parent_pid)
        return "interrupted"
    try:
        result = run(cfg, parent_pid=parent_pid)
    except ValueError as error:
        print(f"randbench train: error: {error}", file=sys.stderr, flush=True)
        if multirun:
            return "invalid"
        raise ExitStatus(2) from None
    except KeyboardInterrupt:  # recorded as interrupted in meta.json; stop the whole sweep
        _WORKER["interrupted"] = True
        print("randbench train: interrupted", file=sys.stderr, flush=True)
        _exit_if_orphaned(parent_pid)
        raise ExitStatus(130) from None
    except Exception:  # noqa: BLE001 - a defect of randbench, not of the input: report it whole
        traceback.print_exc()
        if multirun:
            return "failed"
        raise ExitStatus(1) from None
    if result.status in ("failed", "diverged") and not multirun:
        reason = (result.error or "").strip().splitlines()
        print(f"randbench train: run {result.status}" + (f" ({reason[-1]})" if reason else "")
              + f": see {result.run_dir / 'meta.json'}", file=sys.stderr)
        raise ExitStatus(1)
    return result.status
