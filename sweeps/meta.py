"""What ``meta.json`` records about a run: versions, host, git commit, parameter counts."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from stable_baselines3.common.base_class import BaseAlgorithm

PACKAGES = ("torch", "stable-baselines3", "sb3-contrib", "gymnasium", "mujoco", "numpy", "randbench")
REPO_ROOT = Path(__file__).resolve().parent.parent


def versions() -> dict[str, str | None]:
    """Installed versions of the packages that decide a run's numbers (plus Python's)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str | None:
    """The commit of the randbench checkout, with ``-dirty`` if it has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


CALIBRATION_SIZE = 256  # float32 matrices: the size of an MLP layer's matmul over a minibatch
_SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu_gflops(size: int = CALIBRATION_SIZE, repeats: int = 20, timings: int = 5) -> float:
    """A calibration of this CPU for the run's wall-clock: float32 matmul speed in GFLOP/s.

    ``repeats`` products of two ``size x size`` matrices in torch on this process's threads, timed
    ``timings`` times; the best timing counts (the least disturbed). About 0.1 s. Two virtual
    machines that report the same CPU model can differ by 2x here (one with AVX-512, one without),
    and then so do the train times of the same config: the report warns when runs that it
    compares were calibrated apart.

    :return: ``2 * size**3 * repeats / seconds / 1e9``
    """
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    b = torch.randn(size, size, generator=torch.Generator().manual_seed(1))
    torch.mm(a, b)  # warm-up
    best = float("inf")
    for _ in range(timings):
        start = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeats / best / 1e9


def host() -> dict[str, Any]:
    """CPU model, its SIMD extensions and torch's kernel level, core count, torch threads, and a
    matmul calibration (:func:`cpu_gflops`)."""
    try:
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        first_cpu = ""
    fields = {key.strip(): value.strip() for key, _, value in (line.partition(":") for line in first_cpu.splitlines())}
    cpu = fields.get("model name") or platform.processor() or None
    flags = [flag for flag in _SIMD_FLAGS if flag in fields["flags"].split()] if "flags" in fields else None
    return {
        "hostname": platform.node(),
        "cpu_model": cpu,
        "cpu_flags": flags,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # torch's kernels: AVX2, AVX512, ...
        "cpu_gflops": round(cpu_gflops(), 2),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }


def slurm_job() -> dict[str, Any] | None:
    """The Slurm job this process runs in (from Slurm's environment variables), or None outside one.

    ``restart_count`` counts the requeues of the job (0 for its first start); ``array_job_id`` and
    ``array_task_id`` are set for a job of an array, as hydra/launcher=slurm submits a sweep.
    """
    job_id = os.environ.get("SLURM_JOB_ID")
    if not job_id:
        return None
    names = {"array_job_id": "SLURM_ARRAY_JOB_ID", "array_task_id": "SLURM_ARRAY_TASK_ID",
             "restart_count": "SLURM_RESTART_COUNT", "partition": "SLURM_JOB_PARTITION"}
    found: dict[str, Any] = {"job_id": job_id}
    for key, variable in names.items():
        value = os.environ.get(variable)
        found[key] = int(value) if value is not None and value.isdigit() else value
    found["restart_count"] = found["restart_count"] or 0
    return found


def parameter_counts(model: BaseAlgorithm) -> dict[str, int]:
    """Total and trainable parameter counts of an algorithm's policy.

    An algorithm may define ``parameter_counts() -> {"total": int, "trainable": int}`` (RANDPOL's
    random layers are buffers, ES policies have no gradients). Otherwise: ``total`` counts every
    parameter and floating-point buffer of the policy, except target networks (copies, not
    model capacity); ``trainable`` counts the parameters with ``requires_grad``.
    """
    own = getattr(model, "parameter_counts", None)
    if callable(own):
        counts = own()
        return {"total": int(counts["total"]), "trainable": int(counts["trainable"])}
    total = trainable = 0
    for name, parameter in model.policy.named_parameters():
        if "_target" in name:
            continue
        total += parameter.numel()
        trainable += parameter.numel() if parameter.requires_grad else 0
    for name, buffer in model.policy.named_buffers():
        if "_target" not in name and buffer.is_floating_point():
            total += buffer.numel()
    return {"total": total, "trainable": trainable}


def config_digest(config_yaml: str) -> str:
    """SHA-256 of the resolved config text (identical configs give identical digests)."""
    return hashlib.sha256(config_yaml.encode()).hexdigest()
