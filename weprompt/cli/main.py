"""The `weprompt` command: one entry point; verbs register themselves.

Each verb module is named in the `weprompt.verbs` entry-point group (pyproject.toml) and exposes
`register(subparsers)`, which adds its verb(s) and sets `func` on the parser. This file names no verb
and no layer: the layers below never see the CLI, and a plugin package can add a verb by declaring an
entry point in the same group. Registration must stay cheap (no torch import): heavy imports happen
inside the handlers, so `weprompt --help` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from importlib.metadata import entry_points

from weprompt.common.errors import UserError
from weprompt.common.logs import setup_logging

VERB_GROUP = "weprompt.verbs"


def verb_modules() -> list[str]:
    """The verb modules of the installed distribution(s), in declaration order, without repeats."""
    names = [ep.value for ep in entry_points(group=VERB_GROUP)]
    if not names:
        raise UserError(
            f"no `{VERB_GROUP}` entry points are installed: install the package "
            '(`pip install -c constraints.txt -e ".[all]"`) instead of running it from a bare checkout'
        )
    return list(dict.fromkeys(names))


def _load(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and name.startswith(e.name):  # the verb module itself is gone: stale metadata
            raise UserError(
                f"the installed metadata names verb module `{name}`, which does not exist: "
                "reinstall the package (pip install -e .) after pulling"
            ) from e
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="weprompt",
        description="WePrompt: multitask prompted fine-tuning of Chinese LMs (WeLM, arXiv 2209.10372).",
    )
    from weprompt import __version__

    parser.add_argument("--version", action="version", version=f"weprompt {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug-level log messages")
    sub = parser.add_subparsers(dest="command", metavar="<verb>")
    for name in verb_modules():
        _load(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except UserError as e:
        print(f"weprompt: error: {e}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(logging.DEBUG if args.verbose else logging.INFO)
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
