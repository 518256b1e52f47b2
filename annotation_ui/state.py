"""Loading for the app: catalog, a task's prompts, real examples, the token counter.

Data loads are cached across reruns (a rerun happens on every pause in typing); the prompt files are
checked on every rerun and parsed again when their mtime or size changed, so what the app shows is
what is on disk now, including another annotator's save a second ago. Every loader returns a user-facing message instead of raising,
so a broken file or a missing data dir becomes a clear line in the app, not a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from weprompt.bank import bank_catalog
from weprompt.bank_health import load_bank_tolerant, load_task_cached, task_examples
from weprompt.catalog import Catalog, Task
from weprompt.common.errors import UserError
from weprompt.data import load_split
from weprompt.templates import TemplateCollection

CHECK_PER_SPLIT = 20  # examples per split the pre-save check renders on (as `weprompt bank validate`)


def catalog(bank_dir: str) -> tuple[Catalog | None, str | None]:
    try:
        return bank_catalog(bank_dir), None
    except UserError as e:
        return None, str(e)


def collection(task: str, bank_dir: str) -> tuple[TemplateCollection | None, str | None]:
    """The task's prompts as on disk now (re-parsed only when the file changed); (None, why) when the
    file does not parse. Read-only: saves go through weprompt.bank_edit."""
    try:
        return load_task_cached(task, bank_dir), None
    except UserError as e:
        return None, str(e)


def prompt_counts(bank_dir: str) -> dict[str, int]:
    """Prompts per task for the task picker (parsed files are cached per mtime by bank_health)."""
    try:
        return {n: len(c.templates) for n, c in load_bank_tolerant(bank_dir).bank.items()}
    except UserError:
        return {}


def split(cat: Catalog, task: Task, name: str, data_dir: str | None):
    """A split as a `datasets.Dataset` (weprompt.data caches it per file and mtime), or (None, why)."""
    try:
        return load_split(task.name, name, data_dir, catalog=cat), None
    except UserError as e:
        return None, str(e)


@st.cache_data(show_spinner=False, max_entries=32)
def _check_examples(catalog_path: str, mtime: float, task: str, data_dir: str | None, per_split: int):
    cat = bank_catalog(str(Path(catalog_path).parent))
    t = cat.task(task)
    examples, fields = task_examples(cat, t, per_split, data_dir)
    names = [
        f"{s} example {i}"
        for s in t.splits
        for i in range(min(per_split, len(load_split(task, s, data_dir, catalog=cat))))
    ]
    return examples, sorted(fields), names


def check_examples(
    cat: Catalog, task: Task, data_dir: str | None, per_split: int = CHECK_PER_SPLIT
) -> tuple[list[dict], set[str], list[str], str | None]:
    """The examples a prompt is checked on before saving (the first `per_split` of every split), the
    data's fields, and each example's name ("train example 0", as the issues cite it)."""
    try:
        examples, fields, names = _check_examples(
            str(cat.path), cat.path.stat().st_mtime, task.name, data_dir, per_split
        )
        return examples, set(fields), names, None
    except UserError as e:
        return [], set(), [], str(e)


@st.cache_resource(show_spinner=False)
def _tokenizer(path: str):
    from weprompt.pretrain.tokenizer import Tokenizer

    return Tokenizer.load(path)


def token_counter(path: str | None) -> tuple[Callable[[str], int] | None, str | None]:
    """len(tokens) with the configured tokenizer, or (None, why) to count characters instead."""
    if not path:
        return None, None
    try:
        tok = _tokenizer(path)
    except (UserError, ImportError, OSError) as e:
        return None, f"tokenizer not loaded ({e}); lengths are counted in characters"
    return (lambda text: len(tok.encode(text))), None


def cell(value) -> str | int | float | bool | None:
    """A table cell: nested values as compact JSON, so every column has one Arrow type."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return value
