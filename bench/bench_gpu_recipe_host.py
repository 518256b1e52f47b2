"""The GPU recipe's host-side costs, measured on the CPU: can the data path feed an H100, and what does a
fine-tuning unit cost besides its steps? (The GPU side of experiments/gpu_h100.yaml is an estimate.)

    python bench/bench_gpu_recipe_host.py --shards runs/corpus/shards --base runs/quickstart/base

1. pretraining batches: `ShardBatchSource` at the recipe's micro-batch × context (32 × 1024), tokens/s;
2. fine-tuning batches: the recipe's strong_nli mixture (real bank and data), sampled, rendered, tokenised and
   packed to the base's context + 1 = 1025 (`FinetuneBatches`, the trainer's source), tokens/s;
3. a unit's fixed cost: real `run_finetune`s of the recipe's strong_nli and weak_ocnli units, one after the
   other in one process, on `--base` (a CPU base; the recipe's other settings, 2 steps of 2 sequences): wall
   time minus training time. The first unit loads the task data; later ones find it in the process's cache.
The trainer pulls batches synchronously, so 1 and 2 add to each step's GPU time unless they are much faster.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pretrain_batches(shards: str, batches: int) -> float:
    from weprompt.pretrain.data_source import ShardBatchSource, TokenStream
    from weprompt.pretrain.shards import TokenShards

    ts = TokenShards(shards)
    src = ShardBatchSource(TokenStream(ts), batch_size=32, seq_len=1024, seed=0, eos_id=ts.eos_id,
                           vocab_size=ts.vocab_size)  # fmt: skip
    src.next_batch()
    start = time.perf_counter()
    for _ in range(batches):
        src.next_batch()
    return batches * 32 * 1024 / (time.perf_counter() - start)


def _unit(base: str, run_dir: Path, name: str = "strong_nli"):
    from weprompt.catalog import load_catalog
    from weprompt.eval.experiment import _unit_config, load_experiment, plan_units

    exp = load_experiment(REPO / "experiments" / "gpu_h100.yaml", [f"base={base}", "test_tasks=[ocnli]"])
    unit = next(u for u in plan_units(exp, load_catalog()) if u.name == name)
    return _unit_config(exp, unit, run_dir)


def finetune_batches(base: str, shards: str, batches: int) -> float:
    from weprompt.bank import load_bank
    from weprompt.finetune import _pools, _sources, planned_weights
    from weprompt.pretrain import checkpoint as ckpt
    from weprompt.pretrain.shards import TokenShards
    from weprompt.pretrain.tokenizer import Tokenizer
    from weprompt.splits import build_split

    cfg = _unit(base, Path(tempfile.mkdtemp()))
    tok = Tokenizer.load(ckpt.open_checkpoint(base) / ckpt.TOKENIZER_DIR)
    catalog, bank = load_bank(cfg.bank_dir)
    split = build_split(catalog, bank, cfg.test_tasks, cfg.split, cfg.data_dir)
    pools = _pools(cfg, split, bank, lambda n: "train")
    weights = planned_weights(cfg, catalog, split, pools)
    src = _sources(cfg, split, tok, 1025, pools, 0, TokenShards(shards), weights)
    for _ in range(cfg.batch.warmup.steps + 1):  # past the warm-up mix and template compilation
        src.next_batch()
    start = time.perf_counter()
    for _ in range(batches):
        src.next_batch()
    return batches * cfg.train.micro_batch_size * 1025 / (time.perf_counter() - start)


def unit_fixed_cost(base: str) -> list[dict]:
    """strong_nli then weak_ocnli in one process, as `weprompt experiment` runs its units: the first pays
    for loading the task data (cached in the process), the second shows what every later unit costs."""
    from weprompt.eval.heldout_probe import rank_probe
    from weprompt.finetune import run_finetune

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("strong_nli", "weak_ocnli"):
            cfg = _unit(base, Path(tmp) / name, name)
            cfg.train.total_steps, cfg.train.micro_batch_size = 2, 2
            cfg.train.logging.progress = cfg.train.logging.plot = False
            start = time.perf_counter()
            run_finetune(cfg, progress=False, probe_factory=rank_probe)
            wall = time.perf_counter() - start
            train = json.loads((Path(tmp) / name / "summary.json").read_text())["train_seconds"]
            rows.append({"unit": name, "wall_s": round(wall, 1), "train_s": round(train, 2),
                         "fixed_s": round(wall - train, 1)})  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", default="runs/corpus/shards")
    ap.add_argument(
        "--base", default="runs/quickstart/base", help="a CPU base (its tokenizer is the corpus's)"
    )
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--out", default="bench/results/gpu_recipe_host.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(2)
    out = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_before": os.getloadavg(),
        "pretrain_batch_tokens_per_s": round(pretrain_batches(args.shards, args.batches)),
        "finetune_batch_tokens_per_s": round(finetune_batches(args.base, args.shards, args.batches)),
        "unit_fixed_cost": unit_fixed_cost(args.base),
        "load_average_after": os.getloadavg(),
    }
    text = json.dumps(out, indent=1)
    sys.stdout.write(text + "\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
