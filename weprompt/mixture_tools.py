"""`weprompt mixture show` and `weprompt mixture export`: a fine-tuning config's mixture without training.

show: the planned shares (mixing policy shaped by `mixture`, checked against the split) and the realised
mixture of the first `sequences` packed sequences, drawn exactly as training would draw them.

export: the first `examples` draws of the same stream (capped pools, the same seed), rendered, as
    jsonl:       {"input", "target", "task", "category", "template_id", "template_name"} per line
    llamafactory: LLaMA-Factory's alpaca-style records ({"instruction", "input", "output"} plus the same
                 task / category / template columns, which its loader ignores) in `<name>.jsonl`, and
                 `dataset_info.json` with the dataset's entry (file_name, formatting, columns).
Nothing of the held-out split is exported: the sampler refuses held-out tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from weprompt.bank import load_bank
from weprompt.common.atomic import atomic_write_text
from weprompt.data import load_split
from weprompt.finetune import FinetuneConfig, planned_weights
from weprompt.mixture import planned_table, realised_table
from weprompt.packing import Packer
from weprompt.sampler import MultitaskSampler, build_pools
from weprompt.splits import build_split

LLAMAFACTORY_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}


@dataclass
class _Plan:
    pools: list
    weights: list[float]
    category_of: dict[str, str]
    templates: dict[str, str]  # template id -> name
    sampler: MultitaskSampler


def _plan(cfg: FinetuneConfig, tokenizer=None) -> _Plan:
    catalog, bank = load_bank(cfg.bank_dir)
    split = build_split(catalog, bank, cfg.test_tasks, cfg.split, cfg.data_dir)
    pools = build_pools(
        split.train_tasks,
        bank,
        lambda n: load_split(n, "train", cfg.data_dir),
        cfg.sampler.max_examples_per_task,
        cfg.sampler.seed,
        held_out=split.excluded,
    )
    weights = planned_weights(cfg, catalog, split, pools)
    sampler = MultitaskSampler(
        pools, tokenizer, replace(cfg.sampler), held_out=split.excluded, weights=weights
    )
    category_of = {n: t.category for n, t in catalog.tasks.items()}
    templates = {t.id: t.name for p in pools for t in p.templates}
    return _Plan(pools, weights, category_of, templates, sampler)


def show_mixture(cfg: FinetuneConfig, tokenizer, seq_len: int, sequences: int) -> dict:
    """{"planned": ..., "realised": ...} for the first `sequences` packed sequences of `cfg`'s stream."""
    plan = _plan(cfg, tokenizer)
    packer = Packer(plan.sampler, cfg.packing, tokenizer.eos_id, tokenizer.pad_id, seq_len=seq_len)
    for _ in range(sequences):
        next(packer)
    prompts = {
        f"{k.partition('/')[0]}/{plan.templates.get(k.partition('/')[2], k)}": n
        for k, n in plan.sampler.stats.prompts.items()
    }
    realised = realised_table(
        packer.stats.examples_per_task, packer.stats.tokens_per_task, prompts, plan.category_of
    )
    realised["packing_efficiency"] = round(packer.stats.efficiency, 5)
    realised["sequences"] = sequences
    return {"planned": planned_table([p.name for p in plan.pools], plan.weights, plan.category_of),
            "realised": realised}  # fmt: skip


def export_mixture(
    cfg: FinetuneConfig, out_dir: Path, fmt: Literal["jsonl", "llamafactory"], examples: int, name: str
) -> list[Path]:
    """Write the first `examples` rendered draws of `cfg`'s stream to `out_dir` in `fmt`; the files written."""
    plan = _plan(cfg)
    rows = []
    for task, tid, text, target in plan.sampler.rendered(examples):
        meta = {"task": task, "category": plan.category_of[task], "template_id": tid,
                "template_name": plan.templates.get(tid, tid)}  # fmt: skip
        if fmt == "jsonl":
            rows.append({"input": text, "target": target, **meta})
        else:
            rows.append({"instruction": text, "input": "", "output": target, **meta})
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / f"{name}.jsonl"
    atomic_write_text(data, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    if fmt == "jsonl":
        return [data]
    entry = {name: {"file_name": data.name, "formatting": "alpaca", "columns": dict(LLAMAFACTORY_COLUMNS)}}
    info = out_dir / "dataset_info.json"
    atomic_write_text(info, json.dumps(entry, ensure_ascii=False, indent=2) + "\n")
    return [data, info]
