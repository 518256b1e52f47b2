"""WePrompt fine-tuning (paper §4.3): a base WeLM checkpoint + a held-out split → a WePrompt checkpoint.

Steps: build the split for the test tasks (the trainer refuses held-out tasks), check leakage
between training examples and the test tasks' evaluation examples, cap the pools, sample / render /
pack, and run the shared training engine from the base weights. The run directory records the
resolved config, the split (task list, template ids, hashes), the leakage report, the sampling
report and the checkpoints.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from weprompt.bank import load_bank, resolve_bank_dir
from weprompt.bank_review import PROMPT_SELECTIONS, selection_record
from weprompt.common.atomic import atomic_write_text
from weprompt.common.config import ConfigError, dump_config
from weprompt.common.errors import UserError
from weprompt.data import load_rows
from weprompt.finetune_data import BatchConfig, FinetuneBatches
from weprompt.finetune_heldout import HeldOutConfig, ProbeFactory, heldout_hooks, require_probe
from weprompt.leakage import LeakageError, LeakageReport, leakage_report
from weprompt.mixture import MixtureConfig, mixture_writer, plan_weights
from weprompt.packing import Packer, PackingConfig
from weprompt.pretrain.engine.config import OptimConfig, SpikeConfig, TrainerConfig
from weprompt.pretrain.engine.grouploss import GroupLogging
from weprompt.sampler import MultitaskSampler, SamplerConfig, build_pools, mixing_weights
from weprompt.sampling_report import sampling_report, write_sampling_report
from weprompt.splits import Split, build_split

if TYPE_CHECKING:
    from weprompt.catalog import Catalog
    from weprompt.pretrain.engine.trainer import TrainResult
    from weprompt.pretrain.model import ModelConfig
    from weprompt.pretrain.shards import TokenShards
    from weprompt.pretrain.tokenizer import Tokenizer


log = logging.getLogger(__name__)
SplitMode = Literal["strong", "weak", "all", "single"]


@dataclass
class LeakageConfig:
    n: int = 13  # character n-gram length
    sample: int = 1000  # training examples checked per task
    threshold: float = 0.01  # overlap rate above which a training task is an error
    allow: list[str] = field(default_factory=list)  # training tasks allowed above the threshold


def _finetune_trainer_defaults() -> TrainerConfig:
    # Paper §4.3: AdamW, lr 1e-4 (batch 2048 sequences and ~6 epochs at scale; CPU configs scale down).
    # Loss-spike recovery is a pretraining rule (paper §3.2) and is off here unless a config turns it on:
    # a loss on a few target tokens per micro-batch is noisy, the rule fired on that noise in a measured
    # single-task run and, with sparse checkpoints, rolled it back to step 0 at half the learning rate
    # (docs/experiments.md, "Designed CPU experiment").
    return TrainerConfig(
        run_dir="runs/finetune",
        optim=OptimConfig(max_lr=1e-4, warmup_steps=20),
        spike=SpikeConfig(enabled=False),
    )


@dataclass
class FinetuneConfig:
    base: str = "runs/base"  # base checkpoint (step dir, checkpoints dir or run dir)
    test_tasks: list[str] = field(default_factory=lambda: ["ocnli"])
    split: SplitMode = "strong"
    tokenizer: str | None = None  # optional: must match the base checkpoint's tokenizer
    epochs: float | None = None  # if set, overrides train.total_steps (paper: about 6 over the capped pools)
    data_dir: str | None = None
    bank_dir: str | None = None
    # Which bank prompts train: reviewed-and-approved (default; unreviewed prompts count as approved),
    # also those submitted for review, or all. The run records the selection in prompts.json.
    prompts: Literal["approved", "with_submitted", "all"] = "approved"
    sampler: SamplerConfig = field(default_factory=SamplerConfig)  # its seed also seeds the batches
    packing: PackingConfig = field(default_factory=PackingConfig)  # sequence length: the base's context + 1
    batch: BatchConfig = field(default_factory=BatchConfig)  # batch size: train.micro_batch_size
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    val_batches: int = 4  # multitask validation loss on the training tasks' own eval splits
    # Training loss per category goes into every train record; per task every this many steps (0: never).
    task_loss_every: int = 50
    # Held-out loss and accuracy at every validation pass (train.eval.every steps, and at the end).
    heldout: HeldOutConfig = field(default_factory=HeldOutConfig)
    mixture: MixtureConfig = field(default_factory=MixtureConfig)  # weights over categories / tasks
    train: TrainerConfig = field(default_factory=_finetune_trainer_defaults)

    def __post_init__(self) -> None:
        if self.task_loss_every < 0:
            raise ConfigError(f"task_loss_every must be >= 0 (0: never), got {self.task_loss_every}")
        if self.val_batches < 0:
            raise ConfigError(f"val_batches must be >= 0, got {self.val_batches}")


def _pools(cfg: FinetuneConfig, split: Split, bank, split_of) -> list:
    return build_pools(
        split.train_tasks,
        bank,
        lambda n: load_rows(n, split_of(n), cfg.data_dir),
        cfg.sampler.max_examples_per_task,
        cfg.sampler.seed,
        held_out=split.excluded,
    )


def planned_weights(cfg: FinetuneConfig, catalog: Catalog, split: Split, pools) -> list[float]:
    """The pools' draw probabilities: `sampler.mixing` shaped by `mixture`, checked against the split."""
    base = mixing_weights([len(p.rows) for p in pools], cfg.sampler)
    category_of = {n: t.category for n, t in catalog.tasks.items()}
    return plan_weights([p.name for p in pools], base, category_of, split.excluded, cfg.mixture)


def _sources(
    cfg: FinetuneConfig, split: Split, tok, seq_len: int, pools, seed: int, shards=None, weights=None
) -> FinetuneBatches:
    sampler = MultitaskSampler(
        pools, tok, replace(cfg.sampler, seed=seed), held_out=split.excluded, weights=weights
    )
    packer = Packer(sampler, cfg.packing, tok.eos_id, tok.pad_id, seq_len=seq_len)
    # Without shards (the validation batches) there is no pretraining mix: validation measures the tasks.
    batch = cfg.batch if shards is not None else replace(cfg.batch, warmup=replace(cfg.batch.warmup, steps=0))
    return FinetuneBatches(packer, batch, cfg.train.micro_batch_size, tok.eos_id, seed=seed, shards=shards)


BASE_HINT = (
    "make a base with `weprompt pretrain --config configs/pretrain/cpu.yaml` (writes runs/base), or run "
    "`weprompt quickstart` and pass --base runs/quickstart/base"
)


def run_finetune(
    cfg: FinetuneConfig, progress: bool = True, probe_factory: ProbeFactory | None = None
) -> dict:
    """Fine-tune `cfg.base`. The base is verified (manifest, sizes, sha256) and its weights checked against its
    config before anything is written; the run dir is locked against other processes for the whole run.
    `probe_factory` builds the held-out accuracy hook (weprompt.finetune_heldout; the CLI passes the evaluator's)."""
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.engine.distributed import launch_rank
    from weprompt.pretrain.engine.runlock import RunLock

    require_probe(cfg.heldout, probe_factory)
    base_dir = ckpt.open_checkpoint(cfg.base, hint=BASE_HINT)
    model_cfg = ckpt.read_model_config(base_dir)
    ckpt.check_weights(base_dir, model_cfg)
    lock = RunLock(cfg.train.run_dir, enabled=launch_rank() == 0).acquire()
    try:
        summary = _finetune(cfg, base_dir, model_cfg, probe_factory)
    except BaseException:
        lock.release(undo=True)  # the lock file and the run dir go again where nothing else was written
        raise
    lock.release()
    return summary


def _finetune(
    cfg: FinetuneConfig, base_dir: Path, model_cfg: ModelConfig, probe_factory: ProbeFactory | None
) -> dict:
    from weprompt.pretrain.engine.trainer import Trainer

    run_dir = Path(cfg.train.run_dir)
    stage = _Stages()
    tok, tok_dir = _base_tokenizer(cfg, base_dir, model_cfg)
    catalog, bank, split = _write_split(cfg, run_dir)
    stage.done(f"bank and split ({len(split.train_tasks)} training tasks)")
    _check_leakage(cfg, catalog, split, run_dir)
    stage.done("leakage report (training task files read)")
    seq_len = model_cfg.context_length + 1
    pools = _pools(cfg, split, bank, lambda n: "train")
    weights = planned_weights(cfg, catalog, split, pools)
    shards = _warmup_shards(cfg, tok)
    source = _sources(cfg, split, tok, seq_len, pools, cfg.sampler.seed, shards, weights)
    category_of = {n: t.category for n, t in catalog.tasks.items()}
    write_mixture = mixture_writer(source, [p.name for p in pools], weights, category_of, run_dir)
    stage.done(f"training pools ({sum(len(p.rows) for p in pools)} examples)")
    val_batches = _validation_batches(cfg, catalog, bank, split, tok, seq_len)
    stage.done(f"{len(val_batches)} validation batches")
    hooks = heldout_hooks(cfg, split.test_tasks, catalog, bank, tok, seq_len, probe_factory)
    stage.done(f"held-out hooks ({', '.join(hooks) or 'none'})")
    train_cfg = _train_config(cfg, base_dir, pools, tok, seq_len)
    trainer = Trainer(
        train_cfg,
        model_cfg,
        source,
        val_batches=val_batches,
        tokenizer_dir=tok_dir,
        tokenizer_fingerprint=tok.fingerprint(),
        metrics_hook=lambda step: source.metrics(),
        group_logging=GroupLogging(
            rollups={"category": {t: catalog.task(t).category for t in split.train_tasks}},
            detail_every=cfg.task_loss_every,
        ),
        eval_hooks=hooks,
        checkpoint_hook=write_mixture,
        run_meta={
            "kind": "weprompt",
            "split": cfg.split,
            "test_tasks": split.test_tasks,
            "train_tasks": split.train_tasks,
            "base": str(base_dir),
        },
    )
    result = trainer.fit()
    write_mixture(result.step)
    report = _write_sampling_report(source, split, bank, run_dir)
    return _write_summary(cfg, split, result, report, run_dir)


class _Stages:
    """Logs each start-up stage as it ends, with its seconds (the run is silent until the first step else)."""

    def __init__(self) -> None:
        self.start = self.last = time.perf_counter()

    def done(self, what: str) -> None:
        now = time.perf_counter()
        log.info("finetune start-up: %s in %.1fs (%.1fs so far)", what, now - self.last, now - self.start)
        self.last = now


def _base_tokenizer(cfg: FinetuneConfig, base_dir: Path, model_cfg: ModelConfig) -> tuple[Tokenizer, Path]:
    """The base checkpoint's tokenizer, checked against `cfg.tokenizer` and the model's vocabulary."""
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.tokenizer import Tokenizer

    tok_dir = base_dir / ckpt.TOKENIZER_DIR
    if not tok_dir.is_dir():
        raise UserError(f"base checkpoint {base_dir} holds no tokenizer/ directory")
    tok = Tokenizer.load(tok_dir)
    if cfg.tokenizer and Tokenizer.load(cfg.tokenizer).fingerprint() != tok.fingerprint():
        raise UserError(
            f"tokenizer {cfg.tokenizer} differs from the base checkpoint's ({tok_dir}); "
            "fine-tune with the tokenizer the base was trained with"
        )
    if tok.vocab_size != model_cfg.vocab_size:
        raise UserError(
            f"base {base_dir}: tokenizer has {tok.vocab_size} pieces, the model {model_cfg.vocab_size}"
        )
    return tok, tok_dir


def _write_split(cfg: FinetuneConfig, run_dir: Path) -> tuple[Catalog, dict, Split]:
    """The bank and the held-out split; the split and the resolved config go into the run dir."""
    statuses = PROMPT_SELECTIONS[cfg.prompts]
    catalog, bank = load_bank(cfg.bank_dir, statuses=statuses)
    split = build_split(catalog, bank, cfg.test_tasks, cfg.split, cfg.data_dir)
    if not split.train_tasks:
        raise UserError(f"split '{cfg.split}' has no training task")
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "split.json", json.dumps(split.to_dict(), ensure_ascii=False, indent=1))
    trained = {n: bank[n] for n in split.train_tasks}
    record = selection_record(trained, resolve_bank_dir(cfg.bank_dir), statuses)
    atomic_write_text(run_dir / "prompts.json", json.dumps(record, ensure_ascii=False, indent=1))
    dump_config(cfg, run_dir / "finetune_config.yaml")
    return catalog, bank, split


def _catalog_and_split(cfg: FinetuneConfig) -> tuple[Catalog, Split]:
    catalog, bank = load_bank(cfg.bank_dir, statuses=PROMPT_SELECTIONS[cfg.prompts])
    return catalog, build_split(catalog, bank, cfg.test_tasks, cfg.split, cfg.data_dir)


def gate_report(cfg: FinetuneConfig) -> LeakageReport:
    """The leakage report `cfg`'s run would gate on, computed without writing anything."""
    return _leakage(cfg, *_catalog_and_split(cfg))


def recheck_leakage(cfg: FinetuneConfig) -> None:
    """The leakage gate alone, for a finished run whose `leakage` settings changed. The gate decides whether
    a run may train, never what it trains on, so such a run needs the gate passed again, not retraining."""
    _check_leakage(cfg, *_catalog_and_split(cfg), Path(cfg.train.run_dir))


def _leakage(cfg: FinetuneConfig, catalog: Catalog, split: Split) -> LeakageReport:
    lc = cfg.leakage
    tests = split.test_tasks if cfg.split not in ("all", "single") else []
    return leakage_report(
        catalog,
        tests,
        split.train_tasks,
        lc.n,
        lc.sample,
        lc.threshold,
        lc.allow,
        cfg.sampler.seed,
        cfg.data_dir,
    )


def _check_leakage(cfg: FinetuneConfig, catalog: Catalog, split: Split, run_dir: Path) -> None:
    """Write the leakage report; raise before any training when a training task is above the threshold."""
    leak = _leakage(cfg, catalog, split)
    atomic_write_text(run_dir / "leakage.json", json.dumps(leak.__dict__, ensure_ascii=False, indent=1))
    if leak.errors:
        raise LeakageError(
            "leakage above the threshold:\n  "
            + "\n  ".join(leak.errors)
            + f"\n(full report: {run_dir / 'leakage.json'}; set leakage.allow to accept)"
        )


def _warmup_shards(cfg: FinetuneConfig, tok: Tokenizer) -> TokenShards | None:
    """The pretraining token shards mixed in during warm-up, or None when there is no warm-up mix."""
    if cfg.batch.warmup.steps <= 0:
        return None
    from weprompt.pretrain.shards import TokenShards

    return TokenShards(cfg.batch.warmup.shards or "runs/corpus/shards", expect_fingerprint=tok.fingerprint())


def _validation_batches(cfg: FinetuneConfig, catalog: Catalog, bank, split: Split, tok, seq_len: int) -> list:
    """A fixed set of batches from the training tasks' own evaluation splits (validation, else test)."""

    def eval_split(name: str) -> str:
        t = catalog.task(name)
        return "validation" if "validation" in t.splits else ("test" if "test" in t.splits else "train")

    val_pools = _pools(cfg, split, bank, eval_split)
    val_source = _sources(cfg, split, tok, seq_len, val_pools, cfg.sampler.seed + 7919)
    return [val_source.next_batch() for _ in range(cfg.val_batches)]


def _train_config(cfg: FinetuneConfig, base_dir: Path, pools, tok, seq_len: int) -> TrainerConfig:
    """`cfg.train` with the base as `init_from` and `epochs` turned into steps; `cfg` is left as it was."""
    steps = _steps_for_epochs(cfg, cfg.epochs, pools, tok, seq_len) if cfg.epochs else cfg.train.total_steps
    return replace(cfg.train, total_steps=steps, init_from=str(base_dir))


def _write_sampling_report(source: FinetuneBatches, split: Split, bank, run_dir: Path) -> dict:
    names = {t.id: t.name for n in split.train_tasks for t in bank[n].templates}
    sampler = source.packer.source
    report = sampling_report(sampler.stats, source.packer.stats, sampler.epoch, names)
    write_sampling_report(report, run_dir)
    return report


def _write_summary(
    cfg: FinetuneConfig, split: Split, result: TrainResult, report: dict, run_dir: Path
) -> dict:
    summary = {
        "run_dir": str(run_dir),
        "split": cfg.split,
        "test_tasks": split.test_tasks,
        "train_tasks": len(split.train_tasks),
        "steps": result.step,
        "final_loss": result.final_loss,
        "val_loss": result.val_loss,
        "tokens_per_s": result.tokens_per_s,
        "packing_efficiency": report["packing_efficiency"],
        "epochs": report["epochs_over_capped_pools"],
        "checkpoint": result.checkpoint,
    }
    atomic_write_text(run_dir / "finetune_summary.json", json.dumps(summary, ensure_ascii=False, indent=1))
    return summary


def _steps_for_epochs(cfg: FinetuneConfig, epochs: float, pools, tok, seq_len: int) -> int:
    """Optimizer steps for `epochs` (`cfg.epochs`) passes over the capped pools, from the measured mean example size."""
    probe = MultitaskSampler(pools, tok, replace(cfg.sampler, seed=cfg.sampler.seed + 1))
    sizes = [len(e.input_ids) + len(e.target_ids) + 1 for e in (next(probe) for _ in range(512))]
    tokens_per_example = sum(sizes) / len(sizes)
    examples = sum(len(p.rows) for p in pools)
    per_step = seq_len * cfg.train.micro_batch_size * cfg.train.grad_accum
    return max(1, math.ceil(epochs * examples * tokens_per_example / per_step))
