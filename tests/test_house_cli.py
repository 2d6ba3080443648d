"""The command line answers help and refused input without loading the heavy libraries."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

HEAVY = ("torch", "stable_baselines3", "pandas", "matplotlib", "seaborn", "rliable")


def _modules_loaded_by(code: str) -> list[str]:
    probe = f"""
import sys
try:
{chr(10).join('    ' + line for line in code.strip().splitlines())}
except SystemExit:
    pass
print(sorted(m for m in {HEAVY!r} if m in sys.modules))
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])


def test_importing_the_report_command_loads_no_plotting_or_tables():
    assert _modules_loaded_by("import analysis.cli") == []
    assert _modules_loaded_by("import analysis") == []


def test_help_of_every_command_loads_no_heavy_library():
    for args in (["--help"], ["train", "--help"], ["report", "--help"], ["video", "--help"], ["regress", "--help"]):
        assert _modules_loaded_by(f"from sweeps.cli import main\nmain({args!r})") == [], args


def test_a_refused_report_argument_loads_no_heavy_library():
    assert _modules_loaded_by("from sweeps.cli import main\nmain(['report', 'results', '--reps', 'zero'])") == []


def test_the_package_exports_still_resolve():
    import analysis

    assert analysis.analyze.__module__ == "analysis.analyze"
    assert analysis.write_report.__module__ == "analysis.report"
