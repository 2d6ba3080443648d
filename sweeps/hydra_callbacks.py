"""Hydra callbacks of the ``randbench train`` app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from sweeps.rundir import check_writable


class OutputRootCheck(Callback):
    """Refuse an ``output.root`` that cannot be written, before Hydra creates any job folder.

    Hydra turns exceptions raised in callbacks into warnings, so the refusal is a clean
    ``SystemExit(2)`` with the reason on stderr.
    """

    def _check(self, config: DictConfig) -> None:
        try:
            check_writable(Path(config.output.root))
        except ValueError as error:
            print(f"randbench train: error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config)
