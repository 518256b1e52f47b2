"""Automatic loss-spike recovery (paper §3.2): a corrupted batch makes the loss jump; the trainer rolls back
to a checkpoint far enough before it, skips the following batches, lowers the learning rate, resets the loss
scale and writes an audit record, then trains on to the end."""

from __future__ import annotations

import json
import math

import pytest

from weprompt.common.config import from_dict
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.data_source import ShardBatchSource, TokenStream
from weprompt.pretrain.engine.config import SpikeConfig, TrainerConfig
from weprompt.pretrain.engine.optim import lr_at
from weprompt.pretrain.engine.spike import EVENTS_FILE, SpikeDetector, choose_rollback, rollback_anchor
from weprompt.pretrain.engine.synthetic import write_markov_shards
from weprompt.pretrain.engine.trainer import Trainer
from weprompt.pretrain.model import ModelConfig
from weprompt.pretrain.shards import TokenShards

MODEL = ModelConfig(vocab_size=256, n_layer=2, n_head=4, d_model=64, context_length=64)


def test_detector_rules():
    d = SpikeDetector(SpikeConfig(window=4, min_history=3, threshold=1.5))
    assert d.check(100.0) is None  # no history yet: nothing is a spike
    for x in (2.0, 2.2, 1.8):
        assert d.check(x) is None
        d.accept(x)
    assert d.check(2.9) is None  # 2.9 < 1.5 x 2.0
    assert "moving average" in d.check(3.1)
    assert "non-finite" in d.check(math.nan) and "non-finite" in d.check(math.inf)
    d2 = SpikeDetector(d.cfg)
    d2.load_state_dict(d.state_dict())
    assert d2.moving_average == d.moving_average


def test_noisy_loss_is_not_a_spike():
    # Target-only fine-tuning losses of a real single-task run (ChnSentiCorp, batch 8): the ratio rule alone
    # flagged 5.82 at an average of 3.66 and rolled the run back to its base.
    noisy = [6.48, 6.16, 3.19, 1.93, 1.58, 3.44, 5.15, 2.1, 4.7, 1.8]
    d = SpikeDetector(SpikeConfig(window=10, min_history=5, threshold=1.5))
    for x in noisy:
        d.accept(x)
    assert d.check(5.82) is None
    assert "moving std" in d.check(15.0)  # a real spike is still one
    ratio_only = SpikeDetector(SpikeConfig(window=10, min_history=5, threshold=1.5, min_sigmas=0.0))
    ratio_only.load_state_dict(d.state_dict())
    assert ratio_only.check(5.82) is not None


def test_rollback_choice():
    assert choose_rollback([0, 50, 100, 150, 200], 230, 100) == 100  # newest at least 100 steps back
    assert choose_rollback([150, 200], 230, 100) == 150  # none far enough: the oldest before the spike
    assert choose_rollback([], 230, 100) is None
    assert rollback_anchor([0, 50, 100, 150], 150, 100) == 50


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_injected_spike_rolls_back_skips_and_lowers_lr(tmp_path, grad_accum):
    shards = TokenShards(write_markov_shards(tmp_path / "shards", vocab_size=256, seed=0))
    spike_step = 25
    corrupt = [(spike_step - 1) * grad_accum + i for i in range(grad_accum)]  # all micro-batches of step 25
    run = tmp_path / "run"
    cfg = from_dict(TrainerConfig, {
        "run_dir": str(run), "seed": 7, "total_steps": 40, "micro_batch_size": 8 // grad_accum,
        "grad_accum": grad_accum, "num_threads": 2,
        "optim": {"max_lr": 3e-3, "warmup_steps": 5},
        "checkpoint": {"every": 5, "keep_last": 2},
        "spike": {"window": 10, "min_history": 5, "threshold": 1.2, "rollback_steps": 10, "skip_batches": 15,
                  "lr_factor": 0.5},
        "logging": {"every": 1, "progress": False, "plot": False},
    })  # fmt: skip
    source = ShardBatchSource(TokenStream(shards), cfg.micro_batch_size, 64, seed=7, vocab_size=256,
                              corrupt_batches=corrupt)  # fmt: skip
    result = Trainer(cfg, MODEL, source).fit()

    events = [json.loads(line) for line in (run / EVENTS_FILE).read_text().splitlines()]
    assert len(events) == 1, events
    ev = events[0]
    assert ev["step"] == spike_step and "moving average" in ev["reason"]
    assert ev["rollback_to_step"] == 15  # newest checkpoint at least 10 steps before the spike
    assert ev["data_state_at_checkpoint"]["index"] == 15 * grad_accum
    assert ev["data_state_after_skip"]["index"] == (15 + 15) * grad_accum  # 15 batches skipped
    assert ev["lr_scale_before"] == 1.0 and ev["lr_scale_after"] == 0.5
    assert result.spike_events == 1 and result.step == 40

    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    spike_at = next(i for i, r in enumerate(log) if r["kind"] == "spike")
    before, after = log[:spike_at], [r for r in log[spike_at + 1 :] if r["kind"] == "train"]
    assert [r["step"] for r in before if r["kind"] == "train"] == list(
        range(1, spike_step)
    )  # the spike step never stepped
    assert [r["step"] for r in after] == list(range(16, 41))  # replayed from the checkpoint
    for r in after:
        assert r["lr"] == pytest.approx(0.5 * lr_at(r["step"], cfg.optim, 40))
    assert all(r["loss"] < ev["loss"] for r in after)  # the corrupted batch was skipped: no second spike
    state = json.loads((ckpt.resolve(run) / "trainer_state.json").read_text())
    assert state["lr_scale"] == 0.5 and len(state["spike_events"]) == 1
    assert state["data_state_rank0"]["index"] == (40 + 15) * grad_accum


def test_spike_with_fp16_resets_loss_scale(tmp_path):
    shards = TokenShards(write_markov_shards(tmp_path / "shards", vocab_size=256, seed=0))
    small = ModelConfig(vocab_size=256, n_layer=1, n_head=2, d_model=32, context_length=32)
    run = tmp_path / "run"
    cfg = from_dict(TrainerConfig, {
        "run_dir": str(run), "seed": 3, "total_steps": 30, "micro_batch_size": 4, "precision": "fp16",
        "num_threads": 2, "optim": {"max_lr": 1e-2, "warmup_steps": 2},
        "loss_scale": {"initial_scale": 1024.0, "growth_interval": 2},
        "checkpoint": {"every": 4, "keep_last": 2},
        "spike": {"window": 6, "min_history": 4, "threshold": 1.05, "rollback_steps": 4, "skip_batches": 6},
        "logging": {"every": 1, "progress": False, "plot": False},
    })  # fmt: skip
    source = ShardBatchSource(TokenStream(shards), 4, 32, seed=3, vocab_size=256, corrupt_batches=[23])
    Trainer(cfg, small, source).fit()
    ev = json.loads((run / EVENTS_FILE).read_text().splitlines()[0])
    assert ev["step"] == 24 and ev["rollback_to_step"] == 20
    assert ev["loss_scale_before"] > 1024.0  # it had grown ...
    assert ev["loss_scale_after"] == 1024.0  # ... and is back at the initial scale
