"""The `weprompt` command: one entry point, one verb per module.

Each module named in COMMAND_MODULES exposes `register(subparsers)`, which adds its verb(s) and sets
`func` on the parser. Registration must stay cheap (no torch import): heavy imports happen inside the
handlers, so `weprompt --help` answers at once. This file is the composition root, the one place that
names verbs from `pretrain` and `eval` as well as our own.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from weprompt.common.errors import UserError

COMMAND_MODULES = [
    "weprompt.cli.bank",
    "weprompt.cli.data",
    "weprompt.annotation_ui.cli",
    "weprompt.eval.cli",
    "weprompt.cli.finetune",
    "weprompt.cli.mixture",
    "weprompt.eval.cli_experiment",
    "weprompt.cli.corpus",
    "weprompt.cli.pretrain",
    "weprompt.cli.interop",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weprompt",
        description="WePrompt: multitask prompted fine-tuning of Chinese LMs (WeLM, arXiv 2209.10372).",
    )
    from weprompt import __version__

    parser.add_argument("--version", action="version", version=f"weprompt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<verb>")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"weprompt: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `weprompt catalog | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("weprompt: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
