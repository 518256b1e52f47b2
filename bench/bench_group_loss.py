"""Overhead of per-task / per-category training loss: one training micro-step with the model's own loss vs
with the group-loss path (per-token cross-entropy weighted in fp32, plus one bincount per micro-batch).

Same model (the shape of a base checkpoint, random weights), same batches, the two paths alternating
within each round so host load hits both alike; prints ms per step for each and the ratio.

    python bench/bench_group_loss.py --base runs/quickstart/base --batch 8 --rounds 5 --steps 6 \
        --precision bf16 --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from weprompt.finetune_data import loss_weights
from weprompt.pretrain import checkpoint as ckpt
from weprompt.pretrain.engine.config import OptimConfig, TrainerConfig
from weprompt.pretrain.engine.distributed import setup
from weprompt.pretrain.model import WeLM


def batch(cfg, n: int, groups: bool) -> dict:
    g = torch.Generator().manual_seed(0)
    T = cfg.context_length
    ids = torch.randint(0, cfg.vocab_size, (n, T + 1), generator=g)
    targets = ids[:, 1:].clone()
    docs = (torch.arange(T)[None].expand(n, T) // 37).contiguous()  # ~7 packed examples a row
    targets[docs % 3 == 0] = -100  # some prompts not trained on (loss_on: targets)
    out = {"input_ids": ids[:, :-1].contiguous(), "targets": targets, "doc_ids": docs}
    if groups:
        out["loss_weight"] = loss_weights(targets, docs, "token")
        out["loss_group"] = docs % 5
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="runs/quickstart/base")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_cfg = ckpt.read_model_config(ckpt.open_checkpoint(args.base))
    from weprompt.pretrain.engine.backend import TorchBackend

    train = TrainerConfig(precision=args.precision, optim=OptimConfig(), micro_batch_size=args.batch)
    backend = TorchBackend(WeLM(model_cfg), train, setup(False))
    batches = {k: batch(model_cfg, args.batch, k == "groups") for k in ("model", "groups")}
    for b in batches.values():  # warm-up
        backend.forward_backward(b, last=True)
        backend.step()
    times: dict[str, list[float]] = {"model": [], "groups": []}
    for _ in range(args.rounds):
        for kind in ("model", "groups") if _ % 2 == 0 else ("groups", "model"):
            t0 = time.perf_counter()
            for _s in range(args.steps):
                backend.forward_backward(batches[kind], last=True)
                backend.step()
            times[kind].append((time.perf_counter() - t0) / args.steps * 1000)
        print(json.dumps({k: [round(x) for x in v] for k, v in times.items()}), flush=True)  # partial results
    med = {k: statistics.median(v) for k, v in times.items()}
    print(json.dumps({"ms_per_step": med, "overhead": round(med["groups"] / med["model"] - 1, 4),
                      "args": vars(args)}, indent=1))  # fmt: skip


if __name__ == "__main__":
    main()
