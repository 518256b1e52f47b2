"""`weprompt pretrain`: config → tokenizer + shards → batch source → Trainer → base checkpoint.

The YAML has three sections: `model` (a ModelConfig, optionally starting from `preset: <name>`), `data`
(shards, tokenizer, validation split) and `train` (a TrainerConfig). See configs/pretrain/*.yaml.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from weprompt.common.config import (
    ConfigError,
    apply_override,
    blame_override,
    dump_config,
    from_dict,
    read_yaml_mapping,
    to_dict,
)
from weprompt.pretrain.engine.config import TrainerConfig
from weprompt.pretrain.model import ModelConfig, preset


@dataclass
class DataConfig:
    shards: str = "runs/corpus/shards"  # a TokenShards directory
    tokenizer: str = "runs/corpus/tokenizer"  # the tokenizer the shards were made with (fingerprint checked)
    val_fraction: float = 0.005  # whole documents held out for validation (seeded split)
    split_seed: int = 0
    sampling: Literal["random", "sequential"] = "random"
    doc_mask: bool = False  # block-diagonal attention + position reset per packed document
    corrupt_batches: list[int] = field(default_factory=list)  # fault injection: micro-batches turned to noise


@dataclass
class PretrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainerConfig = field(default_factory=TrainerConfig)


@dataclass
class _Sections:
    """First pass: only the top-level keys are checked here; each section is checked by its own class."""

    model: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    train: dict[str, Any] | None = None


def load_pretrain_config(
    path: str | os.PathLike | None, overrides: list[str] | None = None
) -> tuple[PretrainConfig, bool]:
    """The config, and whether `model.vocab_size` was given (otherwise it comes from the tokenizer)."""
    data = read_yaml_mapping(path)
    for o in overrides or []:
        apply_override(data, o)
    try:
        return _build_config(data, str(path) if path else "config")
    except ConfigError as e:
        blamed = blame_override(e, overrides)
        if blamed is e:
            raise
        raise blamed from e


def _build_config(data: dict, where: str) -> tuple[PretrainConfig, bool]:
    raw = from_dict(_Sections, data, where)
    model = dict(raw.model or {})
    name = model.pop("preset", None)
    vocab_given = "vocab_size" in model
    if name is not None and not isinstance(name, str):
        detail = f"model.preset: expected a preset name, got {name!r}"
        raise ConfigError(f"{where}.{detail}", ("model", "preset"), detail)
    merged = {**(to_dict(preset(name)) if name else {}), **model}
    sections = {"model": merged, "data": raw.data or {}, "train": raw.train or {}}
    return from_dict(PretrainConfig, sections, where), vocab_given


def run_pretrain(cfg: PretrainConfig, vocab_given: bool = True):
    """Train (or resume) the base model described by `cfg`; returns the TrainResult."""
    from weprompt.pretrain.data_source import (
        DataError,
        ShardBatchSource,
        TokenStream,
        unigram_baseline,
        validation_batches,
    )
    from weprompt.pretrain.engine.distributed import setup
    from weprompt.pretrain.engine.trainer import Trainer
    from weprompt.pretrain.shards import TokenShards
    from weprompt.pretrain.tokenizer import Tokenizer

    tok = Tokenizer.load(cfg.data.tokenizer)
    shards = TokenShards(cfg.data.shards, expect_fingerprint=tok.fingerprint())
    if shards.vocab_size != tok.vocab_size or shards.eos_id != tok.eos_id:
        raise DataError(
            f"{cfg.data.shards}: vocab_size {shards.vocab_size} / eos {shards.eos_id} do not match the tokenizer "
            f"{cfg.data.tokenizer} ({tok.vocab_size} / {tok.eos_id})"
        )
    model_cfg = cfg.model
    if not vocab_given:
        model_cfg = dataclasses.replace(model_cfg, vocab_size=tok.vocab_size)
    elif model_cfg.vocab_size < tok.vocab_size:
        raise DataError(
            f"model.vocab_size {model_cfg.vocab_size} is smaller than the tokenizer's {tok.vocab_size}; "
            "leave model.vocab_size out to take the tokenizer's"
        )
    cfg = dataclasses.replace(cfg, model=model_cfg)
    split = shards.split(cfg.data.val_fraction, seed=cfg.data.split_seed)
    train_stream, val_stream = TokenStream(shards, split.train), TokenStream(shards, split.val)
    t = cfg.train
    env = setup(t.deepspeed.enabled)
    source = ShardBatchSource(
        train_stream, batch_size=t.micro_batch_size, seq_len=model_cfg.context_length, seed=t.seed,
        rank=env.rank, world_size=env.world_size, sampling=cfg.data.sampling, doc_mask=cfg.data.doc_mask,
        eos_id=tok.eos_id, vocab_size=tok.vocab_size, corrupt_batches=list(cfg.data.corrupt_batches),
    )  # fmt: skip
    val = validation_batches(
        val_stream,
        t.micro_batch_size,
        model_cfg.context_length,
        t.eval.batches,
        cfg.data.doc_mask,
        tok.eos_id,
    )
    meta = {
        "train_tokens": train_stream.num_tokens,
        "val_tokens": val_stream.num_tokens,
        "val_eval_tokens": sum(int(b["targets"].numel()) for b in val),
        "train_documents": len(split.train),
        "val_documents": len(split.val),
        "unigram_val_loss": unigram_baseline(train_stream, val, tok.vocab_size),
        "num_parameters": model_cfg.num_parameters_formula(),
        "tokenizer": str(Path(cfg.data.tokenizer)),
        "shards": str(Path(cfg.data.shards)),
        "tokenizer_fingerprint": tok.fingerprint(),
    }
    trainer = Trainer(
        t, model_cfg, source, val_batches=val, tokenizer_dir=cfg.data.tokenizer,
        tokenizer_fingerprint=tok.fingerprint(), run_meta=meta, env=env,
    )  # fmt: skip
    if env.is_main:
        dump_config(cfg, Path(t.run_dir) / "config.yaml")
    try:
        return trainer.fit(), meta
    finally:
        trainer.close()
