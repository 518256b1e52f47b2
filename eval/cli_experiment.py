"""`weprompt experiment`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("experiment", help="run a held-out experiment matrix and write the Table-6 report")
    p.add_argument(
        "--config", required=True, help="experiments/<name>.yaml (eval.experiment.ExperimentConfig)"
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    from weprompt.eval.experiment import load_experiment, run_experiment

    report = run_experiment(load_experiment(args.config, args.set))
    print(f"\nreport: {report}\n        {report.with_suffix('.html')}")
    return 0
