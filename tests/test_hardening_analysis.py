"""Hardening of the analysis (issue 14, items 6, 7 and 13): one bad run folder never stops a report,
damage is never accepted silently, and the numbers read are exactly the numbers written."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis.analyze import analyze
from analysis.cli import report_main
from analysis.load import error_summary, load_run, load_runs
from tests.helpers.synthetic_runs import write_run

STEPS = [500, 1000, 1500]


def two_runs(root: Path) -> tuple[Path, Path]:
    """A ppo and an a2c run on pendulum, both completed, each with its model.zip."""
    good = write_run(root, "pendulum", "ppo", 0, STEPS, [-900, -700, -500], budget=1500)
    other = write_run(root, "pendulum", "a2c", 0, STEPS, [-1000, -950, -900], budget=1500)
    for folder in (good, other):
        (folder / "model.zip").write_bytes(b"PK")
    return good, other


def edit_meta(folder: Path, **values) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(values)
    (folder / "meta.json").write_text(json.dumps(meta))


# -- item 6: a bad value in one meta.json skips that run, never the report ------------------------
@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("seed", "zero", "'seed' is 'zero'"),
        ("budget", "lots", "'budget' is 'lots'"),
        ("budget", 0, "'budget' is 0"),
        ("seed", 1.5, "'seed' is 1.5"),
        ("env", 5, "'env' is 5"),
        ("parameters", [1, 2], "'parameters' is [1, 2]"),
        ("timesteps", "many", "'timesteps' is 'many'"),
    ],
)
def test_a_bad_meta_value_skips_that_run_only(tmp_path: Path, key: str, value, expected: str):
    _good, bad = two_runs(tmp_path)
    edit_meta(bad, **{key: value})
    runs = load_runs(tmp_path)
    assert runs.runs["algo"].tolist() == ["ppo"]
    [problem] = runs.problems
    assert problem.skipped and (problem.folder, problem.file) == (bad, "meta.json")
    assert expected in problem.message and "expected" in problem.message
    result = analyze(tmp_path, reps=100)
    assert result.run_metrics["algo"].tolist() == ["ppo"]


@pytest.mark.slow
def test_the_report_is_written_around_a_bad_meta_json(tmp_path: Path, capsys):
    _good, bad = two_runs(tmp_path)
    edit_meta(bad, seed="zero", budget="lots")
    assert report_main([str(tmp_path), "--out", str(tmp_path / "report"), "--reps", "100"]) == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert str(bad) in text and "'seed' is 'zero'" in text
    assert str(bad / "meta.json") in capsys.readouterr().out


# -- item 7: damage is detected ---------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_an_infinite_return_of_a_completed_run_is_damage(tmp_path: Path, value: float):
    two_runs(tmp_path)
    write_run(tmp_path, "pendulum", "a2c", 0, STEPS, [-1000, value, -900], budget=1500)
    runs = load_runs(tmp_path)
    assert runs.runs["algo"].tolist() == ["ppo"]
    [problem] = runs.problems
    assert problem.skipped and problem.file == "metrics.csv"
    assert (
        "'eval_return_mean'" in problem.message and "row 2" in problem.message and "finite" in problem.message
    )


def test_metrics_cut_at_a_row_boundary_is_truncation(tmp_path: Path):
    _good, bad = two_runs(tmp_path)
    path = bad / "metrics.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-1]))  # the last row is gone
    runs = load_runs(tmp_path)
    assert runs.runs["algo"].tolist() == ["ppo"]
    [problem] = runs.problems
    assert problem.skipped and problem.file == "metrics.csv"
    assert "ends at 1000 env steps" in problem.message and "1500" in problem.message
    assert "truncated" in problem.message


def test_a_completed_run_without_its_model_is_flagged(tmp_path: Path):
    _good, bare = two_runs(tmp_path)
    (bare / "model.zip").unlink()
    runs = load_runs(tmp_path)
    assert len(runs.runs) == 2  # the metrics are kept
    [problem] = runs.problems
    assert not problem.skipped and (problem.folder, problem.file) == (bare, "model.zip")
    assert "missing" in problem.message and "completed" in problem.message
    assert runs.runs.set_index("algo")["missing_files"].to_dict() == {"a2c": "model.zip", "ppo": None}


def test_a_cut_off_model_write_is_flagged_in_any_tree(tmp_path: Path):
    good, other = two_runs(tmp_path)
    for folder in (good, other):
        (folder / "model.zip").unlink()  # results kept without models (results/benchmark is committed so)
    assert not load_runs(tmp_path).problems
    (good / ".model.tmp.zip").write_bytes(b"")  # the save was cut off
    [problem] = load_runs(tmp_path).problems
    assert (problem.folder, problem.file, problem.skipped) == (good, ".model.tmp.zip", False)
    assert "cut off" in problem.message and "model.zip missing" in problem.message


def test_a_normalized_run_without_its_statistics_is_flagged(tmp_path: Path):
    import yaml

    good, _ = two_runs(tmp_path)
    config = yaml.safe_load((good / "config.yaml").read_text())
    config["env"]["normalize"] = {"norm_obs": True, "norm_reward": False}
    (good / "config.yaml").write_text(yaml.safe_dump(config))
    [problem] = load_runs(tmp_path).problems
    assert (problem.folder, problem.file, problem.skipped) == (good, "vecnormalize.pkl", False)
    (good / "vecnormalize.pkl").write_bytes(b"x")
    assert not load_runs(tmp_path).problems


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_diverged_run_keeps_its_status_and_error(tmp_path: Path, value: float):
    two_runs(tmp_path)
    error = "non-finite evaluation return at 1500 steps"
    diverged = write_run(
        tmp_path,
        "pendulum",
        "sac",
        0,
        STEPS,
        [-1000, -950, value],
        budget=1500,
        status="diverged",
        error=error,
    )
    runs = load_runs(tmp_path)
    assert not runs.problems
    row = runs.runs.set_index("algo").loc["sac"]
    assert (row["status"], row["error"], row["error_line"], row["path"]) == (
        "diverged",
        error,
        error,
        str(diverged),
    )
    curve = runs.curves[runs.curves["algo"] == "sac"]
    assert curve["eval_return_mean"].tolist() == [-1000, -950]  # the finite evaluations
    assert row["n_evals"] == 2
    assert "sac" not in set(analyze(tmp_path, reps=100).run_metrics["algo"])


def test_a_failed_run_with_damaged_metrics_stays_listed(tmp_path: Path):
    two_runs(tmp_path)
    failed = write_run(
        tmp_path, "pendulum", "sac", 0, STEPS, [-1000, -950, -900], status="failed", error="boom"
    )
    (failed / "metrics.csv").write_text((failed / "metrics.csv").read_text()[:-30])
    runs = load_runs(tmp_path)
    assert runs.runs.set_index("algo").loc["sac", "status"] == "failed"
    [problem] = runs.problems
    assert not problem.skipped and problem.file == "metrics.csv" and "truncated" in problem.message


def test_a_copied_run_folder_counts_once_and_is_named_a_copy(tmp_path: Path):
    good, _ = two_runs(tmp_path)
    copy = tmp_path / "backup" / "t" / "pendulum" / "ppo" / "seed0"
    shutil.copytree(good, copy)
    runs = load_runs(tmp_path)
    assert sorted(runs.runs["path"]) == sorted(
        [str(good), str(tmp_path / "t" / "pendulum" / "a2c" / "seed0")]
    )
    [problem] = runs.problems
    assert problem.skipped and problem.folder == copy
    assert "copy" in problem.message and str(good) in problem.message
    result = analyze(tmp_path, reps=100)
    assert len(result.run_metrics) == 2
    assert not any("another sweep" in p.message for p in result.problems)


def test_two_runs_under_one_run_id_count_once(tmp_path: Path):
    good, _ = two_runs(tmp_path)
    other = write_run(tmp_path / "elsewhere", "pendulum", "ppo", 0, STEPS, [-1, -1, -1], budget=1500)
    (other / "model.zip").write_bytes(b"PK")
    edit_meta(other, start_time="2025-02-02T00:00:00+00:00")
    runs = load_runs(tmp_path)
    assert str(other) not in set(runs.runs["path"]) and str(good) in set(runs.runs["path"])
    [problem] = runs.problems
    assert problem.folder == other and "another run under the same run_id" in problem.message


HYDRA_TRACEBACK = """Traceback (most recent call last):
  File "/x/hydra/_internal/instantiate/_instantiate2.py", line 92, in _call_target
    return _target_(*args, **kwargs)
           ^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError: `n_steps * n_envs` must be greater than 1

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/x/sweeps/run.py", line 180, in run
    model = instantiate(cfg.algo.model)
  File "/x/hydra/_internal/instantiate/_instantiate2.py", line 138, in _call_target
    raise InstantiationException(_with_full_key(msg, full_key)) from e
hydra.errors.InstantiationException: Error in call to target 'stable_baselines3.ppo.ppo.PPO':
AssertionError('`n_steps * n_envs` must be greater than 1')
full_key: algo.model
"""

OMEGACONF_TRACEBACK = """Traceback (most recent call last):
  File "/x/run.py", line 1, in <module>
    cfg.algo.model.foo
omegaconf.errors.ConfigAttributeError: Key 'foo' is not in struct
    full_key: algo.model.foo
    object_type=dict
"""


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            HYDRA_TRACEBACK,
            (
                "hydra.errors.InstantiationException: Error in call to target 'stable_baselines3.ppo.ppo.PPO': "
                "AssertionError('`n_steps * n_envs` must be greater than 1')"
            ),
        ),
        (OMEGACONF_TRACEBACK, "omegaconf.errors.ConfigAttributeError: Key 'foo' is not in struct"),
        (
            "non-finite train/loss = nan at 300 steps\n" + OMEGACONF_TRACEBACK,
            "non-finite train/loss = nan at 300 steps",
        ),
        ("received signal SIGTERM", "received signal SIGTERM"),
        (None, None),
        ("", None),
    ],
)
def test_the_error_line_names_the_problem(error, line):
    assert error_summary(error) == line


def test_the_runs_table_carries_the_error_line(tmp_path: Path):
    failed = write_run(
        tmp_path, "pendulum", "ppo", 0, STEPS, [-1, -1, -1], status="failed", error=HYDRA_TRACEBACK
    )
    run, _ = load_run(failed)
    assert run.info["error"] == HYDRA_TRACEBACK
    assert "must be greater than 1" in run.info["error_line"]
    assert "full_key" not in load_runs(tmp_path).runs["error_line"].iloc[0]


# -- item 13: round-trip floats ---------------------------------------------------------------------
def test_run_files_are_read_exactly_as_written(tmp_path: Path):
    written = "0.09872592010330129"  # pandas' default parser reads it one ulp off (0.0987259201033012)
    good, _ = two_runs(tmp_path)
    for name in ("metrics.csv", "episodes.csv"):
        lines = (good / name).read_text().splitlines()
        fields = lines[1].split(",")
        fields[1] = written  # train_time_s of the first row
        lines[1] = ",".join(fields)
        (good / name).write_text("\n".join(lines) + "\n")
    runs = load_runs(tmp_path)
    ppo = runs.curves[runs.curves["algo"] == "ppo"]
    assert ppo["train_time_s"].iloc[0] == float(written)
    episodes = runs.episodes[runs.episodes["algo"] == "ppo"]
    assert episodes["train_time_s"].iloc[0] == float(written)
    assert np.float64(ppo["train_time_s"].iloc[0]).hex() == float(written).hex()
