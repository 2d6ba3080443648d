"""Logger outputs as config (sweeps/loggers.py): TensorBoard events and W&B offline runs in the run
folder, with the harness's evaluation metrics, train time and FPS beside the algorithm's scalars."""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sweeps.loggers import HARNESS_KEYS, check_logger_config
from sweeps.run import run
from tests.conftest import TINY, make_config

# One algorithm of each family, and a scalar its own training log always holds.
FAMILIES = [
    ("ppo", "train/approx_kl"),         # on-policy
    ("sac", "train/critic_loss"),       # off-policy
    ("ses", "train/gradient_norm"),     # evolution strategy (randbench's own, on sb3-contrib's ARS)
]
TINY_SES = ["++algo.model.n_delta=2", "++algo.model.n_top=2"]


def _config(algo: str, runs_root: Path, *extra: str):
    tiny = TINY_SES if algo == "ses" else TINY[algo]
    return make_config(
        f"algo={algo}", "env=pendulum", "budget=2000", "eval.freq=1000", "eval.n_episodes=1",
        f"output.root={runs_root}", "progress=false", *tiny, *extra,
    )


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def _wandb_records(path: Path) -> list:
    """The protobuf records of a W&B transaction log (``run-<id>.wandb``): a 7-byte header, then
    LevelDB-log-style blocks of 32 KiB, each record chunk behind a 7-byte header (CRC-32, length,
    type 1 full / 2 first / 3 middle / 4 last)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B transaction log"
    records, chunks, position, block = [], b"", 7, 32 * 1024
    while position + 7 <= len(data):
        room = block - position % block
        if room < 7:  # a block's tail too short for a header is padding
            position += room
            continue
        _, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:
            break
        chunks += data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            records.append(record)
            chunks = b""
    return records


@pytest.mark.slow
@pytest.mark.parametrize("algo,train_key", FAMILIES)
def test_tensorboard_events_hold_train_and_eval_scalars(algo, train_key, runs_root):
    cfg = _config(algo, runs_root, "logger.tensorboard=true")
    run_dir = runs_root / "default" / "pendulum" / algo / "seed0"
    run_dir.mkdir(parents=True)
    stale = run_dir / "events.out.tfevents.1.previous-attempt"
    stale.write_bytes(b"")  # an earlier attempt's events: the restarted run replaces them
    result = run(cfg)
    assert result.status == "completed"
    assert not stale.exists()
    assert len(list(run_dir.glob("events.out.tfevents.*"))) == 1
    scalars = _scalars(run_dir)
    assert train_key in scalars and len(scalars[train_key]) >= 1
    assert set(HARNESS_KEYS) <= set(scalars)
    metrics = pd.read_csv(run_dir / "metrics.csv")
    # One point per evaluation, at the evaluation's step, with the value metrics.csv holds.
    assert [step for step, _ in scalars["eval/mean_reward"]] == metrics["timesteps"].tolist()
    assert [value for _, value in scalars["eval/mean_reward"]] == pytest.approx(
        metrics["eval_return_mean"].tolist(), rel=1e-6)
    assert [value for _, value in scalars["time/train_time_s"]] == pytest.approx(
        metrics["train_time_s"].tolist(), rel=1e-6)
    # progress.csv stays the algorithm's own log.
    progress = pd.read_csv(run_dir / "progress.csv")
    assert train_key in progress.columns
    assert not any(column.startswith("eval/") for column in progress.columns)


@pytest.mark.slow
def test_wandb_offline_run_has_the_tensorboard_keys_and_logging_changes_no_curve(tmp_path):
    plain = run(_config("ppo", tmp_path / "plain"))
    logged = run(_config("ppo", tmp_path / "logged", "logger.tensorboard=true", "logger.wandb.mode=offline",
                         "sweep_name=obs", "logger.wandb.tags=[test]"))
    assert plain.status == logged.status == "completed"
    # Logging only: the same seed gives the same evaluation curve and the same training log.
    columns = ["timesteps", "eval_return_mean", "eval_return_std", "train_return_mean"]
    pd.testing.assert_frame_equal(pd.read_csv(plain.run_dir / "metrics.csv")[columns],
                                  pd.read_csv(logged.run_dir / "metrics.csv")[columns])
    train = [c for c in pd.read_csv(plain.run_dir / "progress.csv").columns if c.startswith("train/")]
    pd.testing.assert_frame_equal(pd.read_csv(plain.run_dir / "progress.csv")[train],
                                  pd.read_csv(logged.run_dir / "progress.csv")[train])
    assert not (plain.run_dir / "wandb").exists() and not list(plain.run_dir.glob("events.out.tfevents.*"))

    [offline] = list((logged.run_dir / "wandb").glob("offline-run-*"))
    [log] = list(offline.glob("run-*.wandb"))
    records = _wandb_records(log)
    [info] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert info.display_name == "obs/pendulum/ppo/seed0"
    assert info.run_group == "obs" and info.project == "randbench" and info.job_type == "ppo"
    assert list(info.tags) == ["test"]
    history = [r.history for r in records if r.WhichOneof("record_type") == "history"]
    keys = {item.key or "/".join(item.nested_key) for h in history for item in h.item}
    keys -= {"_step", "_runtime", "_timestamp"}
    assert keys == set(_scalars(logged.run_dir))  # the same keys as TensorBoard's
    assert set(HARNESS_KEYS) <= keys and "train/approx_kl" in keys
    assert any(r.WhichOneof("record_type") == "exit" for r in records)  # finished when the run ended


@pytest.mark.parametrize("override,message", [
    ("logger.tensorboard=maybe", "logger.tensorboard='maybe' is invalid; expected true or false"),
    ("logger.wandb.mode=sometimes",
     "logger.wandb.mode='sometimes' is invalid; expected one of ['disabled', 'online', 'offline']"),
    ("logger.wandb.project=''", "logger.wandb.project='' is invalid"),
    ("logger.wandb.tags=7", "logger.wandb.tags=7 is invalid; expected a list of strings"),
])
def test_bad_logger_settings_are_refused_with_what_is_accepted(override, message):
    with pytest.raises(ValueError) as caught:
        check_logger_config(make_config(override))
    assert message in str(caught.value)


def test_default_config_writes_progress_csv_only():
    options = check_logger_config(make_config())
    assert options == {"tensorboard": False,
                       "wandb": {"mode": "disabled", "project": "randbench", "entity": None, "tags": []}}
