"""Held-out evaluation during fine-tuning: is zero-shot transfer appearing?

At every validation pass of the trainer (`train.eval.every` steps, and at the end) two extra measurements
go into the run's log as "heldout" records, and into `group_curves.png`:

- `heldout_loss`: the loss on a fixed set of packed, prompted examples of the held-out test tasks'
  evaluation splits (overall and per task). Needs nothing beyond this package.
- `heldout_accuracy`: rank classification of a small fixed sample (the first `examples` rows of each
  test task's evaluation split, the first `prompts` usable prompts), median over prompts, as the
  evaluator scores it. The evaluator lives in a higher layer (`eval`), so this package never imports it:
  whoever starts the run (the CLI, the experiment runner) injects a `ProbeFactory` that builds the hook.
  Asking for accuracy (`heldout.examples > 0`) without one is an error, not a silent no-op.

The held-out tasks are read here only for evaluation; the training sampler still refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import torch.nn as nn

from weprompt.common.config import ConfigError
from weprompt.common.errors import UserError
from weprompt.data import load_rows
from weprompt.finetune_data import FinetuneBatches
from weprompt.packing import Packer
from weprompt.pretrain.engine.grouploss import GroupLossMeter, model_loss
from weprompt.sampler import MultitaskSampler, build_pools

if TYPE_CHECKING:
    from weprompt.finetune import FinetuneConfig
    from weprompt.pretrain.engine.trainer import EvalHook


@dataclass
class HeldOutConfig:
    val_batches: int = 2  # batches of the held-out tasks' prompted eval examples for the loss (0: none)
    examples: int = 0  # rank-classification accuracy on this many examples a prompt (0: none)
    prompts: int = 3  # ... with this many prompts a task (median over them)

    def __post_init__(self) -> None:
        for key in ("val_batches", "examples", "prompts"):
            if getattr(self, key) < 0:
                raise ConfigError(f"heldout.{key} must be >= 0, got {getattr(self, key)}")


@dataclass
class ProbeRequest:
    """What a probe factory needs to build the held-out accuracy hook."""

    tasks: list[str]
    tokenizer: object  # pretrain.tokenizer.Tokenizer
    context_length: int
    examples: int
    prompts: int
    seed: int
    bank_dir: str | None
    data_dir: str | None


ProbeFactory = Callable[[ProbeRequest], "EvalHook"]


def require_probe(hc: HeldOutConfig, probe_factory: ProbeFactory | None) -> None:
    if hc.examples and probe_factory is None:
        raise UserError(
            "heldout.examples > 0 asks for held-out accuracy during training, which needs the evaluator: "
            "run `weprompt finetune` / `weprompt experiment`, or pass probe_factory (eval.heldout_probe)"
        )


def heldout_hooks(
    cfg: FinetuneConfig,
    tasks: list[str],
    catalog,
    bank,
    tok,
    seq_len: int,
    probe_factory: ProbeFactory | None,
) -> dict[str, EvalHook]:
    """The trainer's eval hooks for `tasks` (the split's test tasks) as `cfg.heldout` asks."""
    hc = cfg.heldout
    hooks: dict[str, EvalHook] = {}
    require_probe(hc, probe_factory)
    if hc.val_batches and tasks:
        batches, names = heldout_batches(cfg, tasks, catalog, bank, tok, seq_len)
        if batches:
            hooks["heldout_loss"] = lambda module: loss_metrics(module, batches, names)
    if hc.examples and tasks and probe_factory is not None:
        request = ProbeRequest(tasks, tok, seq_len - 1, hc.examples, hc.prompts, cfg.sampler.seed,
                               cfg.bank_dir, cfg.data_dir)  # fmt: skip
        hooks["heldout_accuracy"] = probe_factory(request)
    return hooks


def heldout_batches(
    cfg: FinetuneConfig, tasks: list[str], catalog, bank, tok, seq_len: int
) -> tuple[list[dict], list[str]]:
    """A fixed set of packed batches of the held-out tasks' prompted evaluation examples (no pretraining mix),
    and the names of their loss groups (the tasks with prompts in the bank)."""

    def rows(name: str):
        return load_rows(name, catalog.task(name).eval_split, cfg.data_dir, catalog=catalog)

    usable = [t for t in tasks if t in bank and bank[t].templates]
    if not usable:
        return [], []
    pools = build_pools(usable, bank, rows, cfg.sampler.max_examples_per_task, cfg.sampler.seed)
    seed = cfg.sampler.seed + 104729
    sampler = MultitaskSampler(pools, tok, replace(cfg.sampler, seed=seed))  # evaluation: no held-out guard
    packer = Packer(sampler, cfg.packing, tok.eos_id, tok.pad_id, seq_len=seq_len)
    batch_cfg = replace(cfg.batch, warmup=replace(cfg.batch.warmup, steps=0))
    source = FinetuneBatches(packer, batch_cfg, cfg.train.micro_batch_size, tok.eos_id, seed=seed)
    return [source.next_batch() for _ in range(cfg.heldout.val_batches)], source.loss_group_names


def loss_metrics(module: nn.Module, batches: list[dict], names: list[str]) -> dict[str, float]:
    """{"loss": mean batch loss, "loss/<task>": mean token loss of each task} over `batches`."""
    device = next(module.parameters()).device
    meter = GroupLossMeter()
    total = 0.0
    for batch in batches:
        loss, part = model_loss(module, {k: v.to(device) for k, v in batch.items()})
        total += float(loss)
        if part is not None:
            meter.add(part)
    per_task, _ = meter.summary(names)
    out = {"loss": round(total / max(1, len(batches)), 5)}
    out.update({f"loss/{k}": v for k, v in per_task.items()})
    return out
