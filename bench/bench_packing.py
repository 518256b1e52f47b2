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
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Literal

from weprompt.common.config import load_config
from weprompt.finetune import FinetuneConfig
from weprompt.mixture_tools import _plan
from weprompt.packing import Packer
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.tokenizer import Tokenizer
from weprompt.sampler import MultitaskSampler

Strategy = Literal["greedy", "best_fit"]


class Arm:
    """One strategy packing its own copy of the stream (the same seed, so the same draws)."""

    def __init__(
        self, cfg: FinetuneConfig, plan, tok: Tokenizer, strategy: Strategy, buffer: int, seq_len: int
    ):
        sampler = MultitaskSampler(plan.pools, tok, cfg.sampler, weights=plan.weights)
        packing = replace(cfg.packing, strategy=strategy, buffer=buffer)
        self.packer = Packer(sampler, packing, tok.eos_id, tok.pad_id, seq_len=seq_len)
        self.strategy, self.buffer, self.seconds = strategy, buffer, 0.0
        for _ in range(5):  # warm-up: template compilation, the first blocks
            next(self.packer)
        st = self.packer.stats
        self.real0, self.total0 = st.real_tokens, st.real_tokens + st.pad_tokens

    def pack(self, n: int) -> None:
        start = time.perf_counter()
        for _ in range(n):
            next(self.packer)
        self.seconds += time.perf_counter() - start

    def row(self) -> dict:
        st = self.packer.stats
        real, total = st.real_tokens - self.real0, st.real_tokens + st.pad_tokens - self.total0
        return {"strategy": self.strategy, "buffer": self.buffer, "efficiency": round(real / total, 5),
                "real_tokens_per_s": round(real / self.seconds), "seconds": round(self.seconds, 2)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/finetune/cpu.yaml")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--sequences", type=int, default=300, help="sequences per strategy, over all rounds")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seq-len", type=int, default=2049)
    ap.add_argument("--buffers", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--trainer-summary", help="a run's summary.json: its tokens_per_s is the consumption")
    ap.add_argument("--out", default="bench/results/packing.json")
    args = ap.parse_args()
    cfg = load_config(FinetuneConfig, args.config, args.set)
    tok = Tokenizer.load(ckpt.open_checkpoint(cfg.base) / ckpt.TOKENIZER_DIR)
    plan = _plan(cfg, tok)
    arms = [Arm(cfg, plan, tok, "greedy", 16, args.seq_len)]
    arms += [Arm(cfg, plan, tok, "best_fit", b, args.seq_len) for b in args.buffers]
    for rnd in range(args.rounds):  # interleaved, order alternating: the host's load hits every arm alike
        for arm in arms if rnd % 2 == 0 else arms[::-1]:
            arm.pack(args.sequences // args.rounds)
    rows = [arm.row() for arm in arms]
    trainer_tps = None
    if args.trainer_summary:
        trainer_tps = json.loads(Path(args.trainer_summary).read_text())["tokens_per_s"]
    for r in rows:
        ratio = f"{r['real_tokens_per_s'] / trainer_tps:.0f}x the trainer" if trainer_tps else ""
        print(f"{r['strategy']:8s} buffer {r['buffer']:5d}: efficiency {r['efficiency']:.4f}, "
              f"{r['real_tokens_per_s']:,} real tokens/s {ratio}")  # fmt: skip
    out = {"command": "python " + " ".join(sys.argv), "machine": platform.platform(), "seq_len": args.seq_len,
           "sequences": args.sequences, "trainer_tokens_per_s": trainer_tps, "rows": rows}  # fmt: skip
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
