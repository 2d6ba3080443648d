"""Execute a paper-figure notebook headless against a runs folder.

    python -m analysis.notebooks.run analysis/notebooks/paper_figures.py results/runs/demo

The notebooks are jupytext percent-format ``.py`` files (reviewable diffs); this converts one
with jupytext, runs it with nbclient on a ``python3`` kernel of the running interpreter, and
writes the ``.ipynb`` with its outputs. Needs the ``dev`` extras (jupytext, nbclient, ipykernel).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def inject_parameters(notebook: Any, parameters: Mapping[str, Any]) -> None:
    """Insert a cell assigning ``parameters`` right after the cell tagged ``parameters`` (as
    papermill does), so the notebook's own defaults are overridden.

    :raises ValueError: the notebook has no cell tagged ``parameters``
    """
    import nbformat

    index = next(
        (
            i
            for i, cell in enumerate(notebook.cells)
            if "parameters" in cell.get("metadata", {}).get("tags", [])
        ),
        None,
    )
    if index is None:
        raise ValueError("the notebook has no cell tagged 'parameters' to override")
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(index + 1, cell)


def execute_notebook(
    source: str | Path,
    runs_dir: str | Path,
    output: str | Path | None = None,
    parameters: Mapping[str, Any] | None = None,
    timeout_s: int = 600,
) -> Path:
    """Convert a percent-format notebook, execute it on ``runs_dir`` and write the ``.ipynb``.

    ``RUNS_DIR`` and any other ``parameters`` (e.g. ``THRESHOLD_FRACTION``, ``SEED``, ``REPS``)
    are assigned in a cell inserted after the notebook's parameter cell. The notebook runs with
    the repository root as working directory on a ``python3`` kernel registered, in a temporary
    folder, for this Python interpreter.

    :param source: the ``.py`` notebook
    :param runs_dir: runs folder handed to the notebook
    :param output: the executed ``.ipynb`` (default: ``<runs_dir>/report/<name>.ipynb``)
    :param parameters: more names to assign (values written with ``repr``)
    :param timeout_s: limit per cell, seconds
    :return: the written ``.ipynb``
    :raises FileNotFoundError: ``source`` or ``runs_dir`` does not exist
    :raises nbclient.exceptions.CellExecutionError: a cell raised (the message holds its traceback)
    """
    source, runs_dir = Path(source), Path(runs_dir)
    if not source.is_file():
        raise FileNotFoundError(f"notebook {str(source)!r} does not exist")
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs folder {str(runs_dir)!r} does not exist or is not a directory")
    try:
        import jupytext
        import nbformat
        from ipykernel.kernelspec import install
        from jupyter_client import KernelManager
        from jupyter_client.kernelspec import KernelSpecManager
        from nbclient import NotebookClient
    except ImportError as error:
        raise ImportError(
            f"executing notebooks needs the dev extras ({error.name} is missing): pip install -e '.[dev]'"
        ) from None
    output = Path(output) if output is not None else runs_dir / "report" / f"{source.stem}.ipynb"
    notebook = jupytext.read(source)
    inject_parameters(notebook, {"RUNS_DIR": str(runs_dir.resolve()), **(parameters or {})})
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
        client = NotebookClient(
            notebook,
            km=manager,
            timeout=timeout_s,
            kernel_name="python3",
            resources={"metadata": {"path": str(REPO_ROOT)}},
        )
        client.execute()
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, output)
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
        parameters = (
            {} if args.threshold_fraction is None else {"THRESHOLD_FRACTION": args.threshold_fraction}
        )
        path = execute_notebook(args.notebook, args.runs_dir, args.out, parameters)
    except (FileNotFoundError, ImportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"executed notebook written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
