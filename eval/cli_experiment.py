"""`weprompt experiment` and `weprompt quickstart`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run a held-out experiment matrix and write the Table-6 report")
    p.add_argument(
        "--config", required=True, help="experiments/<name>.yaml (eval.experiment.ExperimentConfig)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.set_defaults(func=cmd_experiment)

    q = sub.add_parser(
        "quickstart",
        help="the whole pipeline at CPU scale: corpus → tokenizer → base → "
        "strong/weak WePrompt → evaluation → report",
    )
    q.add_argument(
        "--config", default="experiments/quickstart.yaml", help="experiment config for the last stage"
    )
    q.add_argument("--corpus-config", default="configs/corpus/cpu.yaml")
    q.add_argument("--pretrain-config", default="configs/pretrain/quickstart.yaml")
    q.set_defaults(func=cmd_quickstart)


def cmd_experiment(args: argparse.Namespace) -> int:
    from weprompt.eval.experiment import load_experiment, run_experiment

    report = run_experiment(load_experiment(args.config, args.set))
    print(f"\nreport: {report}\n        {report.with_suffix('.html')}")
    return 0


def cmd_quickstart(args: argparse.Namespace) -> int:
    from weprompt.eval.quickstart import run_quickstart

    report = run_quickstart(args.corpus_config, args.pretrain_config, args.config)
    print(f"\nreport: {report}\n        {report.with_suffix('.html')}")
    return 0
