"""What seeing into a fine-tuning run costs, timed inside one run (not an A/B of two noisy runs).

One `run_finetune` of a config (by default the shipped `configs/finetune/cpu.yaml` as it is, but for the
step count), with timers around exactly the extra work, each reported as a share of the run's wall time:

- held-out accuracy probe: building it (the evaluator's prompt builders and sample) and every call;
- held-out loss: building its fixed batches and every pass;
- per-task / per-category loss: the batch source's per-token weights (`finetune_data.loss_weights`), the
  trainer's bookkeeping (`GroupLossLog.add`, `rollups`, `detail_record`), and the group-only tensor work of
  each micro-batch (the mask, gather, weighting and two `bincount`s that `grouploss.model_loss` adds to a
  plain cross-entropy), re-run on that micro-batch's own tensors and timed (its time is then taken out
  of the run's wall time, as it is not part of the run).

Host load moves every timer and the wall time alike, so the shares hold up on a loaded host better than a
with/without comparison. The shipped config passes every 60 steps and at the end (120 steps): a run of 60
steps with one pass at the end probes at the same rate.

    python bench/bench_finetune_overhead.py --config /tmp/cpu.yaml --steps 60 --out bench/results/x.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

import weprompt.finetune as finetune
import weprompt.finetune_data as finetune_data
import weprompt.pretrain.engine.backend as backend
from weprompt.common.config import load_config
from weprompt.eval.heldout_probe import rank_probe
from weprompt.pretrain.engine.grouploss import GroupLossLog
from weprompt.pretrain.model import IGNORE_INDEX

T: dict[str, float] = defaultdict(float)
N: dict[str, int] = defaultdict(int)


def timed(key: str, fn):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            T[key] += time.perf_counter() - t0
            N[key] += 1

    return wrapper


def probe_factory(req):
    hook = timed("probe_setup", rank_probe)(req)
    return timed("probe_calls", hook)


def heldout_hooks(*args, **kwargs):
    hooks = timed("heldout_hooks_setup", ORIGINAL_HOOKS)(*args, **kwargs)
    if "heldout_loss" in hooks:
        hooks["heldout_loss"] = timed("heldout_loss_calls", hooks["heldout_loss"])
    return hooks


def model_loss(model, batch):
    out = ORIGINAL_MODEL_LOSS(model, batch)
    if "loss_group" in batch:
        targets = batch["targets"].reshape(-1)
        ce = torch.rand(targets.shape, dtype=torch.float32, device=targets.device)  # not timed
        t0 = time.perf_counter()
        (ce * batch["loss_weight"].reshape(-1).to(ce.dtype)).sum()
        valid = targets != IGNORE_INDEX
        groups = batch["loss_group"].reshape(-1)[valid]
        token_losses = ce[valid].double()
        torch.bincount(groups, weights=token_losses), torch.bincount(groups).double()
        T["group_ops_replayed"] += time.perf_counter() - t0
        N["group_ops_replayed"] += 1
    return out


ORIGINAL_HOOKS = finetune.heldout_hooks
ORIGINAL_MODEL_LOSS = backend.model_loss


def instrument() -> None:
    finetune.heldout_hooks = heldout_hooks  # type: ignore[assignment]
    backend.model_loss = model_loss  # type: ignore[assignment]
    finetune_data.loss_weights = timed("loss_weights", finetune_data.loss_weights)  # type: ignore[assignment]
    for name in ("add", "rollups", "detail_record"):
        setattr(GroupLossLog, name, timed("group_log", getattr(GroupLossLog, name)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--set", action="append", default=[], help="more config overrides")
    ap.add_argument("--out", help="write the figures here (JSON)")
    args = ap.parse_args()
    instrument()
    with tempfile.TemporaryDirectory(prefix="bench_ft_overhead_") as tmp:
        cfg = load_config(finetune.FinetuneConfig, args.config,
                          [f"train.total_steps={args.steps}", f"train.run_dir={tmp}/run", *args.set])  # fmt: skip
        t0 = time.perf_counter()
        finetune.run_finetune(cfg, probe_factory=probe_factory)
        wall = time.perf_counter() - t0 - T["group_ops_replayed"]
        log = [json.loads(x) for x in (Path(tmp) / "run" / "train_log.jsonl").read_text().splitlines()]
    heldout = [r for r in log if r["kind"] == "heldout"]
    parts = {
        "held-out accuracy probe (setup + calls)": T["probe_setup"] + T["probe_calls"],
        "held-out loss (batches + passes)": T["heldout_hooks_setup"] - T["probe_setup"] + T["heldout_loss_calls"],
        "per-task loss (weights + bookkeeping + group ops)":
            T["loss_weights"] + T["group_log"] + T["group_ops_replayed"],
    }  # fmt: skip
    result = {
        "config": args.config, "steps": args.steps, "overrides": args.set, "wall_s": round(wall, 1),
        "timers_s": {k: round(v, 3) for k, v in T.items()}, "calls": dict(N),
        "heldout_records": [{k: r[k] for k in ("step", "source", "seconds")} for r in heldout],
        "shares_of_wall_pct": {k: round(100 * v / wall, 2) for k, v in parts.items()},
        "load_average": os.getloadavg(),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
