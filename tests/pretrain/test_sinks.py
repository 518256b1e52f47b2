"""TensorBoard events beside the JSONL log (the same numbers under `<kind>/<key>` tags) and the optional W&B
hook (an error that says how to get it when missing; records reach it when present)."""

import sys
import types

import pytest

from weprompt.common.errors import UserError
from weprompt.pretrain.engine.logger import JsonlLogger, read_log
from weprompt.pretrain.engine.sinks import TB_DIR, TensorBoardSink, WandbConfig, WandbSink, scalars

RECORDS = [
    {"kind": "train", "step": 1, "loss": 3.5, "lr": 1e-4, "loss_by_category": {"nli": 3.0, "topic": 4.0},
     "grad_norm": float("inf"), "skipped": True},
    {"kind": "train", "step": 2, "loss": 3.25, "lr": 2e-4, "loss_by_category": {"nli": 2.5, "topic": 4.0}},
    {"kind": "heldout", "step": 2, "source": "heldout_accuracy", "metrics": {"ocnli": 41.0, "mean": 41.0},
     "seconds": 1.5},
]  # fmt: skip


def test_scalars_flatten_numbers_one_level_down():
    assert scalars(RECORDS[0]) == {"train/loss": 3.5, "train/lr": 1e-4, "train/loss_by_category/nli": 3.0,
                                   "train/loss_by_category/topic": 4.0}  # fmt: skip
    assert scalars(RECORDS[2]) == {
        "heldout/heldout_accuracy/ocnli": 41.0,
        "heldout/heldout_accuracy/mean": 41.0,
    }


def test_tensorboard_events_hold_what_the_jsonl_log_holds(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = JsonlLogger(tmp_path)
    logger.sinks = [TensorBoardSink(tmp_path, purge_step=None)]
    for r in RECORDS:
        logger.log(r)
    logger.close()
    acc = EventAccumulator(str(tmp_path / TB_DIR))
    acc.Reload()
    for r in read_log(tmp_path / "train_log.jsonl"):
        for tag, value in scalars(r).items():
            events = {e.step: e.value for e in acc.Scalars(tag)}
            assert events[r["step"]] == pytest.approx(value, rel=1e-6)
    assert "train/grad_norm" not in acc.Tags()["scalars"]  # not finite: left out


def test_wandb_is_never_required_and_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    with pytest.raises(UserError, match="wandb is not installed"):
        WandbSink(WandbConfig(enabled=True), tmp_path, {}, 0)


def test_wandb_receives_every_record_at_its_step(tmp_path, monkeypatch):
    calls = []

    class Run:
        def log(self, values, step):
            calls.append((step, values))

        def finish(self):
            calls.append("finish")

    fake = types.SimpleNamespace(init=lambda **kw: calls.append(kw) or Run())  # third-party stand-in
    monkeypatch.setitem(sys.modules, "wandb", fake)
    sink = WandbSink(WandbConfig(enabled=True, project="p", mode="offline"), tmp_path / "run1", {"a": 1}, 0)
    for r in RECORDS:
        sink.write(r)
    sink.close()
    assert calls[0]["project"] == "p" and calls[0]["name"] == "run1" and calls[0]["mode"] == "offline"
    assert calls[1] == (1, scalars(RECORDS[0])) and calls[3] == (2, scalars(RECORDS[2]))
    assert calls[-1] == "finish"
