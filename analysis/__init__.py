"""randbench analysis: run folders -> tidy tables -> metrics -> figures -> reports.

Reads only files on disk (the run folder contract of docs/design.md); never imports ``sweeps``.

    from analysis import analyze, write_report
    result = analyze("results/runs/demo")
    write_report(result, "results/runs/demo/report")
"""

import importlib
import sys
import types
from typing import Any

# Imported on first use (PEP 562), not with the package: ``analysis.cli`` must answer ``--help``
# without loading pandas, matplotlib, seaborn and rliable.
_EXPORTS = {
    "Analysis": "analysis.analyze",
    "NoCompletedRunsError": "analysis.analyze",
    "analyze": "analysis.analyze",
    "Problem": "analysis.load",
    "RunFolderError": "analysis.load",
    "RunSet": "analysis.load",
    "load_run": "analysis.load",
    "load_runs": "analysis.load",
    "algo_palette": "analysis.palette",
    "ReportFiles": "analysis.report",
    "write_report": "analysis.report",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps ``analysis.analyze`` the function: importing the submodule ``analysis.analyze`` sets the
    package attribute of that name to the module, which an eager ``from ... import`` used to undo."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "Analysis",
    "NoCompletedRunsError",
    "Problem",
    "ReportFiles",
    "RunFolderError",
    "RunSet",
    "algo_palette",
    "analyze",
    "load_run",
    "load_runs",
    "write_report",
]
