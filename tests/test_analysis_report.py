"""`randbench report` on a synthetic sweep: every figure, both report files, their content, and
the HTML as headless Chromium renders it."""

import base64
import contextlib
import io
import re
from pathlib import Path

import matplotlib.image
import pytest

from analysis.analyze import analyze
from analysis.cli import report_main
from analysis.figures import FIGURE_FORMATS, FIGURES
from analysis.palette import algo_palette
from tests.helpers.browser import probe_html
from tests.helpers.synthetic_runs import write_run, write_sweep

# End-to-end: `make test` leaves this module out (`make test-slow` and CI run it).
pytestmark = pytest.mark.slow

REPS = 200


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    """A sweep of 2 envs x 3 algorithms x 2 seeds, a failed and a diverged run, and a run folder
    whose metrics.csv was cut; reported with a threshold at 0.8 of the best return."""
    root = tmp_path_factory.mktemp("runs")
    sweep = write_sweep(root, seeds=(0, 1))
    damaged = write_run(root, "hopper", "ppo", 7, [1000, 2000], [10.0, 20.0])
    text = (damaged / "metrics.csv").read_text()
    (damaged / "metrics.csv").write_text(text[:-25])
    out = root / "out"
    return sweep, out, damaged


@pytest.fixture(scope="module")
def written(report) -> tuple[int, str]:
    """The exit status and printed lines of `randbench report` on that sweep."""
    sweep, out, _ = report
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = report_main(
            [str(sweep), "--out", str(out), "--threshold-fraction", "0.8", "--reps", str(REPS)]
        )
    return status, stdout.getvalue()


def test_cli_prints_progress_and_where(report, written):
    sweep, out, damaged = report
    status, stdout = written
    assert status == 0
    assert f"loading runs from {sweep}" in stdout
    assert "12 completed" in stdout and "1 damaged run folder(s) skipped" in stdout
    assert str(damaged / "metrics.csv") in stdout  # the damaged run is named while loading
    assert f"open {out / 'report.html'}" in stdout


def test_every_figure_as_png_and_svg(report, written):
    _, out, _ = report
    for name in FIGURES:
        for fmt in FIGURE_FORMATS:
            path = out / "figures" / f"{name}.{fmt}"
            assert path.is_file() and path.stat().st_size > 5000, path
        image = matplotlib.image.imread(out / "figures" / f"{name}.png")
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert (out / "figures" / f"{name}.svg").read_text().lstrip().startswith("<?xml")


def test_markdown_report_content(report, written):
    _sweep, out, damaged = report
    text = (out / "report.md").read_text()
    for heading in [
        "## At a glance",
        "## The paper's claim beside the measurement",
        "## What was run",
        "### Final return",
        "### Train wall-clock to the budget (s)",
        "### Training FPS",
        "### Timesteps to threshold",
        "### Speedup table: wall-clock relative to PPO",
        "### Speedup table: wall-clock relative to RANDPOL",
        "### Parameters",
        "### Across tasks (rliable)",
        "## Runs not in the tables",
    ]:
        assert heading in text
    for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (out / link).is_file()
    assert len(re.findall(r"!\[", text)) == len(FIGURES)
    # failures with their error text, the damaged folder with its file
    assert "RuntimeError: CUDA error: boom" in text and "non-finite train/value_loss" in text
    assert f"`{damaged}`: `metrics.csv` is truncated" in text
    # hardware and versions from meta.json
    assert "Test CPU @ 3.0GHz" in text
    assert "CPU calibration (float32 matmul, GFLOP/s): not recorded" in text  # meta.json has none
    assert re.search(r"\| python +\| torch +\| stable-baselines3 +\|", text)
    assert "different package versions" not in text
    assert "3,000 / 700,000" in text  # randpol trainable / total


def test_report_numbers_are_the_library_numbers(report, written):
    sweep, out, _ = report
    text = (out / "report.md").read_text()
    result = analyze(sweep, threshold_fraction=0.8, reps=REPS)
    final = result.seed_aggregates.set_index(["env", "algo", "metric"]).loc[("hopper", "ppo", "final_return")]
    assert f"{final['mean']:,.0f} [{final['ci_low']:,.0f}, {final['ci_high']:,.0f}]" in text
    speedup = result.level_time_ratios["randpol"].set_index(["env", "algo"]).loc[("hopper", "ppo")]
    assert f"PPO / RANDPOL train seconds to a held PPO-level = {speedup['ratio']:.2f}x" in text
    level = result.levels["hopper"]
    assert f"PPO-level {level:,.0f}" in text
    iqm = result.aggregates.set_index(["algo", "metric"]).loc[("randpol", "IQM")]
    assert f"{iqm['estimate']:.3f} [{iqm['ci_low']:.3f}, {iqm['ci_high']:.3f}]" in text
    # a2c never reaches 0.8 of the best return in this sweep: "not reached" is a value
    assert "not reached (0/2)" in text


def test_html_is_self_contained(report, written):
    _, out, _ = report
    page = (out / "report.html").read_text()
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == len(FIGURES)
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r'(src|href)="(https?:|file:|figures/)', page)
    # the embedded images are the written PNG files
    embedded = {base64.b64decode(src.split(",", 1)[1]) for src in sources}
    assert (out / "figures" / "fps.png").read_bytes() in embedded


def test_html_renders_in_headless_chromium(report, written):
    _, out, _ = report
    rendered = probe_html(out / "report.html")
    assert len(rendered["widths"]) == len(FIGURES)
    assert all(width > 0 for width in rendered["widths"]) and all(h > 0 for h in rendered["heights"])
    assert rendered["tables"] >= 15 and rendered["table_rows"] > 60
    assert rendered["headings"][:5] == [
        "At a glance",
        "The paper's claim beside the measurement",
        "Against PPO-level",
        "What was run",
        "Results",
    ]


def test_failed_report_keeps_the_previous_one(report, written, monkeypatch):
    sweep, out, _ = report
    before = (out / "report.html").read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr("analysis.report.paper_figures", broken)
    with pytest.raises(RuntimeError, match="figure failed"):
        report_main([str(sweep), "--out", str(out), "--reps", str(REPS)])
    assert (out / "report.html").read_bytes() == before


def test_bad_arguments_are_refused(report, capsys):
    sweep, _, _ = report
    with pytest.raises(SystemExit) as caught:
        report_main([str(sweep), "--threshold-fraction", "1.5"])
    assert caught.value.code == 2 and "expected a number in (0, 1]" in capsys.readouterr().err


def test_palette_is_fixed_per_algorithm():
    assert algo_palette(["ppo", "randpol"]) == {"randpol": "#d62728", "ppo": "#1f77b4"}
    assert algo_palette(["a2c", "ppo", "randpol"])["ppo"] == algo_palette(["ppo"])["ppo"]
    assert algo_palette(["my_algo"])["my_algo"] == algo_palette(["my_algo", "ppo"])["my_algo"]


def test_single_algorithm_says_which_figure_cannot_be_drawn(tmp_path: Path):
    import matplotlib.pyplot as plt

    from analysis.figures import paper_figures
    from analysis.report import build_markdown

    for seed in (0, 1):
        write_run(tmp_path, "pendulum", "ppo", seed, [500, 1000, 1500], [-900 - seed, -700, -500 + seed])
    result = analyze(tmp_path, reps=100)
    figures = paper_figures(result)
    missing = {name: fig for name, fig in figures.items() if isinstance(fig, str)}
    assert list(missing) == ["probability_of_improvement"]
    assert "two algorithms" in missing["probability_of_improvement"]
    plt.close("all")
    text = build_markdown(result, lambda name: None if name in missing else f"figures/{name}.png", missing)
    assert "Not drawn: needs at least two algorithms" in text
    assert "Not measured: these runs have no completed run of randpol." in text


def test_runs_calibrated_apart_are_flagged_as_different_machines(tmp_path: Path):
    """Two virtual machines can report the same CPU model and differ 2x in speed: the matmul
    calibration in meta.json (sweeps.meta.cpu_gflops) tells them apart."""
    import json

    from analysis.report import build_markdown

    for seed, gflops in ((0, 40.0), (1, 90.0)):
        for algo in ("ppo", "randpol"):
            folder = write_run(tmp_path, "pendulum", algo, seed, [500, 1000, 1500], [-900, -700, -500 + seed])
            meta = json.loads((folder / "meta.json").read_text())
            meta["host"] |= {"cpu_capability": "AVX2", "cpu_gflops": gflops}
            (folder / "meta.json").write_text(json.dumps(meta))
    text = build_markdown(analyze(tmp_path, reps=100), lambda name: None, {})
    assert "torch kernels: AVX2" in text
    assert "median 65.0, range 40.0-90.0 over 4 runs" in text
    assert "different machines (matmul calibrations 2.25x apart)" in text
    # the same machine: no warning
    for folder in tmp_path.glob("*/*/*/seed*"):
        meta = json.loads((folder / "meta.json").read_text())
        meta["host"]["cpu_gflops"] = 60.0
        (folder / "meta.json").write_text(json.dumps(meta))
    assert "come from different machines" not in build_markdown(analyze(tmp_path, reps=100), lambda name: None, {})


def test_tables_pivot_algorithms_by_env_and_say_which_pairs_were_not_run():
    import pandas as pd

    from analysis.report import _lookup, _pivot

    frame = pd.DataFrame(
        {"algo": ["ppo", "ppo", "randpol", "ppo"], "env": ["hopper", "lunarlander", "hopper", "hopper"],
         "value": [1.0, 2.0, 3.0, 99.0]}
    )
    table = _pivot(frame, lambda row: f"{row['value']:g}", ["randpol", "ppo", "sac"], ["lunarlander", "hopper"])
    lines = [line.replace(" ", "") for line in table.splitlines()]
    # rows and columns in the order asked; the first row of a pair counts; a pair without one is "not run"
    assert lines[0] == "|algorithm|lunarlander|hopper|"
    assert lines[2:] == ["|randpol|notrun|3|", "|ppo|2|1|", "|sac|notrun|notrun|"]
    find = _lookup(frame, "env", "algo")
    assert find("hopper", "ppo")["value"] == 1.0 and find("hopper", "sac") is None
