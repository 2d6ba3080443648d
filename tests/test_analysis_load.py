"""Loading run folders into tidy tables, and clear messages for bad input."""

import json
from pathlib import Path

import pytest

from analysis.analyze import NoCompletedRunsError, analyze
from analysis.cli import report_main
from analysis.load import METRICS_COLUMNS, RUN_COLUMNS, RunFolderError, load_run, load_runs
from tests.helpers.synthetic_runs import write_run


def two_runs(root: Path) -> tuple[Path, Path]:
    good = write_run(root, "pendulum", "ppo", 0, [500, 1000, 1500], [-900, -700, -500], budget=1500)
    other = write_run(root, "pendulum", "a2c", 0, [500, 1000, 1500], [-1000, -950, -900], budget=1500)
    return good, other


def test_tidy_tables(tmp_path: Path):
    two_runs(tmp_path)
    runs = load_runs(tmp_path)
    assert len(runs.runs) == 2 and not runs.problems
    assert list(runs.curves.columns) == [*RUN_COLUMNS, *METRICS_COLUMNS]
    assert len(runs.curves) == 6  # one row per evaluation point
    ppo = runs.curves[runs.curves["algo"] == "ppo"]
    assert ppo["eval_return_mean"].tolist() == [-900, -700, -500]
    assert set(ppo["run_id"]) == {"t/pendulum/ppo/seed0"} and set(ppo["sweep"]) == {"t"}
    assert set(ppo["env_id"]) == {"Pendulum-v1"} and set(ppo["status"]) == {"completed"}
    row = runs.runs.set_index("algo").loc["ppo"]
    assert (row["budget"], row["seed"], row["eval_freq"], row["cpu_model"]) == (
        1500,
        0,
        500,
        "Test CPU @ 3.0GHz",
    )
    assert len(runs.episodes) == 6 and "return" in runs.episodes.columns
    # the resolved config of each run, as config.yaml holds it
    assert runs.configs["t/pendulum/ppo/seed0"]["eval"] == {"freq": 500, "n_episodes": 2, "deterministic": True}
    # the sweep folder, the runs folder and a single run folder are all accepted
    assert len(load_runs(tmp_path / "t").runs) == 2
    assert len(load_runs(tmp_path / "t" / "pendulum" / "ppo" / "seed0").runs) == 1


def test_the_label_is_read_from_algo_label_or_from_an_older_folders_algo_key(tmp_path: Path):
    """meta.json names the compared method ``algo_label`` (run folders written before that
    named it ``algo``); analysis tables call it ``algo``. The registry name is not the label."""
    new = write_run(tmp_path, "pendulum", "ppo_g0.9", 0, [500, 1000], [-900, -700], budget=1000)
    old = write_run(tmp_path, "pendulum", "ppo_old", 0, [500, 1000], [-900, -700], budget=1000)
    for folder, name in ((new, "ppo"), (old, "ppo")):
        meta = json.loads((folder / "meta.json").read_text())
        meta["algo_name"] = name
        if folder == old:
            meta["algo"] = meta.pop("algo_label")
        (folder / "meta.json").write_text(json.dumps(meta))
    runs = load_runs(tmp_path)
    assert sorted(runs.runs["algo"]) == ["ppo_g0.9", "ppo_old"] and not runs.problems


def test_empty_and_missing_folders(tmp_path: Path, capsys):
    with pytest.raises(ValueError, match=f"no run folders under '{tmp_path}'"):
        load_runs(tmp_path)
    assert report_main([str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert str(tmp_path) in error and "meta.json" in error
    assert not (tmp_path / "report").exists()
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_runs(tmp_path / "nope")
    assert report_main([str(tmp_path / "nope")]) == 1
    assert "nope" in capsys.readouterr().err


def test_no_completed_run_names_every_run(tmp_path: Path, capsys):
    failed = write_run(
        tmp_path,
        "pendulum",
        "ppo",
        0,
        [500],
        [-1200.0],
        status="failed",
        error="Traceback (most recent call last):\nValueError: bad learning rate",
    )
    (failed / "metrics.csv").unlink()  # failed before its first evaluation: no metrics at all
    write_run(
        tmp_path,
        "pendulum",
        "a2c",
        0,
        [500],
        [-1200.0],
        status="interrupted",
        error="received signal SIGTERM",
    )
    runs = load_runs(tmp_path)
    assert sorted(runs.runs["status"]) == ["failed", "interrupted"] and not runs.problems
    with pytest.raises(NoCompletedRunsError) as caught:
        analyze(tmp_path)
    message = str(caught.value)
    assert "no completed run" in message and str(failed) in message
    assert "ValueError: bad learning rate" in message and "SIGTERM" in message
    assert report_main([str(tmp_path)]) == 1
    assert "ValueError: bad learning rate" in capsys.readouterr().err


def test_truncated_metrics_csv_is_reported_and_skipped(tmp_path: Path):
    _good, damaged = two_runs(tmp_path)
    text = (damaged / "metrics.csv").read_text()
    (damaged / "metrics.csv").write_text(text[: len(text) - 40])  # cut mid-row, as a crash would
    runs = load_runs(tmp_path)
    assert runs.runs["run_id"].tolist() == ["t/pendulum/ppo/seed0"]
    [problem] = runs.problems
    assert problem.skipped and problem.folder == damaged and problem.file == "metrics.csv"
    assert "truncated" in problem.message and str(damaged / "metrics.csv") in str(problem)


@pytest.mark.parametrize("cut", ["header_only_mid", "empty", "missing_column"])
def test_other_damaged_csv(tmp_path: Path, cut: str):
    _, damaged = two_runs(tmp_path)
    path = damaged / "metrics.csv"
    if cut == "header_only_mid":
        path.write_text(path.read_text().splitlines()[0][:30])
        expected = "lacks columns"
    elif cut == "empty":
        path.write_text("")
        expected = "empty"
    else:
        lines = path.read_text().splitlines()
        path.write_text("\n".join(",".join(line.split(",")[:5]) for line in lines) + "\n")
        expected = "lacks columns"
    [problem] = load_runs(tmp_path).problems
    assert problem.file == "metrics.csv" and expected in problem.message


def test_non_numeric_value_names_the_row(tmp_path: Path):
    _, damaged = two_runs(tmp_path)
    path = damaged / "metrics.csv"
    lines = path.read_text().splitlines()
    fields = lines[2].split(",")
    fields[5] = "garbage"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    [problem] = load_runs(tmp_path).problems
    assert "'eval_return_mean'" in problem.message and "row 2" in problem.message


def test_missing_or_broken_meta_json(tmp_path: Path):
    _good, damaged = two_runs(tmp_path)
    (damaged / "meta.json").unlink()
    [problem] = load_runs(tmp_path).problems
    assert (problem.folder, problem.file) == (damaged, "meta.json") and "missing" in problem.message
    (damaged / "meta.json").write_text('{"status": "completed", ')
    [problem] = load_runs(tmp_path).problems
    assert "not valid JSON" in problem.message
    (damaged / "meta.json").write_text(json.dumps({"status": "done"}))
    [problem] = load_runs(tmp_path).problems
    assert "'done'" in problem.message and "completed" in problem.message


def test_missing_config_and_episodes_are_warnings(tmp_path: Path):
    _good, other = two_runs(tmp_path)
    (other / "config.yaml").unlink()
    (other / "episodes.csv").unlink()
    runs = load_runs(tmp_path)
    assert len(runs.runs) == 2  # the run is kept: the metrics do not need these files
    assert sorted(p.file for p in runs.problems) == ["config.yaml", "episodes.csv"]
    assert not any(p.skipped for p in runs.problems)
    assert runs.runs.set_index("algo").loc["a2c", "budget"] == 1500  # from meta.json


def test_completed_run_without_evaluations_is_damaged(tmp_path: Path):
    _, damaged = two_runs(tmp_path)
    path = damaged / "metrics.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(RunFolderError, match="no evaluation rows"):
        load_run(damaged)


def test_copied_run_folder_counts_once(tmp_path: Path):
    import shutil

    good, _ = two_runs(tmp_path)
    copy = tmp_path / "t_copy" / "pendulum" / "ppo" / "seed0"
    shutil.copytree(good, copy)
    runs = load_runs(tmp_path)
    # the copy carries the original's run id: one run, and the copy is named as such
    assert len(runs.runs) == 2 and runs.runs["run_id"].is_unique
    assert any(p.skipped and Path(p.folder) == copy for p in runs.problems)


def test_reader_and_writer_share_one_run_folder_contract():
    # one module (analysis.contract) for both halves; analysis never imports sweeps
    import analysis.contract
    import analysis.load
    import sweeps.recorder
    import sweeps.rundir

    assert analysis.load.METRICS_COLUMNS is sweeps.rundir.METRICS_COLUMNS is analysis.contract.METRICS_COLUMNS
    assert analysis.load.EPISODES_COLUMNS is sweeps.rundir.EPISODES_COLUMNS
    assert sweeps.rundir.atomic_write_text is analysis.contract.atomic_write_text
    assert sweeps.recorder.MetricsRow is analysis.contract.MetricsRow


def test_one_env_under_a_step_and_a_time_budget_is_two_tasks(tmp_path: Path):
    """Equal-steps and equal-time runs of one env never share a CI or a PPO-level threshold."""
    steps, fast, slow = [500, 1000], [-900, -300], [-900, -600]
    for seed in (0, 1):
        write_run(tmp_path, "pendulum", "ppo", seed, steps, fast, budget=1000, sweep="steps")
        write_run(tmp_path, "pendulum", "ppo", seed, steps, slow, budget=10**6, budget_s=60.0, sweep="time")
        write_run(tmp_path, "pendulum", "a2c", seed, steps, slow, budget=10**6, budget_s=60.0, sweep="time")
    runs = load_runs(tmp_path)
    tasks = runs.runs.groupby("env")["sweep"].agg(lambda s: sorted(set(s))).to_dict()
    assert tasks == {"pendulum (1,000 steps)": ["steps"], "pendulum (60 train s)": ["time"]}
    assert set(runs.runs["env_name"]) == {"pendulum"} and set(runs.curves["env"]) == set(tasks)
    result = analyze(tmp_path, reps=100)
    assert not [p for p in result.problems if "also in another sweep" in p.reason]  # no seed counted twice
    assert result.specs["pendulum (60 train s)"].env_id == "Pendulum-v1"
    finals = result.seed_aggregates.query("metric == 'final_return' and algo == 'ppo'").set_index("env")["mean"]
    assert finals.to_dict() == pytest.approx({"pendulum (1,000 steps)": -600.0, "pendulum (60 train s)": -750.0})
    # one kind of budget (step budgets that differ do not split a task): the env's own name
    alone = load_runs(tmp_path / "time")
    assert set(alone.runs["env"]) == {"pendulum"}


@pytest.mark.slow
def test_several_runs_folders_are_read_as_one_set(tmp_path: Path, capsys):
    """A study's runs and the benchmark runs they are read against, in one report."""
    write_run(tmp_path / "study", "pendulum", "randpol_guard", 0, [500, 1000], [-900, -400], budget=1000)
    ppo = write_run(tmp_path / "bench", "pendulum", "ppo", 0, [500, 1000], [-800, -300], budget=1000)
    runs = load_runs([tmp_path / "study", tmp_path / "bench"])
    assert sorted(runs.runs["algo"]) == ["ppo", "randpol_guard"] and not runs.problems
    assert runs.roots == (tmp_path / "study", tmp_path / "bench")
    # one folder named twice (directly and through its parent) counts once
    assert len(load_runs([tmp_path / "bench", ppo]).runs) == 1
    out = tmp_path / "out"
    assert report_main([str(tmp_path / "study"), str(tmp_path / "bench"), "--out", str(out), "--reps", "100"]) == 0
    text = (out / "report.md").read_text()
    assert f"`{tmp_path / 'study'}`, `{tmp_path / 'bench'}`" in text and "randpol_guard" in text
    with pytest.raises(FileNotFoundError, match="nope"):
        load_runs([tmp_path / "study", tmp_path / "nope"])
