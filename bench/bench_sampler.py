"""Sampler throughput: our sample → render → tokenize → pack path vs a naive loop.

The naive loop is what one writes first: for each draw, build a plain `jinja2.Template` from the
template source, render, and encode input and target one call at a time. Ours compiles each template
once (sandboxed), renders in blocks and encodes each block in one batched SentencePiece call.
Both draw the same (task, example, template) sequence from the real bank and data.

    python bench/bench_sampler.py [--tokenizer DIR] [--sequences 200]

Prints tokens/s for both and the packing efficiency at 2048.
"""

from __future__ import annotations

import argparse
import random
import time

import jinja2

from weprompt.bank import load_bank
from weprompt.data import load_split
from weprompt.packing import Packer, PackingConfig
from weprompt.pretrain.tokenizer import Tokenizer
from weprompt.sampler import MultitaskSampler, SamplerConfig, build_pools
from weprompt.templates import SEPARATOR, TARGET_SEP


def naive_tokens(pools, tok, n_draws: int, seed: int) -> int:
    rng = random.Random(seed)
    total = 0
    for _ in range(n_draws):
        pool = pools[rng.randrange(len(pools))]
        row = pool.rows[rng.randrange(len(pool.rows))]
        tpl = pool.templates[rng.randrange(len(pool.templates))]
        ctx = dict(row)
        if tpl.answer_choices:
            ctx["answer_choices"] = [
                c.strip() for c in jinja2.Template(tpl.answer_choices).render(ctx).split(SEPARATOR)
            ]
        try:
            text = jinja2.Template(tpl.jinja).render(ctx)
        except Exception:
            continue
        inp, _, tgt = text.partition(SEPARATOR)
        total += len(tok.encode(inp.strip() + TARGET_SEP)) + len(tok.encode(tgt.strip())) + 1
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default="runs/corpus/tokenizer")
    ap.add_argument("--sequences", type=int, default=200)
    ap.add_argument("--max-tasks", type=int, default=30)
    args = ap.parse_args()
    tok = Tokenizer.load(args.tokenizer)
    catalog, bank = load_bank()
    tasks = [n for n, c in bank.items() if c.templates and "train" in catalog.task(n).splits][
        : args.max_tasks
    ]
    pools = build_pools(tasks, bank, lambda n: load_split(n, "train"), 50_000, 0)
    sampler = MultitaskSampler(pools, tok, SamplerConfig())
    packer = Packer(sampler, PackingConfig(), tok.eos_id, tok.pad_id, seq_len=2049)
    # Warm-up (untimed): every template gets compiled once; a training run amortises that over millions
    # of draws, the naive loop pays it on every draw.
    for t in (t for p in pools for t in p.templates):
        from weprompt.templates import compile_jinja

        compile_jinja(t.jinja)
        if t.answer_choices:
            compile_jinja(t.answer_choices)
    tokens0, drawn0 = packer.stats.real_tokens, sampler.drawn
    start = time.perf_counter()
    for _ in range(args.sequences):
        next(packer)
    ours_s = time.perf_counter() - start
    ours_tokens = packer.stats.real_tokens - tokens0
    draws = sampler.drawn - drawn0
    start = time.perf_counter()
    naive = naive_tokens(pools, tok, draws, 0)
    naive_s = time.perf_counter() - start
    print(f"tasks: {len(tasks)}, draws: {draws}")
    print(f"ours : {ours_tokens / ours_s:12,.0f} tokens/s  ({ours_tokens:,} tokens in {ours_s:.2f}s, packed)")
    print(f"naive: {naive / naive_s:12,.0f} tokens/s  ({naive:,} tokens in {naive_s:.2f}s, not even packed)")
    print(
        f"speed-up: {(ours_tokens / ours_s) / (naive / naive_s):.1f}x; packing efficiency at 2048: "
        f"{packer.stats.efficiency:.4f}; truncated {packer.stats.truncated}, skipped {packer.stats.skipped_overlong}"
    )


if __name__ == "__main__":
    main()
