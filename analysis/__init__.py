"""randbench analysis: run folders -> tidy tables -> metrics -> figures -> reports.

Reads only files on disk (the run folder contract of docs/design.md); never imports ``sweeps``.

    from analysis import analyze, write_report
    result = analyze("results/runs/demo")
    write_report(result, "results/runs/demo/report")
"""

from analysis.analyze import Analysis, NoCompletedRunsError, analyze
from analysis.load import Problem, RunFolderError, RunSet, load_run, load_runs
from analysis.palette import algo_palette
from analysis.report import ReportFiles, write_report

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
