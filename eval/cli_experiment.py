"""`weprompt experiment` and `weprompt experiment ladder RUN_DIR...`."""

from __future__ import annotations

import argparse

from weprompt.common.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment",
        help="run a held-out experiment matrix and write the Table-6 report",
        description="Run a held-out experiment matrix (`--config`), or compare finished runs of one matrix "
        "on bases of different sizes: `weprompt experiment ladder RUN_DIR... [--out DIR]`.",
    )
    p.add_argument("command", nargs="*", help="`ladder <experiment run dir>...` (otherwise nothing)")
    p.add_argument("--config", help="experiments/<name>.yaml (eval.experiment_plan.ExperimentConfig)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--out", default="runs/experiments/ladder", help="ladder: report dir")
    p.set_defaults(func=cmd_experiment)


def cmd_experiment(args: argparse.Namespace) -> int:
    if args.command:
        if args.command[0] != "ladder":
            raise UserError(
                f"unknown experiment command {args.command[0]!r}; use: weprompt experiment ladder DIR..."
            )
        from weprompt.eval.ladder import write_ladder

        print(f"ladder: {write_ladder(args.command[1:], args.out)}")
        return 0
    if not args.config:
        raise UserError("weprompt experiment: give --config experiments/<name>.yaml (or `ladder DIR...`)")
    from weprompt.eval.experiment import load_experiment, run_experiment

    report = run_experiment(load_experiment(args.config, args.set))
    print(f"\nreport: {report}\n        {report.with_suffix('.html')}")
    return 0
