"""The analysis on real short runs made by the harness (`randbench train`), report included."""

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.analyze import analyze
from analysis.cli import report_main
from analysis.figures import FIGURES
from tests.helpers.browser import probe_html

# End-to-end: `make test` leaves this module out (`make test-slow` and CI run it).
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
# Short rollouts so that every run has several evaluation points within the 2,048-step budget.
TRAIN = [
    "-m",
    "algo=ppo,a2c",
    "env=pendulum",
    "seed=0,1",
    "budget=2048",
    "eval.freq=512",
    "eval.n_episodes=2",
    "algo.model.n_steps=64",
    "progress=false",
    "sweep_name=t",
]


def randbench() -> str:
    """The `randbench` console script of this interpreter's environment."""
    beside = Path(sys.executable).parent / "randbench"
    found = str(beside) if beside.is_file() else shutil.which("randbench")
    if found is None:
        raise FileNotFoundError("the randbench console script is not installed: pip install -e .")
    return found


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ppo and a2c on pendulum, 2 seeds, 2,048 env steps each, trained by the harness."""
    root = tmp_path_factory.mktemp("harness")
    result = subprocess.run(
        [randbench(), "train", *TRAIN, f"output.root={root}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / "t"


def read_csv(path: Path) -> list[dict[str, float]]:
    with path.open() as handle:
        return [
            {k: float(v) if v else float("nan") for k, v in row.items()} for row in csv.DictReader(handle)
        ]


def test_metrics_of_real_runs(real_runs: Path):
    result = analyze(real_runs, reps=200)
    assert len(result.run_metrics) == 4 and not result.problems
    assert result.thresholds == {"pendulum": -200.0}  # conf/env/pendulum.yaml
    for row in result.run_metrics.itertuples():
        rows = read_csv(Path(result.runs.runs.set_index("run_id").loc[row.run_id, "path"]) / "metrics.csv")
        returns = [r["eval_return_mean"] for r in rows]
        assert len(rows) >= 3
        assert row.final_return == pytest.approx(np.mean(returns[-3:]))
        assert row.timesteps == rows[-1]["timesteps"] >= 2048
        assert 0 < row.train_time_to_budget_s <= rows[-1]["train_time_s"]
        assert row.median_fps == pytest.approx(np.median([r["fps"] for r in rows]))
        assert bool(row.reached) == any(r >= -200.0 for r in returns)
        assert 0 < row.params_trainable <= row.params_total
    # the seeds' CI brackets their mean
    fps = result.seed_aggregates.set_index(["algo", "metric"]).loc[("ppo", "median_fps")]
    assert fps["ci_low"] <= fps["mean"] <= fps["ci_high"]


def test_report_of_real_runs(real_runs: Path, capsys):
    assert report_main([str(real_runs), "--reps", "200"]) == 0
    out = real_runs / "report"  # the default output folder
    assert f"open {out / 'report.html'}" in capsys.readouterr().out
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").stat().st_size > 0
        assert (out / "figures" / f"{name}.svg").stat().st_size > 0
    text = (out / "report.md").read_text()
    assert "Not measured: these runs have no completed run of randpol." in text
    assert "Every run folder completed and was read." in text
    rendered = probe_html(out / "report.html")
    assert len(rendered["widths"]) == len(FIGURES) and all(w > 0 for w in rendered["widths"])
    assert rendered["tables"] >= 10
