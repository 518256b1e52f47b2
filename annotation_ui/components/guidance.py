"""Guidance beside the editor: the category's writing note (annotation_ui/guidelines.yaml), the task's
existing prompts, and which prompt styles the task already has and which it lacks."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import streamlit as st
import yaml

from weprompt.bank_health import choice_style
from weprompt.bank_review import status_of
from weprompt.catalog import Catalog, Task
from weprompt.common.errors import UserError
from weprompt.templates import Template

GUIDELINES = Path(__file__).resolve().parents[1] / "guidelines.yaml"


@functools.cache
def _notes(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise UserError(f"{path}: cannot read the writing guidelines ({e})") from e
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise UserError(f"{path}: expected a mapping of category -> note (text)")
    return data


def guideline(catalog: Catalog, category: str, path: Path = GUIDELINES) -> str | None:
    """The category's note; a note for a category the catalog lacks is an error naming it."""
    notes = _notes(path)
    if unknown := sorted(set(notes) - set(catalog.categories)):
        raise UserError(f"{path}: categories not in the catalog {catalog.path}: {', '.join(unknown)}")
    return notes.get(category)


def styles(task: Task, templates: list[Template]) -> tuple[Counter, list[str]]:
    """Styles present (answer-choice style, choices listed or not, original task or not) and missing."""
    have: Counter = Counter()
    for t in templates:
        have[choice_style(t)] += 1
        have["choices listed in the prompt" if t.metadata.choices_in_prompt else "choices not listed"] += 1
        have["original task" if t.metadata.original_task else "other task (not the original)"] += 1
    wanted = ["original task", "other task (not the original)"]
    if task.labels:
        wanted += ["choices listed in the prompt", "choices not listed"]
    return have, [w for w in wanted if not have[w]]


def show(catalog: Catalog, task: Task, templates: list[Template]) -> None:
    with st.expander(f"Guidance · {task.category} · {len(templates)} prompts so far", expanded=not templates):
        try:
            note = guideline(catalog, task.category)
        except UserError as e:
            st.error(str(e))
            note = None
        st.markdown(note or f"(no note for {task.category} yet: add one to `{GUIDELINES.name}`)")
        have, missing = styles(task, templates)
        if templates:
            st.caption("Styles covered: " + ", ".join(f"{k} ({v})" for k, v in sorted(have.items())))
        if missing:
            st.markdown("**Missing so far:** " + ", ".join(missing))
        for t in templates:
            first = t.jinja.strip().splitlines()[0] if t.jinja.strip() else ""
            st.caption(f"· **{t.name}** [{status_of(t)}] — {first[:80]}")
