"""`python -m sweeps.falls` (sweeps/falls.py): the critic's value, the speed and the observations'
range over the steps before the falls of a run's final policy."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from sweeps.falls import main, parse_windows, summarize
from sweeps.run import run
from tests.conftest import TINY, make_config


def episode(values, terminated=True):
    values = np.asarray(values, dtype=float)
    return {"terminated": terminated, "value": values, "speed": values / 10, "obs_max": values}


def test_windows_average_the_steps_before_each_fall():
    # two falls of 8 and 10 steps, one episode cut by its time limit
    falls = [episode([5, 5, 5, 5, 4, 4, 1, 1]), episode([5, 5, 5, 5, 5, 5, 4, 4, 1, 1])]
    rows = summarize([*falls, episode([2] * 6, terminated=False)], windows=(4, 2, 0), skip=1)
    by = {r["window"]: r for r in rows}
    assert by["steady"]["episodes"] == 2 and by["steady"]["value"] == pytest.approx((5 + 5) / 2)
    assert by["-4 to -2"]["value"] == 4.0 and by["-2 to 0"]["value"] == 1.0
    assert by["-2 to 0"]["speed"] == pytest.approx(0.1)
    assert by["-4 to -2"]["beyond_3_std"] == 1.0 and by["-2 to 0"]["beyond_3_std"] == 0.0
    assert by["time limit"]["episodes"] == 1 and by["time limit"]["value"] == 2.0  # steps 1 to 4
    # a fall too short for the windows and the skip is left out
    short = summarize([episode([1, 1, 1])], windows=(4, 2, 0), skip=1)
    assert all(r["episodes"] == 0 and math.isnan(r["value"]) for r in short)


@pytest.mark.parametrize("text", ["150,100", "0,20", "10,10,0", "a,0", "5"])
def test_bad_windows_are_refused(text):
    with pytest.raises(ValueError, match="strictly decreasing"):
        parse_windows(text)


def test_cli_writes_the_windows_of_a_trained_run_and_refuses_bad_input(tmp_path, capsys):
    result = run(make_config("algo=ppo", "env=hopper", "budget=256", "eval.freq=256", "eval.n_episodes=1",
                             f"output.root={tmp_path}", "progress=false", *TINY["ppo"]))
    assert result.status == "completed"
    run_dir = tmp_path / "default" / "hopper" / "ppo" / "seed0"
    out = tmp_path / "falls.csv"

    assert main([str(run_dir), "--out", str(out), "--episodes", "3", "--windows", "4,2,0", "--skip", "0"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["window"] for r in rows] == ["steady", "-4 to -2", "-2 to 0", "time limit"]
    # an untrained Hopper falls within its first steps: every episode counts, none reaches the limit
    assert rows[1]["episodes"] == "3" and rows[3]["episodes"] == "0"
    assert np.isfinite(float(rows[1]["value"])) and np.isfinite(float(rows[1]["speed"]))
    written = out.read_text()
    assert main([str(run_dir), "--out", str(out), "--windows", "2,4"]) == 2
    assert "windows='2,4' is invalid" in capsys.readouterr().err
    assert main([str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert out.read_text() == written  # refused input leaves the CSV as it was
