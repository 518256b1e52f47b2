"""Training throughput, MFU and peak memory: WeLM vs. Hugging Face `LlamaForCausalLM` of the same shape.

Both models run in the *same loop*: our Trainer (AdamW, schedule, clipping, autocast, logging), fed the
same seeded synthetic token stream, in separate processes (so each one's peak RSS is its own), interleaved
over several rounds (ours, peer, ours, peer, ...) because a shared 2-core host is noisy; the table reports
the median and the best round.

The peer has the same depth, width, heads, vocabulary, tied embeddings, rotary positions and SDPA
attention; its SwiGLU FFN gets intermediate size 8d/3 so that its FFN has the same parameters and FLOPs as
our 4d GELU FFN (12·d² per layer for both models).

    python bench/bench_train.py                       # cpu_base shape, vocab 12000, fp32 and bf16, 3 rounds
    python bench/bench_train.py --precision bf16 --rounds 5 --steps 16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_peer(cfg):
    import torch
    import torch.nn.functional as F
    from transformers import LlamaConfig, LlamaForCausalLM

    from weprompt.pretrain.model import ModelOutput

    class LlamaPeer(torch.nn.Module):
        """Adapter: our forward contract (targets already shifted, -100 ignored) on top of HF's model."""

        def __init__(self):
            super().__init__()
            hc = LlamaConfig(
                vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_model * 8 // 3,
                num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head, num_key_value_heads=cfg.n_head,
                max_position_embeddings=cfg.context_length, tie_word_embeddings=cfg.tie_embeddings,
                rope_theta=cfg.rope_theta, rms_norm_eps=cfg.norm_eps, attention_bias=False, mlp_bias=False,
            )  # fmt: skip
            hc._attn_implementation = "sdpa"
            self.hf = LlamaForCausalLM(hc)

        def forward(self, input_ids, targets=None, **_):
            logits = self.hf(input_ids=input_ids, use_cache=False).logits
            loss = None
            if targets is not None:
                loss = F.cross_entropy(
                    logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
                )
            return ModelOutput(logits=logits, loss=loss)

    return LlamaPeer()


def worker(args) -> dict:
    """One measurement in this process: build the model, train `steps` steps, report."""
    import dataclasses

    import torch

    from weprompt.common.config import from_dict
    from weprompt.pretrain.data_source import ShardBatchSource, TokenStream
    from weprompt.pretrain.engine.config import TrainerConfig
    from weprompt.pretrain.engine.metrics import peak_memory_mib
    from weprompt.pretrain.engine.synthetic import write_markov_shards
    from weprompt.pretrain.engine.trainer import Trainer
    from weprompt.pretrain.model import WeLM, preset
    from weprompt.pretrain.shards import TokenShards

    rss_base = peak_memory_mib(torch.device("cpu"))
    cfg = dataclasses.replace(preset(args.shape), vocab_size=args.vocab)
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    shards = TokenShards(write_markov_shards(tmp / "shards", vocab_size=args.vocab, num_docs=300, seed=0))
    torch.manual_seed(0)
    model = WeLM(cfg) if args.model == "ours" else build_peer(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    lookup = 0 if cfg.tie_embeddings else cfg.vocab_size * cfg.d_model
    flops_tok = 6.0 * (n_params - lookup) + 12.0 * cfg.n_layer * cfg.d_model * cfg.context_length
    tcfg = from_dict(TrainerConfig, {
        "run_dir": str(tmp / "run"), "total_steps": args.steps, "micro_batch_size": args.batch,
        "precision": args.precision, "num_threads": args.threads, "optim": {"max_lr": 1e-3, "warmup_steps": 2},
        "checkpoint": {"every": 0}, "spike": {"enabled": False},
        "logging": {"every": 1, "progress": False, "plot": False},
    })  # fmt: skip
    source = ShardBatchSource(
        TokenStream(shards), args.batch, cfg.context_length, seed=0, vocab_size=args.vocab
    )
    trainer = Trainer(tcfg, cfg, source, model=model, flops_per_token=flops_tok)
    t0 = time.perf_counter()
    trainer.fit()
    wall = time.perf_counter() - t0
    recs = [json.loads(x) for x in (tmp / "run" / "train_log.jsonl").read_text().splitlines()]
    steady = [r for r in recs if r["kind"] == "train" and r["step"] > args.warmup]
    tps = statistics.median(r["tokens_per_s"] for r in steady)  # median step
    tps_best = max(
        r["tokens_per_s"] for r in steady
    )  # least-disturbed step: closest to the uncontended speed
    return {
        "model": args.model, "precision": args.precision, "params": n_params, "flops_per_token": flops_tok,
        "tokens_per_s": tps, "tokens_per_s_best_step": tps_best, "mfu": statistics.median(r["mfu"] for r in steady),
        "final_loss": recs[-1]["loss"] if recs else None, "peak_rss_mib": peak_memory_mib(torch.device("cpu")),
        "rss_before_model_mib": rss_base, "wall_s": wall, "threads": torch.get_num_threads(),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="cpu_base", help="a model preset of pretrain/model.py")
    ap.add_argument("--vocab", type=int, default=12000)
    ap.add_argument("--precision", nargs="+", default=["fp32", "bf16"])
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--warmup", type=int, default=3, help="steps left out of the measurement")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "train_cpu.json"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", choices=["ours", "peer"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.precision = args.precision[0]
        print("RESULT " + json.dumps(worker(args)), flush=True)
        return

    runs = []
    for rnd in range(args.rounds):
        for precision in args.precision:
            for model in ("ours", "peer"):
                cmd = [sys.executable, __file__, "--worker", "--model", model, "--precision", precision,
                       "--shape", args.shape, "--vocab", str(args.vocab), "--steps", str(args.steps),
                       "--warmup", str(args.warmup), "--batch", str(args.batch), "--threads", str(args.threads)]  # fmt: skip
                out = subprocess.run(
                    cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}
                )
                line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"worker failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
                r = json.loads(line[7:]) | {"round": rnd}
                runs.append(r)
                print(f"round {rnd} {precision:5s} {model:5s} {r['tokens_per_s']:8.0f} tok/s (fastest step "
                      f"{r['tokens_per_s_best_step']:.0f})  "
                      f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip

    import torch

    from weprompt.pretrain.engine.metrics import measure_cpu_peak

    torch.set_num_threads(args.threads)
    # One peak per dtype for both models: the best matmul rate seen on this host (cached across runs), so the
    # MFU of the two models is comparable even when a worker measured its own peak in a busy moment.
    peaks = {p: measure_cpu_peak(p) for p in args.precision}
    for r in runs:
        r["mfu_common_peak"] = r["flops_per_token"] * r["tokens_per_s"] / peaks[r["precision"]]
    rows = []
    for precision in args.precision:
        for model in ("ours", "peer"):
            rs = [r for r in runs if r["precision"] == precision and r["model"] == model]
            tps = [r["tokens_per_s"] for r in rs]
            rows.append({
                "precision": precision, "model": model, "params": rs[0]["params"],
                "tokens_per_s_median": statistics.median(tps), "tokens_per_s_best": max(tps),
                "best_step_tokens_per_s_median": statistics.median(r["tokens_per_s_best_step"] for r in rs),
                "mfu_median": statistics.median(r["mfu_common_peak"] for r in rs),
                "peak_flops": peaks[precision],
                "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in rs),
                "rss_before_model_mib": statistics.median(r["rss_before_model_mib"] for r in rs),
            })  # fmt: skip
    print(f"\nshape {args.shape}, vocab {args.vocab}, batch {args.batch} sequences, "
          f"{args.threads} threads, {args.rounds} rounds x {args.steps} steps (first {args.warmup} not timed)")  # fmt: skip
    print("peak FLOP/s used for MFU: " + ", ".join(f"{p} {v / 1e9:.0f} G" for p, v in peaks.items()))
    print(
        "| precision | model | params | tokens/s (median round) | best round | fastest step (median round) "
        "| MFU (median round) | peak RSS MiB (before model) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        name = "WeLM (ours)" if r["model"] == "ours" else "HF LlamaForCausalLM"
        print(f"| {r['precision']} | {name} | {r['params'] / 1e6:.2f}M | {r['tokens_per_s_median']:,.0f} | "
              f"{r['tokens_per_s_best']:,.0f} | {r['best_step_tokens_per_s_median']:,.0f} | {r['mfu_median']:.1%} | "
              f"{r['peak_rss_mib']:.0f} "
              f"({r['rss_before_model_mib']:.0f}) |")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "runs": runs, "summary": rows}, indent=1) + "\n")
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
