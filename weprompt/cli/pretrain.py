"""`weprompt pretrain`: train (or resume) the WeLM base model from token shards."""

from __future__ import annotations

import argparse
import json
import math


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pretrain",
        help="pretrain the WeLM base model (resumes the run's latest checkpoint automatically)",
        description="Train WeLM from token shards with the engine of pretrain/engine (DeepSpeed ZeRO when "
        "train.deepspeed.enabled). Launch with torchrun or `deepspeed` for several processes.",
    )
    p.add_argument("--config", required=True, help="YAML, e.g. configs/pretrain/cpu.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.total_steps=100 (repeatable)")  # fmt: skip
    p.add_argument("--run-dir", help="shortcut for --set train.run_dir=...")
    p.add_argument("--resume", help="auto | never | a checkpoint directory (default: the config's)")
    p.add_argument(
        "--print-config", action="store_true", help="print the resolved config and the model size, then exit"
    )
    p.set_defaults(func=cmd_pretrain)


def cmd_pretrain(args: argparse.Namespace) -> int:
    import yaml

    from weprompt.common.config import to_dict
    from weprompt.pretrain.engine.pretrain import load_pretrain_config, run_pretrain

    overrides = list(args.overrides)
    if args.run_dir:  # quoted: a run dir named 2024 or true stays a string
        overrides.append(f"train.run_dir={json.dumps(args.run_dir)}")
    if args.resume:
        overrides.append(f"train.checkpoint.resume={json.dumps(args.resume)}")
    cfg, vocab_given = load_pretrain_config(args.config, overrides)
    if args.print_config:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False, allow_unicode=True), end="")
        m = cfg.model
        note = "" if vocab_given else " (vocab_size will be the tokenizer's)"
        print(
            f"# parameters: {m.num_parameters_formula():,}{note}; training FLOPs/token: {m.flops_per_token():.3g}"
        )
        return 0
    result, meta = run_pretrain(cfg, vocab_given)
    if int(__import__("os").environ.get("RANK", "0")) == 0:
        _summary(result, meta)
    return 0


def _summary(r, meta: dict) -> None:
    val = f"{r.val_loss:.4f} (ppl {math.exp(r.val_loss):.1f})" if r.val_loss is not None else "n/a"
    rows = [
        ("run", r.run_dir),
        ("steps / tokens", f"{r.step:,} / {r.tokens:,}"),
        ("parameters", f"{meta['num_parameters']:,}"),
        ("final train loss", f"{r.final_loss:.4f}"),
        ("validation loss", val),
        ("unigram baseline (val)", f"{meta['unigram_val_loss']:.4f}"),
        ("tokens/s (all ranks)", f"{r.tokens_per_s:,.0f}"),
        ("MFU", f"{r.mfu:.1%}  [{r.peak_source}]"),
        ("peak memory (rank 0)", f"{r.peak_memory_mib:,.0f} MiB"),
        ("train / wall time", f"{r.train_seconds:,.0f} s / {r.wall_seconds:,.0f} s"),
        ("skipped steps / spike recoveries", f"{r.skipped_steps} / {r.spike_events}"),
        ("checkpoint", r.checkpoint),
    ]
    if r.stopped_early:
        rows.append(("note", "stopped by train.max_train_minutes before total_steps"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
