"""Packing: greedy vs best-fit-decreasing on the real mixture of a fine-tuning config.

Both strategies pack the same stream (the config's split, capped pools, mixing, seed, tokenizer of its base):
efficiency (real tokens / all tokens) and throughput (packed real tokens per second, sampling, rendering and
tokenising included), against the trainer's token consumption from a run's summary.json.

    python bench/bench_packing.py --config configs/finetune/cpu.yaml --sequences 300 \
        [--seq-len 2049] [--buffers 16 256 1024] [--trainer-summary runs/finetune/cpu/summary.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pretrain import checkpoint as ckpt
from pretrain.config import load_config
from pretrain.tokenizer import Tokenizer
from weprompt.finetune import FinetuneConfig
from weprompt.mixture_tools import _plan
from weprompt.packing import Packer
from weprompt.sampler import MultitaskSampler

Strategy = Literal["greedy", "best_fit"]


def run(
    cfg: FinetuneConfig, plan, tok: Tokenizer, strategy: Strategy, buffer: int, seq_len: int, sequences: int
) -> dict:
    sampler = MultitaskSampler(
        plan.pools, tok, cfg.sampler, weights=plan.weights
    )  # the same stream each time
    packing = replace(cfg.packing, strategy=strategy, buffer=buffer)
    packer = Packer(sampler, packing, tok.eos_id, tok.pad_id, seq_len=seq_len)
    for _ in range(5):  # warm-up: template compilation, the first blocks
        next(packer)
    real0, total0 = packer.stats.real_tokens, packer.stats.real_tokens + packer.stats.pad_tokens
    start = time.perf_counter()
    for _ in range(sequences):
        next(packer)
    seconds = time.perf_counter() - start
    real = packer.stats.real_tokens - real0
    total = packer.stats.real_tokens + packer.stats.pad_tokens - total0
    return {"strategy": strategy, "buffer": buffer, "seq_len": seq_len, "sequences": sequences,
            "efficiency": round(real / total, 5), "real_tokens_per_s": round(real / seconds),
            "seconds": round(seconds, 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/finetune/cpu.yaml")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--sequences", type=int, default=300)
    ap.add_argument("--seq-len", type=int, default=2049)
    ap.add_argument("--buffers", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--trainer-summary", help="a run's summary.json: its tokens_per_s is the consumption")
    ap.add_argument("--out", default="bench/results/packing.json")
    args = ap.parse_args()
    cfg = load_config(FinetuneConfig, args.config, args.set)
    tok = Tokenizer.load(ckpt.open_checkpoint(cfg.base) / ckpt.TOKENIZER_DIR)
    plan = _plan(cfg, tok)
    rows = [run(cfg, plan, tok, "greedy", 16, args.seq_len, args.sequences)]
    rows += [run(cfg, plan, tok, "best_fit", b, args.seq_len, args.sequences) for b in args.buffers]
    trainer_tps = None
    if args.trainer_summary:
        trainer_tps = json.loads(Path(args.trainer_summary).read_text())["tokens_per_s"]
    for r in rows:
        ratio = f"{r['real_tokens_per_s'] / trainer_tps:.0f}x the trainer" if trainer_tps else ""
        print(f"{r['strategy']:8s} buffer {r['buffer']:5d}: efficiency {r['efficiency']:.4f}, "
              f"{r['real_tokens_per_s']:,} real tokens/s {ratio}")  # fmt: skip
    out = {"command": " ".join(["python bench/bench_packing.py", *[f"--{k.replace('_', '-')} {v}" for k, v in
                                vars(args).items() if v not in (None, [])]]),  # fmt: skip
           "machine": platform.platform(), "trainer_tokens_per_s": trainer_tps, "rows": rows}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
