"""The regression check on reward curves: bands, verdicts, unusable references, the CLI end to end."""

from __future__ import annotations

import json
import shutil
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from analysis.envspec import EnvSpec
from analysis.regress import (
    EXIT_PASS,
    EXIT_REGRESSION,
    ReferenceUnusableError,
    compare,
    format_table,
    load_reference,
    make_reference,
    merge_reference,
    write_reference,
)
from baselines.registry import ALGORITHMS
from tests.conftest import make_config, randbench
from tests.helpers.synthetic_runs import write_run

STEPS = [1000, 2000, 3000, 4000]
# pendulum's score range is 1250, so tolerance 0.1 widens the band by 125
CURVES = {
    ("ppo", 0): [-1200.0, -800.0, -400.0, -200.0],
    ("ppo", 1): [-1100.0, -700.0, -300.0, -180.0],
    ("sac", 0): [-1300.0, -500.0, -250.0, -150.0],
    ("sac", 1): [-1250.0, -450.0, -200.0, -160.0],
}
SPECS = {
    "pendulum": EnvSpec("pendulum", "Pendulum-v1", 4000, -200.0, -1400.0, -150.0),
    "hopper": EnvSpec("hopper", "Hopper-v5", 4000, 3000.0, 0.0, 3500.0),
}


def _suite(root: Path, scale: dict[str, float] | None = None, **kwargs) -> Path:
    """A suite of ppo and sac on pendulum, seeds 0 and 1; ``scale`` multiplies an algo's returns
    (> 1 makes negative returns worse: the deliberately broken algorithm)."""
    scale = scale or {}
    for (algo, seed), returns in CURVES.items():
        returns = np.asarray(returns) * scale.get(algo, 1.0)
        write_run(root, "pendulum", algo, seed, STEPS, returns, budget=4000, sweep="ci", **kwargs)
    return root / "ci"


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    runs = _suite(tmp_path / "reference_runs")
    content, curves = make_reference(runs, "randbench regress --update", tolerance=0.1, k=2)
    return write_reference(tmp_path / "reference", content, curves).parent


def _hand_values(algo: str) -> tuple[float, float, float, float]:
    """(band low and high of the final return, band low and high of the AUC) computed by hand."""
    finals, aucs = [], []
    for seed in (0, 1):
        r = CURVES[(algo, seed)]
        finals.append((r[-1] + r[-2]) / 2)
        # held at r[0] on [0, 1000], then trapezoids; budget 4000
        area = 1000 * r[0] + sum(1000 * (a + b) / 2 for a, b in pairwise(r))
        aucs.append(area / 4000)
    return min(finals) - 125, max(finals) + 125, min(aucs) - 125, max(aucs) + 125


def test_reference_records_protocol_versions_and_curves(reference: Path) -> None:
    content, curves = load_reference(reference)
    assert content["tolerance"] == 0.1 and content["last_k"] == 2
    assert content["made_with"]["command"] == "randbench regress --update"
    assert content["made_with"]["versions"]["stable-baselines3"] == "2.9.0"
    assert [(p["algo"], p["env"]) for p in content["pairs"]] == [("ppo", "pendulum"), ("sac", "pendulum")]
    protocol = content["pairs"][0]["protocol"]
    assert protocol == {
        "env_id": "Pendulum-v1",
        "env_kwargs": {},
        "budget": 4000,
        "eval_freq": 1000,
        "eval_episodes": 2,
        "eval_deterministic": True,
        "seeds": [0, 1],
    }
    assert len(curves) == 16
    ppo0 = curves[(curves["algo"] == "ppo") & (curves["seed"] == 0)]
    assert ppo0["eval_return_mean"].tolist() == CURVES[("ppo", 0)]


def test_intact_runs_pass_with_hand_computed_bands(tmp_path: Path, reference: Path) -> None:
    result = compare(_suite(tmp_path / "fresh"), reference, specs=SPECS)
    assert result.exit_status == EXIT_PASS and result.passed
    table = result.table.set_index(["algo", "metric"])
    assert set(table["result"]) == {"pass"}
    final_low, final_high, auc_low, auc_high = _hand_values("ppo")
    assert table.loc[("ppo", "final_return"), "band_low"] == pytest.approx(final_low)
    assert table.loc[("ppo", "final_return"), "band_high"] == pytest.approx(final_high)
    assert table.loc[("ppo", "auc"), "band_low"] == pytest.approx(auc_low)
    assert table.loc[("ppo", "auc"), "band_high"] == pytest.approx(auc_high)
    # the same curves: the fresh value is the reference mean, the margin spread + tolerance
    # final returns over the last 2 points: seed 0 -300, seed 1 -240
    assert table.loc[("ppo", "final_return"), "fresh"] == pytest.approx(-270)
    assert table.loc[("ppo", "final_return"), "margin"] == pytest.approx(-270 - final_low)
    assert final_low == pytest.approx(-425)


def test_broken_algorithm_is_a_regression_on_its_rows_only(tmp_path: Path, reference: Path) -> None:
    # returns multiplied down (x3 on negative returns): sac learned nothing worth the name
    result = compare(_suite(tmp_path / "fresh", scale={"sac": 3.0}), reference, specs=SPECS)
    assert result.exit_status == EXIT_REGRESSION and not result.passed
    failing = result.table[result.table["result"] == "REGRESSION"]
    assert sorted(zip(failing["algo"], failing["metric"])) == [("sac", "auc"), ("sac", "final_return")]
    sac_final = result.table.set_index(["algo", "metric"]).loc[("sac", "final_return")]
    final_low = _hand_values("sac")[0]
    fresh = np.mean([3 * (-250 - 150) / 2, 3 * (-200 - 160) / 2])
    assert sac_final["fresh"] == pytest.approx(fresh)
    assert sac_final["margin"] == pytest.approx(fresh - final_low) and sac_final["margin"] < 0
    # worst point: the first, where x3 moves the curve furthest: 3 x -1275 against -1300 - 125
    assert sac_final["worst_point_timesteps"] == pytest.approx(1000)
    assert sac_final["worst_point_margin"] == pytest.approx(3 * -1275 - (-1300 - 125))
    text = format_table(result.table)
    assert "REGRESSION" in text and "sac" in text


def test_slightly_worse_within_tolerance_passes(tmp_path: Path, reference: Path) -> None:
    # 5% worse returns stay inside the band: spread plus 125 of tolerance
    result = compare(_suite(tmp_path / "fresh", scale={"ppo": 1.05}), reference, specs=SPECS)
    assert result.passed


def test_tolerance_zero_catches_a_small_shortfall(tmp_path: Path, reference: Path) -> None:
    result = compare(_suite(tmp_path / "fresh", scale={"ppo": 1.3}), reference, specs=SPECS, tolerance=0.0)
    failing = result.table[result.table["result"] == "REGRESSION"]
    assert set(failing["algo"]) == {"ppo"}


def test_failed_run_fails_the_check(tmp_path: Path, reference: Path) -> None:
    fresh = _suite(tmp_path / "fresh")
    write_run(
        tmp_path / "fresh",
        "pendulum",
        "sac",
        1,
        STEPS[:1],
        [-1300.0],
        budget=4000,
        sweep="ci",
        status="failed",
        error="Traceback...\nRuntimeError: boom",
    )
    result = compare(fresh, reference, specs=SPECS)
    assert result.exit_status == EXIT_REGRESSION
    assert result.failed_runs == ["ci/pendulum/sac/seed1: failed (RuntimeError: boom)"]
    sac = result.table[result.table["algo"] == "sac"]
    assert set(sac["result"]) == {"NOT COMPLETED"}


def test_reference_made_with_another_budget_is_unusable(tmp_path: Path, reference: Path) -> None:
    fresh = tmp_path / "fresh"
    for (algo, seed), returns in CURVES.items():
        write_run(fresh, "pendulum", algo, seed, [2000, 4000, 6000, 8000], returns, budget=8000, sweep="ci")
    with pytest.raises(
        ReferenceUnusableError, match=r"ppo on pendulum: budget is 8000, the reference was made with 4000"
    ):
        compare(fresh / "ci", reference, specs=SPECS)


def test_other_seeds_and_unknown_pairs_are_unusable(tmp_path: Path, reference: Path) -> None:
    fresh = _suite(tmp_path / "fresh")
    write_run(tmp_path / "fresh", "pendulum", "ppo", 2, STEPS, CURVES[("ppo", 0)], budget=4000, sweep="ci")
    write_run(tmp_path / "fresh", "hopper", "ppo", 0, STEPS, [10, 20, 30, 40], budget=4000, sweep="ci")
    with pytest.raises(ReferenceUnusableError) as caught:
        compare(fresh, reference, specs=SPECS)
    message = str(caught.value)
    assert "ppo on hopper has no reference curve" in message
    assert "ppo on pendulum: seeds is [0, 1, 2], the reference was made with [0, 1]" in message


def test_missing_or_damaged_reference_is_unusable(tmp_path: Path, reference: Path) -> None:
    fresh = _suite(tmp_path / "fresh")
    with pytest.raises(ReferenceUnusableError, match="regress --update"):
        compare(fresh, tmp_path / "nowhere", specs=SPECS)
    damaged = tmp_path / "damaged"
    shutil.copytree(reference, damaged)
    content = json.loads((damaged / "reference.json").read_text())
    content["format"] = 99
    (damaged / "reference.json").write_text(json.dumps(content))
    with pytest.raises(ReferenceUnusableError, match="format 99"):
        compare(fresh, damaged, specs=SPECS)


def test_reference_refused_from_an_incomplete_suite(tmp_path: Path) -> None:
    runs = _suite(tmp_path / "runs")
    write_run(
        tmp_path / "runs",
        "pendulum",
        "sac",
        2,
        STEPS[:1],
        [-1300.0],
        budget=4000,
        sweep="ci",
        status="failed",
    )
    with pytest.raises(ValueError, match=r"ci/pendulum/sac/seed2 \(failed\)"):
        make_reference(runs, "cmd")


def test_merge_replaces_only_the_retrained_pairs(tmp_path: Path, reference: Path) -> None:
    # a deliberate change to sac: its new reference replaces the old one, ppo's is kept
    changed = _suite(tmp_path / "changed", scale={"sac": 2.0})
    shutil.rmtree(changed / "pendulum" / "ppo")
    update = make_reference(changed, "randbench regress --update --merge", tolerance=0.1, k=2)
    merged, curves = merge_reference(load_reference(reference), update)
    assert [(p["algo"], p["env"]) for p in merged["pairs"]] == [("ppo", "pendulum"), ("sac", "pendulum")]
    assert merged["pairs"][1]["made_with"]["command"] == "randbench regress --update --merge"
    assert merged["pairs"][0]["made_with"]["command"] == "randbench regress --update"
    sac0 = curves[(curves["algo"] == "sac") & (curves["seed"] == 0)]["eval_return_mean"].tolist()
    ppo0 = curves[(curves["algo"] == "ppo") & (curves["seed"] == 0)]["eval_return_mean"].tolist()
    assert sac0 == [2 * r for r in CURVES[("sac", 0)]] and ppo0 == CURVES[("ppo", 0)]
    folder = write_reference(tmp_path / "merged", merged, curves).parent
    assert compare(_suite(tmp_path / "fresh", scale={"sac": 2.0}), folder, specs=SPECS).passed


def test_ci_suite_covers_every_stock_and_randbench_algorithm() -> None:
    cfg = make_config("+sweep=ci", return_hydra_config=True)
    cases = cfg.hydra.sweeper.params["+regress"].split(",")
    algos = set()
    for case in cases:
        case_cfg = make_config("+sweep=ci", f"+regress={case}")
        assert f"{case_cfg.algo.name}_{case_cfg.env.name}" == case
        assert case_cfg.budget > 0 and case_cfg.budget % case_cfg.eval.freq == 0
        algos.add(case_cfg.algo.name)
    assert algos == set(ALGORITHMS)
    assert len(cfg.hydra.sweeper.params["seed"].split(",")) >= 2


def _regress(tmp_path: Path, *args: str):
    return randbench(
        [
            "regress",
            "--reference",
            str(tmp_path / "reference"),
            "--output-root",
            str(tmp_path / "regress"),
            *args,
        ],
        timeout=600,
    )


# PPO's tuned config has left the random policy's return (about -1200) far behind at 24k steps
TINY_SUITE = [
    "--",
    "+regress=ppo_pendulum",
    "seed=0,1",
    "budget=24576",
    "eval.freq=4096",
    "hydra/launcher=basic",
]


@pytest.mark.slow
def test_cli_update_intact_and_broken(tmp_path: Path) -> None:
    """End to end through real training: PPO on Pendulum-v1, 24k steps, 2 seeds."""
    made = _regress(tmp_path, "--update", *TINY_SUITE)
    assert made.returncode == 0, made.stderr[-3000:]
    assert "reference written" in made.stdout and "suite wall-clock" in made.stdout
    content, curves = load_reference(tmp_path / "reference")
    assert content["made_with"]["command"].startswith("randbench regress --update")
    assert sorted(set(curves["seed"])) == [0, 1]

    intact = _regress(tmp_path, *TINY_SUITE)
    assert intact.returncode == 0, intact.stdout[-3000:] + intact.stderr[-3000:]
    assert "regression check passed" in intact.stdout

    # learning rate zero: the policy never changes, the curve stays at the random policy's return
    broken = _regress(tmp_path, *TINY_SUITE, "algo.model.learning_rate=0")
    assert broken.returncode == 1, broken.stdout[-3000:] + broken.stderr[-3000:]
    assert "regression check FAILED" in broken.stdout
    rows = [line for line in broken.stdout.splitlines() if "REGRESSION" in line]
    assert len(rows) == 2 and all("ppo" in row and "pendulum" in row for row in rows)

    # runs made with another budget (synthetic, not trained): the reference cannot judge them
    for seed in (0, 1):
        write_run(tmp_path / "other", "pendulum", "ppo", seed, [4096, 8192], [-900.0, -500.0], sweep="ci")
    other = _regress(tmp_path, "--runs", str(tmp_path / "other" / "ci"))
    assert other.returncode == 2
    assert "budget is 8192, the reference was made with 24576" in other.stderr


def test_cli_refuses_missing_reference_before_training(tmp_path: Path) -> None:
    result = _regress(tmp_path)
    assert result.returncode == 2
    assert "no reference" in result.stderr and "--update" in result.stderr
    assert not (tmp_path / "regress").exists()


def test_cli_refuses_unknown_suite(tmp_path: Path) -> None:
    result = _regress(tmp_path, "--suite", "nope")
    assert result.returncode == 2 and "no suite 'nope'; accepted:" in result.stderr
