"""What a fine-tuning run shows while it runs: training loss per category and per task in the JSONL log
and in group_curves.png."""

import json

import pytest
from testutil import tiny_finetune_config

from weprompt.finetune import run_finetune
from weprompt.pretrain.engine.config import LoggingConfig

pytestmark = pytest.mark.usefixtures("synth_data")


def _records(run_dir):
    return [json.loads(x) for x in (run_dir / "train_log.jsonl").read_text().splitlines()]


def test_per_category_and_per_task_losses_are_logged_and_plotted(tiny_base, tmp_path, caplog):
    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", steps=4, task_loss_every=2)
    cfg.train.logging = LoggingConfig(every=1, progress=False, plot=True)
    with caplog.at_level("INFO", logger="weprompt"):
        run_finetune(cfg)
    started = [r.getMessage() for r in caplog.records if "finetune start-up:" in r.getMessage()]
    stages = [m.split(":")[1].split(" in ")[0].split("(")[0].strip() for m in started]
    assert stages == ["bank and split", "leakage report", "training pools", "1 validation batches",
                      "held-out hooks"]  # the stages before the first step are not silent  # fmt: skip
    records = _records(tmp_path / "run")
    train = [r for r in records if r["kind"] == "train"]
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    from weprompt.bank import load_bank

    catalog, _ = load_bank(str(bank))
    categories = {catalog.task(t).category for t in split["train_tasks"]}
    assert all(set(r["loss_by_category"]) <= categories and r["loss_by_category"] for r in train)
    for r in train:  # the token-weighted mean of the categories is the step's loss
        total = sum(r["loss_by_category"][c] * r["tokens_by_category"][c] for c in r["loss_by_category"])
        assert abs(total / sum(r["tokens_by_category"].values()) - r["loss"]) < 1e-3
    detail = [r for r in records if r["kind"] == "group_loss"]
    assert [r["step"] for r in detail] == [2, 4]
    assert set().union(*(r["loss_by_group"] for r in detail)) <= set(split["train_tasks"])
    assert (tmp_path / "run" / "group_curves.png").stat().st_size > 1000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    acc.Reload()
    cat = next(iter(train[-1]["loss_by_category"]))
    assert [e.step for e in acc.Scalars(f"train/loss_by_category/{cat}")][-1] == 4
    assert acc.Scalars("group_loss/loss_by_group/" + next(iter(detail[-1]["loss_by_group"])))


def test_heldout_loss_and_accuracy_are_logged_at_every_validation_pass(tiny_base, tmp_path):
    from weprompt.eval.heldout_probe import rank_probe
    from weprompt.finetune_heldout import HeldOutConfig

    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", steps=4,
                               heldout=HeldOutConfig(val_batches=1, examples=3, prompts=2))  # fmt: skip
    cfg.train.eval.every = 2
    cfg.train.logging = LoggingConfig(every=1, progress=False, plot=True)
    run_finetune(cfg, probe_factory=rank_probe)
    heldout = [r for r in _records(tmp_path / "run") if r["kind"] == "heldout"]
    by_source = {s: [r for r in heldout if r["source"] == s] for s in ("heldout_loss", "heldout_accuracy")}
    assert [r["step"] for r in by_source["heldout_loss"]] == [2, 4]
    assert [r["step"] for r in by_source["heldout_accuracy"]] == [2, 4]
    for r in by_source["heldout_loss"]:
        assert r["metrics"]["loss"] > 0 and set(r["metrics"]) == {"loss", "loss/ocnli"}
    for r in by_source["heldout_accuracy"]:
        assert 0 <= r["metrics"]["ocnli"] <= 100 and r["metrics"]["mean"] == r["metrics"]["ocnli"]
    assert (tmp_path / "run" / "group_curves.png").stat().st_size > 1000


def test_heldout_accuracy_without_the_evaluator_is_an_error(tiny_base, tmp_path):
    from weprompt.common.errors import UserError
    from weprompt.finetune_heldout import HeldOutConfig

    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", heldout=HeldOutConfig(examples=3))
    with pytest.raises(UserError, match="needs the evaluator"):
        run_finetune(cfg)
