"""`weprompt annotate`: serve the prompt-writing GUI on 127.0.0.1 (Streamlit, headless)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("annotate", help="open the prompt-writing GUI (Streamlit) on 127.0.0.1")
    p.add_argument(
        "--bank-dir", help="prompt bank dir (default: the installed prompt_bank/, or $WEPROMPT_BANK_DIR)"
    )
    p.add_argument("--data-dir", help="task data dir (default: $WEPROMPT_DATA_DIR, then ../shared/data)")
    p.add_argument("--port", type=int, default=8501, help="port on 127.0.0.1 (default 8501)")
    p.add_argument("--tokenizer", help="tokenizer dir: lengths in tokens instead of characters")
    p.add_argument("--eval-dir", help="evaluation results to show prompts' scores from (default runs/eval)")
    p.set_defaults(func=cmd_annotate)


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        # Annotators' machines may be offline, and nothing about them should leave them.
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]


def annotate_env(args: argparse.Namespace) -> dict[str, str]:
    """The app reads its settings from these variables (see annotation_ui/settings.py)."""
    from weprompt.bank import resolve_bank_dir
    from weprompt.common.errors import UserError

    env = dict(os.environ)
    bank = resolve_bank_dir(args.bank_dir).resolve()
    if not (bank / "catalog.yaml").is_file():
        raise UserError(f"--bank-dir {bank}: no catalog.yaml there")
    env["WEPROMPT_BANK_DIR"] = str(bank)
    if args.data_dir:
        if not Path(args.data_dir).is_dir():
            raise UserError(f"--data-dir {args.data_dir}: not a directory")
        env["WEPROMPT_DATA_DIR"] = str(Path(args.data_dir).resolve())
    if args.tokenizer:
        env["WEPROMPT_TOKENIZER"] = str(Path(args.tokenizer).resolve())
    if args.eval_dir:
        env["WEPROMPT_EVAL_DIR"] = str(Path(args.eval_dir).resolve())
    return env


def cmd_annotate(args: argparse.Namespace) -> int:
    from weprompt.common.errors import UserError

    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise UserError("the GUI needs Streamlit: pip install -c constraints.txt -e '.[ui]'") from None
    env = annotate_env(args)
    print(
        f"WePrompt annotation UI on http://127.0.0.1:{args.port}  (bank {env['WEPROMPT_BANK_DIR']}; Ctrl+C stops)",
        flush=True,
    )
    cmd = streamlit_command(args.port)
    # Become the server (no parent process left behind): signals and the exit code reach Streamlit directly.
    os.execve(cmd[0], cmd, env)
    return 0  # not reached
