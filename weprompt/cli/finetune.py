"""`weprompt finetune`: WePrompt multitask prompted fine-tuning of a base checkpoint on a held-out split."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "finetune", help="multitask prompted fine-tuning from a base checkpoint (held-out split)"
    )
    p.add_argument("--config", help="YAML config (weprompt.finetune.FinetuneConfig); flags below override it")
    p.add_argument("--base", help="base checkpoint (step dir, checkpoints dir or run dir)")
    p.add_argument("--split", choices=["strong", "weak", "all", "single"], help="held-out mode")
    p.add_argument("--test-task", action="append", dest="test_tasks", help="held-out test task (repeatable)")
    p.add_argument("--tokenizer", help="tokenizer dir; must match the base checkpoint's")
    p.add_argument("--run-dir", help="output run directory")
    p.add_argument("--steps", type=int, help="optimizer steps (overrides the config)")
    p.add_argument("--epochs", type=float, help="passes over the capped pools (overrides --steps)")
    p.add_argument("--data-dir")
    p.add_argument("--bank-dir")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set train.optim.max_lr=3e-4",
    )
    p.set_defaults(func=cmd_finetune)


def cmd_finetune(args: argparse.Namespace) -> int:
    from weprompt.common.config import load_config
    from weprompt.finetune import FinetuneConfig, run_finetune

    overrides = list(args.set)
    for key, value in (
        ("base", args.base),
        ("split", args.split),
        ("tokenizer", args.tokenizer),
        ("train.run_dir", args.run_dir),
        ("train.total_steps", args.steps),
        ("epochs", args.epochs),
        ("data_dir", args.data_dir),
        ("bank_dir", args.bank_dir),
    ):
        if value is not None:  # strings quoted: a run dir named 2024 or true stays a string
            overrides.append(f"{key}={json.dumps(value) if isinstance(value, str) else value}")
    if args.test_tasks:
        overrides.append(f"test_tasks={json.dumps(args.test_tasks)}")
    from weprompt.eval.heldout_probe import (
        rank_probe,  # the CLI is above both layers: it injects the evaluator
    )

    cfg = load_config(FinetuneConfig, args.config, overrides)
    summary = run_finetune(cfg, probe_factory=rank_probe)
    print(json.dumps(summary, ensure_ascii=False, indent=1))
    print(
        f"\nWePrompt checkpoint: {summary['checkpoint']}\nsplit, leakage and sampling reports: {summary['run_dir']}"
    )
    return 0
