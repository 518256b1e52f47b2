"""The training engine on CPU: schedule, optimizer groups, fp16 loss scaling, accumulation, golden curve,
logging, checkpoints, and the errors a user can cause."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from weprompt.common.config import ConfigError, from_dict
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.data_source import ShardBatchSource, TokenStream, validation_batches
from weprompt.pretrain.engine.backend import TorchBackend
from weprompt.pretrain.engine.config import LossScaleConfig, OptimConfig, TrainerConfig
from weprompt.pretrain.engine.distributed import DistEnv
from weprompt.pretrain.engine.optim import lr_at, param_groups
from weprompt.pretrain.engine.precision import DynamicLossScaler
from weprompt.pretrain.engine.pretrain import load_pretrain_config
from weprompt.pretrain.engine.synthetic import write_markov_shards
from weprompt.pretrain.engine.trainer import Trainer
from weprompt.pretrain.model import ModelConfig, WeLM
from weprompt.pretrain.shards import TokenShards

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "tiny_20steps.json"
REPO = Path(__file__).resolve().parents[2]
MODEL = ModelConfig(vocab_size=256, n_layer=2, n_head=4, d_model=64, context_length=64)


@pytest.fixture(scope="module")
def markov(tmp_path_factory) -> TokenShards:
    return TokenShards(
        write_markov_shards(tmp_path_factory.mktemp("markov") / "shards", vocab_size=256, seed=0)
    )


def trainer_cfg(run_dir: Path, **sections) -> TrainerConfig:
    base = {
        "run_dir": str(run_dir), "seed": 1234, "total_steps": 20, "micro_batch_size": 8, "num_threads": 2,
        "optim": {"max_lr": 3e-3, "warmup_steps": 5},
        "checkpoint": {"every": 0}, "spike": {"enabled": False},
        "logging": {"every": 1, "progress": False, "plot": False}, "eval": {"every": 0, "batches": 2},
    }  # fmt: skip
    for key, value in sections.items():
        base[key] = (
            {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return from_dict(TrainerConfig, base)


def make_source(shards: TokenShards, cfg: TrainerConfig, **kw) -> ShardBatchSource:
    return ShardBatchSource(TokenStream(shards), cfg.micro_batch_size, MODEL.context_length, seed=cfg.seed,
                            vocab_size=shards.vocab_size, eos_id=shards.eos_id, **kw)  # fmt: skip


def train_losses(run_dir: Path) -> list[float]:
    return [
        r["loss"]
        for r in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines())
        if r["kind"] == "train"
    ]


# -- schedule and optimizer ----------------------------------------------------------------------------


def test_lr_schedule_warmup_cosine_floor():
    o = OptimConfig(max_lr=1e-3, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(1, o, 110) == pytest.approx(1e-4)  # rises linearly from 0
    assert lr_at(10, o, 110) == pytest.approx(1e-3)  # peak at the end of warm-up
    assert lr_at(60, o, 110) == pytest.approx(1e-4 + 0.5 * 9e-4)  # half-way down the cosine
    assert lr_at(110, o, 110) == pytest.approx(1e-4)  # floor: 10 % of max
    assert lr_at(500, o, 110) == pytest.approx(1e-4)  # and stays there
    lrs = [lr_at(s, o, 110) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_weight_decay_on_matrices_only():
    m = WeLM(ModelConfig(vocab_size=50, n_layer=1, n_head=2, d_model=8, context_length=8, bias=True))
    decay, no_decay = param_groups(m, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))
    assert any(p is m.embed.weight for p in decay["params"])


# -- fp16 dynamic loss scaling (our torch path) -------------------------------------------------------


def test_loss_scaler_rules():
    s = DynamicLossScaler(LossScaleConfig(initial_scale=1024, growth_interval=3))
    assert s.update(True) and s.update(True) and s.scale == 1024
    assert s.update(True) and s.scale == 2048  # grows after growth_interval clean steps
    assert not s.update(False) and s.scale == 1024 and s.skipped_steps == 1  # halves and skips on overflow
    s.load_state_dict(s.state_dict() | {"scale": 8.0})
    s.reset()
    assert s.scale == 1024


def test_fp16_training_overflow_halves_and_skips(markov, tmp_path):
    """fp16 autocast on CPU with a start scale far too high: the first steps overflow and are skipped, the
    scale halves each time, then training proceeds and the scale grows again after clean steps."""
    small = ModelConfig(vocab_size=256, n_layer=1, n_head=2, d_model=32, context_length=32)
    cfg = trainer_cfg(tmp_path / "fp16", precision="fp16", total_steps=14, micro_batch_size=4,
                      loss_scale={"initial_scale": 2.0**20, "growth_interval": 3})  # fmt: skip
    source = ShardBatchSource(TokenStream(markov), 4, 32, seed=0)
    result = Trainer(cfg, small, source).fit()
    log = [json.loads(line) for line in (tmp_path / "fp16" / "train_log.jsonl").read_text().splitlines()]
    scales = [r["loss_scale"] for r in log if r["kind"] == "train"]
    assert result.skipped_steps >= 1
    assert log[-1]["skipped_steps"] == result.skipped_steps
    drops = [b / a for a, b in zip(scales, scales[1:], strict=False) if b < a]
    assert drops and all(d == 0.5 for d in drops)
    assert any(b == 2 * a for a, b in zip(scales, scales[1:], strict=False))  # grew after 3 clean steps
    losses = [r["loss"] for r in log if r["kind"] == "train"]
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]


# -- gradient accumulation -----------------------------------------------------------------------------


def test_grad_accumulation_equals_big_batch(markov, tmp_path):
    torch.manual_seed(0)
    model = WeLM(MODEL)
    x = torch.randint(0, 256, (8, 64))
    grads = []
    for accum in (1, 4):
        cfg = trainer_cfg(tmp_path, grad_accum=accum, optim={"grad_clip": 0.0})
        backend = TorchBackend(WeLM(MODEL), cfg, DistEnv())
        backend.module.load_state_dict(model.state_dict())
        for i in range(accum):
            part = x[i * 8 // accum : (i + 1) * 8 // accum]
            backend.forward_backward({"input_ids": part, "targets": part.roll(-1, 1)}, last=i == accum - 1)
        grads.append([p.grad.clone() for p in backend.params])
    for a, b in zip(*grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)


# -- golden loss curve (torchtitan-style) --------------------------------------------------------------


def test_golden_loss_curve(markov, tmp_path):
    """20 steps of a tiny model on seeded synthetic data. A change to the model, init, optimizer, schedule
    or data order moves these numbers; if the change is intended, regenerate with WEPROMPT_UPDATE_GOLDEN=1."""
    cfg = trainer_cfg(tmp_path / "golden")
    Trainer(cfg, MODEL, make_source(markov, cfg)).fit()
    losses = train_losses(tmp_path / "golden")
    assert len(losses) == 20
    if os.environ.get("WEPROMPT_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps({"config": "tests/pretrain/test_engine.py::trainer_cfg + MODEL, markov seed 0",
                                      "losses": losses}, indent=1) + "\n")  # fmt: skip
    golden = json.loads(GOLDEN.read_text())["losses"]
    # fp32 on CPU is deterministic; the tolerance absorbs BLAS differences between CPUs, not regressions.
    assert losses == pytest.approx(golden, abs=2e-3)
    assert losses[-1] < losses[0] - 0.5


# -- logging, summary, plot ----------------------------------------------------------------------------


def test_log_summary_and_plot(markov, tmp_path):
    run = tmp_path / "logged"
    cfg = trainer_cfg(run, total_steps=8, logging={"every": 4, "plot": True}, eval={"every": 4, "batches": 2},
                      checkpoint={"every": 4})  # fmt: skip
    stream = TokenStream(markov)
    val = validation_batches(stream, 8, 64, 2)
    hook_calls = []
    result = Trainer(cfg, MODEL, make_source(markov, cfg), val_batches=val,
                     metrics_hook=lambda step: hook_calls.append(step) or {"extra_metric": step * 2}).fit()  # fmt: skip
    records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [4, 8] and hook_calls == [4, 8]
    for key in ("loss", "lr", "grad_norm", "loss_scale", "tokens_per_s", "mfu", "extra_metric"):
        assert key in train[0]
    assert 0 < train[-1]["mfu"] < 1 and train[-1]["tokens"] == 8 * 8 * 64
    assert [r["step"] for r in records if r["kind"] == "eval"] == [4, 8]
    assert (run / "curves.png").stat().st_size > 1000
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 8 and summary["val_loss"] == pytest.approx(result.val_loss)
    assert result.tokens_per_s > 0 and result.peak_memory_mib > 0


# -- checkpoints -------------------------------------------------------------------------------------


def test_checkpoint_layout_keep_last_and_load_model(markov, tmp_path):
    run = tmp_path / "ck"
    cfg = trainer_cfg(run, total_steps=12, checkpoint={"every": 3, "keep_last": 2})
    trainer = Trainer(cfg, MODEL, make_source(markov, cfg))
    trainer.fit()
    steps = [s for s, _ in ckpt.list_checkpoints(run / "checkpoints")]
    assert steps == [9, 12]
    assert (run / "checkpoints" / "latest").read_text().strip() == "step_00000012"
    step_dir = run / "checkpoints" / "step_00000012"
    for name in ("model.pt", "optimizer.pt", "trainer_state.json", "model_config.yaml", "manifest.json",
                 "rank_states/rank_000.pt"):  # fmt: skip
        assert (step_dir / name).is_file(), name
    model, mcfg, tok = ckpt.load_model(run)
    assert mcfg == MODEL and tok is None
    live = trainer.backend.module.state_dict()
    assert all(torch.equal(v, live[k]) for k, v in model.state_dict().items())
    state = json.loads((step_dir / "trainer_state.json").read_text())
    assert state["step"] == 12 and state["data_state_rank0"]["index"] == 12


def test_interrupted_save_leaves_previous_checkpoint(markov, tmp_path):
    run = tmp_path / "crash"
    cfg = trainer_cfg(run, total_steps=4, checkpoint={"every": 2})
    Trainer(cfg, MODEL, make_source(markov, cfg)).fit()
    # a crash while writing step 6: a half-assembled temp dir, nothing renamed
    tmp = ckpt.begin(run / "checkpoints", 6)
    (tmp / "model.pt").write_bytes(b"partial")
    assert ckpt.resolve(run).name == "step_00000004"
    model, _, _ = ckpt.load_model(run)  # still loads
    cfg2 = trainer_cfg(run, total_steps=6, checkpoint={"every": 2})
    t2 = Trainer(cfg2, MODEL, make_source(markov, cfg2))
    assert t2.state.step == 4 and not tmp.exists()  # resumed from 4; the leftover was cleaned


# -- bad input -----------------------------------------------------------------------------------------


def test_corrupt_and_missing_checkpoints(markov, tmp_path):
    run = tmp_path / "bad"
    cfg = trainer_cfg(run, total_steps=2, checkpoint={"every": 1})
    Trainer(cfg, MODEL, make_source(markov, cfg)).fit()
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load_model(tmp_path / "nowhere")
    with pytest.raises(ckpt.CheckpointError, match="no checkpoint"):
        ckpt.load_model(tmp_path)
    model_pt = run / "checkpoints" / "step_00000002" / "model.pt"
    data = model_pt.read_bytes()
    model_pt.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ckpt.CheckpointError, match="model.pt is corrupt"):
        ckpt.load_model(run)
    with pytest.raises(ckpt.CheckpointError, match="corrupt or unreadable"):
        ckpt.load_model(run, verify_files=False)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # same size, one byte changed: only the hash can tell
    model_pt.write_bytes(bytes(flipped))
    with pytest.raises(ckpt.CheckpointError, match="sha256"):
        ckpt.load_model(run)
    # resuming from it refuses before anything is written
    before = sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file())
    cfg2 = trainer_cfg(run, total_steps=4, checkpoint={"every": 1})
    with pytest.raises(ckpt.CheckpointError, match="sha256"):
        Trainer(cfg2, MODEL, make_source(markov, cfg2))
    assert sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()) == before
    (run / "checkpoints" / "latest").write_text("step_00000099\n")
    with pytest.raises(ckpt.CheckpointError, match="not a checkpoint"):
        ckpt.load_model(run)


def test_resume_with_changed_shape_is_refused(markov, tmp_path):
    run = tmp_path / "shape"
    cfg = trainer_cfg(run, total_steps=2, checkpoint={"every": 1})
    Trainer(cfg, MODEL, make_source(markov, cfg)).fit()
    before = sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file())
    bigger = ModelConfig(vocab_size=256, n_layer=3, n_head=4, d_model=64, context_length=64)
    with pytest.raises(ckpt.CheckpointError, match="n_layer 2 -> 3"):
        Trainer(trainer_cfg(run, total_steps=4), bigger, make_source(markov, cfg))
    assert sorted((p, p.stat().st_mtime_ns) for p in run.rglob("*") if p.is_file()) == before
    with pytest.raises(Exception, match="already holds checkpoints"):
        Trainer(
            trainer_cfg(run, total_steps=4, checkpoint={"resume": "never"}), MODEL, make_source(markov, cfg)
        )


def test_init_from_takes_weights_only(markov, tmp_path):
    cfg = trainer_cfg(tmp_path / "base", total_steps=3)
    base = Trainer(cfg, MODEL, make_source(markov, cfg))
    base.fit()
    cfg2 = trainer_cfg(tmp_path / "ft", total_steps=1, init_from=str(tmp_path / "base"))
    ft = Trainer(cfg2, MODEL, make_source(markov, cfg2))
    assert ft.state.step == 0 and not ft.backend.optimizer.state  # fresh optimizer, fresh counters
    for k, v in base.backend.module.state_dict().items():
        assert torch.equal(v, ft.backend.module.state_dict()[k])


def test_config_errors_name_the_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  preset: cpu_tiny\ntrain:\n  optim:\n    max_lrr: 1.0e-3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'max_lrr'; did you mean 'max_lr'"):
        load_pretrain_config(bad)
    bad.write_text("trian:\n  total_steps: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'trian'; did you mean 'train'"):
        load_pretrain_config(bad)
    bad.write_text("model:\n  preset: cpu_tiny\n  n_layers: 3\n")
    with pytest.raises(ConfigError, match=r"'n_layers'; did you mean 'n_layer'"):
        load_pretrain_config(bad)
    with pytest.raises(ConfigError, match="max_lr must be > 0"):
        load_pretrain_config(None, ["train.optim.max_lr=0"])


def test_shipped_configs_load():
    for path in sorted((REPO / "configs" / "pretrain").glob("*.yaml")):
        cfg, _ = load_pretrain_config(path)
        assert cfg.train.optim.beta1 == 0.9 and cfg.train.optim.beta2 == 0.95 and cfg.train.optim.eps == 1e-8
        assert cfg.train.optim.min_lr_ratio == 0.1


def test_shards_of_another_tokenizer_are_refused(markov, small_tokenizer, tmp_path):
    from weprompt.pretrain.data_source import DataError
    from weprompt.pretrain.engine.pretrain import run_pretrain
    from weprompt.pretrain.engine.synthetic import write_text_shards
    from weprompt.pretrain.shards import ShardError

    tok_dir = tmp_path / "tok"
    small_tokenizer.save(tok_dir)
    sets = [f"data.tokenizer={tok_dir}", f"data.shards={markov.path}", f"train.run_dir={tmp_path / 'run'}"]
    cfg, vocab_given = load_pretrain_config(REPO / "configs/pretrain/tiny.yaml", sets)
    with pytest.raises(ShardError, match="made with tokenizer"):
        run_pretrain(cfg, vocab_given)
    shards = write_text_shards(tmp_path / "shards", small_tokenizer, ["一二三四五六七八九十" * 30] * 4)
    cfg, vocab_given = load_pretrain_config(
        REPO / "configs/pretrain/tiny.yaml", sets[:1] + [f"data.shards={shards}", "model.vocab_size=1000"]
    )
    with pytest.raises(DataError, match="smaller than the tokenizer's"):
        run_pretrain(cfg, vocab_given)
    assert not (tmp_path / "run").exists()


def test_cli_prints_one_line_errors(tmp_path, capsys):
    from weprompt.cli.main import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  total_step: 3\n")
    assert main(["pretrain", "--config", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown key 'total_step'; did you mean 'total_steps'" in err
    assert main(["pretrain", "--config", str(REPO / "configs/pretrain/tiny.yaml"), "--print-config"]) == 0
    assert "# parameters:" in capsys.readouterr().out


def test_tokenizer_snapshot_survives_a_rebuilt_source(markov, small_tokenizer, synth_texts, tmp_path):
    """A corpus rebuilt mid-run replaces the source tokenizer; checkpoints keep the one the run started with."""
    import shutil

    from weprompt.pretrain.tokenizer import Tokenizer, train_tokenizer

    tok_dir = tmp_path / "tok"
    small_tokenizer.save(tok_dir)
    run = tmp_path / "run"
    cfg = trainer_cfg(run, total_steps=6, checkpoint={"every": 3, "keep_last": 2})
    trainer = Trainer(cfg, MODEL, make_source(markov, cfg), tokenizer_dir=tok_dir,
                      tokenizer_fingerprint=small_tokenizer.fingerprint())  # fmt: skip
    other = train_tokenizer(synth_texts, tmp_path / "tok2", vocab_size=2500, seed=1, character_coverage=0.99)
    shutil.rmtree(tok_dir)
    other.save(tok_dir)
    trainer.fit()
    for _, step_dir in ckpt.list_checkpoints(run / "checkpoints"):
        assert Tokenizer.load(step_dir / "tokenizer").fingerprint() == small_tokenizer.fingerprint()
    # The snapshot is checked against the fingerprint a later run claims.
    (run / "checkpoints").rename(tmp_path / "moved")
    with pytest.raises(ckpt.CheckpointError, match=r"holds tokenizer .* token ids would mean different"):
        Trainer(cfg, MODEL, make_source(markov, cfg), tokenizer_dir=tok_dir,
                tokenizer_fingerprint=other.fingerprint())  # fmt: skip
