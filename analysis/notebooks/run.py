"""Execute a paper-figure notebook headless against a runs folder.

    python -m analysis.notebooks.run analysis/notebooks/paper_figures.py results/runs/demo

The notebooks are jupytext percent-format ``.py`` files (reviewable diffs); this converts one
with jupytext and runs it with papermill (its parameters overriding the cell tagged
``parameters``) on a ``python3`` kernel of the running interpreter, and writes the ``.ipynb``
with its outputs. Needs the ``dev`` extras (jupytext, papermill, ipykernel).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def execute_notebook(
    source: str | Path,
    runs_dir: str | Path,
    output: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    timeout_s: int = 600,
) -> Path:
    """Convert a percent-format notebook, execute it on ``runs_dir`` with papermill, write the ``.ipynb``.

    ``RUNS_DIR`` and any other ``parameters`` (e.g. ``THRESHOLD_FRACTION``, ``SEED``, ``REPS``)
    are assigned in the cell papermill inserts after the notebook's parameter cell (tagged
    ``injected-parameters``). The notebook runs with the repository root as working directory on a
    ``python3`` kernel registered, in a temporary folder, for this Python interpreter.

    :param source: the ``.py`` notebook
    :param runs_dir: runs folder handed to the notebook
    :param output: the executed ``.ipynb`` (default: ``<runs_dir>/report/<name>.ipynb``)
    :param parameters: more names to assign
    :param timeout_s: limit per cell, seconds
    :return: the written ``.ipynb``
    :raises FileNotFoundError: ``source`` or ``runs_dir`` does not exist
    :raises papermill.PapermillExecutionError: a cell raised (the message names the cell and the
        exception; the written ``.ipynb`` holds the outputs up to it)
    """
    source, runs_dir = Path(source), Path(runs_dir)
    if not source.is_file():
        raise FileNotFoundError(f"notebook {str(source)!r} does not exist")
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {str(runs_dir)!r} does not exist or is not a directory")
    try:
        import jupytext
        import papermill
        from ipykernel.kernelspec import install
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager
    except ImportError as error:
        raise ImportError(
            f"executing notebooks needs the dev extras ({error.name} is missing): pip install -e '.[dev]'"
        ) from None
    output = Path(output) if output is not None else runs_dir / "report" / f"{source.stem}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as kernels:
        # The kernel must be this interpreter (its packages), whatever "python3" means elsewhere.
        install(prefix=kernels, kernel_name="python3")
        specs = KernelSpecManager(kernel_dirs=[str(Path(kernels, "share", "jupyter", "kernels"))])
        manager = KernelManager(
            kernel_name="python3",
            kernel_spec_manager=specs,
            transport="ipc",
            ip=str(Path(kernels, "kernel-ipc")),
        )
        papermill.execute_notebook(
            jupytext.read(source),
            str(output),
            parameters={"RUNS_DIR": str(runs_dir.resolve()), **(parameters or {})},
            kernel_name="python3",
            language="python",
            cwd=str(REPO_ROOT),
            progress_bar=False,
            execution_timeout=timeout_s,
            km=manager,
        )
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line: NOTEBOOK RUNS_DIR [--out FILE] [--threshold-fraction F]."""
    parser = argparse.ArgumentParser(
        prog="python -m analysis.notebooks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("notebook", type=Path, help="a percent-format .py notebook of analysis/notebooks/")
    parser.add_argument("runs_dir", type=Path, metavar="RUNS_DIR")
    parser.add_argument("--out", type=Path, default=None, help="executed .ipynb (default: RUNS_DIR/report/)")
    parser.add_argument("--threshold-fraction", type=float, default=None)
    args = parser.parse_args(argv)
    try:
        from papermill import PapermillExecutionError as executed_with_error
    except ImportError:  # execute_notebook names the missing extras
        executed_with_error = ()
    try:
        parameters = (
            {} if args.threshold_fraction is None else {"THRESHOLD_FRACTION": args.threshold_fraction}
        )
        path = execute_notebook(args.notebook, args.runs_dir, args.out, parameters)
    except (FileNotFoundError, ValueError) as error:  # bad input
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except executed_with_error as error:
        print(f"error: the notebook failed: {error}", file=sys.stderr)
        return 1
    print(f"executed notebook written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
