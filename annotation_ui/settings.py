"""Where the app reads from: bank dir, data dir, optional tokenizer, and the numbers it checks against.

Sources, first wins: the sidebar's Settings (per browser session), script arguments
(`streamlit run annotation_ui/app.py -- --bank-dir X`), the environment (`weprompt annotate` sets
WEPROMPT_BANK_DIR / WEPROMPT_DATA_DIR / WEPROMPT_TOKENIZER), then the defaults of `weprompt.bank`
and `weprompt.data`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from weprompt.bank import resolve_bank_dir
from weprompt.bank_health import TARGET_PER_TASK
from weprompt.common import paths
from weprompt.common.paths import BANK_ENV, DATA_ENV
from weprompt.validate import DEFAULT_BUDGET


@dataclass(frozen=True)
class Settings:
    bank_dir: str
    data_dir: str | None
    tokenizer: str | None
    eval_dir: str = str(paths.EVAL_DEFAULT)
    budget: int = DEFAULT_BUDGET
    target: int = TARGET_PER_TASK


def _script_args() -> argparse.Namespace:
    """Arguments after `--` of `streamlit run annotation_ui/app.py -- ...`; none under AppTest/pytest."""
    p = argparse.ArgumentParser(add_help=False)
    for opt in ("--bank-dir", "--data-dir", "--tokenizer", "--eval-dir"):
        p.add_argument(opt)
    if Path(sys.argv[0]).name != "app.py":  # under pytest, sys.argv is pytest's own
        return p.parse_args([])
    return p.parse_known_args(sys.argv[1:])[0]


def defaults() -> Settings:
    args = _script_args()
    return Settings(
        bank_dir=str(resolve_bank_dir(args.bank_dir)),
        data_dir=args.data_dir or (str(p) if (p := paths.env_path(DATA_ENV)) else None),
        tokenizer=(str(t) if (t := paths.tokenizer_dir(args.tokenizer)) else None),
        eval_dir=str(paths.eval_dir(args.eval_dir)),
    )


def sidebar_settings() -> Settings:
    """The settings expander; its values live in session state so each annotator can point elsewhere."""
    if "set_bank" not in st.session_state:
        d = defaults()
        st.session_state.update(
            set_bank=d.bank_dir,
            set_data=d.data_dir or "",
            set_tok=d.tokenizer or "",
            set_eval=d.eval_dir,
            set_budget=d.budget,
            set_target=d.target,
        )
    with st.sidebar.expander("Settings"):
        st.text_input("Bank dir", key="set_bank", help=f"catalog.yaml + templates/ (${BANK_ENV})")
        st.text_input("Data dir", key="set_data", help=f"task data; empty = ${DATA_ENV}, then ../shared/data")
        st.text_input(
            "Tokenizer (optional)",
            key="set_tok",
            help="tokenizer dir or .model file: lengths are counted in tokens; empty = characters",
        )
        st.text_input(
            "Eval results dir", key="set_eval", help=f"results.json of `weprompt eval` (${paths.EVAL_ENV})"
        )
        st.number_input("Length budget", min_value=16, step=256, key="set_budget")
        st.number_input("Target prompts per task", min_value=1, key="set_target")
    return Settings(
        bank_dir=st.session_state.set_bank.strip() or str(resolve_bank_dir()),
        data_dir=st.session_state.set_data.strip() or None,
        tokenizer=st.session_state.set_tok.strip() or None,
        eval_dir=st.session_state.set_eval.strip() or str(paths.eval_dir()),
        budget=int(st.session_state.set_budget),
        target=int(st.session_state.set_target),
    )
