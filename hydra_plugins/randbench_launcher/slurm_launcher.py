"""randbench's Slurm launcher: hydra-submitit-launcher's, waiting for every job of a sweep.

``hydra/launcher=slurm`` (conf/hydra/launcher/slurm.yaml) submits one Slurm job per run as a job
array, as hydra-submitit-launcher's ``SlurmLauncher`` does, with one difference: the plugin returns
``[job.results()[0] for job in jobs]``, so the first job that ends without a result (``scancel``,
a node failure, a job killed for memory) raises submitit's ``UncompletedJobError`` while the other
jobs still run, and the sweep ends without its summary. This launcher waits for every job, reports
each one that ended without a result on stderr (its Slurm job id, its overrides and submitit's
reason), and hands Hydra a result for every job, so that the sweep summary
(``sweeps.hydra_callbacks.SweepGuard``) names each run with the status its run folder records
and sets the exit status (1 unless every run completed).

A cancelled job still needs Slurm accounting (slurmdbd) to be seen as ended: without it, submitit
cannot look the job up (sacct fails) and waits for it forever.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as SubmititSlurmLauncher
from omegaconf import OmegaConf

log = logging.getLogger(__name__)

# hydra-submitit-launcher's own keys, passed to the executor's constructor (not to sbatch).
_INIT_KEYS = ("max_num_timeout",)


class SlurmLauncher(SubmititSlurmLauncher):
    """hydra-submitit-launcher's ``SlurmLauncher`` with one result per job, whatever became of it.

    The executor is built as the plugin builds it (hydra-submitit-launcher 1.2,
    ``BaseSubmititLauncher.launch``); each job's ``__call__`` (and ``checkpoint``, which requeues a
    timed-out or pre-empted job) is the plugin's.
    """

    def _executor(self) -> Any:
        import submitit

        params = dict(self.params)
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR,
            folder=params.pop("submitit_folder"),
            **{f"{self._EXECUTOR}_{key}": params.pop(key) for key in _INIT_KEYS if key in params},
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{key if key in shared else f"{self._EXECUTOR}_{key}": value for key, value in params.items()}
        )
        return executor

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        """Submit the jobs as one array, wait for all of them, return one :class:`JobReturn` each.

        A job that ended without a result is returned as completed with the value
        ``"ended without a result"``: the run folder, not Hydra, says what became of the run.
        """
        assert self.config is not None
        if not job_overrides:
            return []
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params = []
        for offset, overrides in enumerate(job_overrides):
            index = initial_job_idx + offset
            log.info(f"\t#{index} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", index, f"job_id_for_{index}",
                               Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params, strict=True))
        return [self._result(job, overrides) for job, overrides in zip(jobs, job_overrides, strict=True)]

    @staticmethod
    def _result(job: Any, overrides: Sequence[str]) -> JobReturn:
        """The job's own result, or, when it ended without one, a stand-in that Hydra accepts."""
        from submitit.core.utils import UncompletedJobError

        try:
            return job.results()[0]
        except UncompletedJobError as error:
            reason = next((line for line in str(error).splitlines() if line.strip()), type(error).__name__)
            print(f"randbench train: Slurm job {job.job_id} ({' '.join(filter_overrides(overrides))}) ended "
                  f"without a result: {reason.strip()}", file=sys.stderr, flush=True)
            return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED,
                             _return_value="ended without a result")
