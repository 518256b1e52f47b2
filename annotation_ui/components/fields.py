"""The fields the task's data offers, each with a sample value and a button that inserts it."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui.components.editor import insert
from weprompt.annotation_ui.live import register_insert
from weprompt.catalog import Task


def _sample(value) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:40] + "…"


def field_palette(task: Task, fields: set[str], example: dict | None) -> None:
    st.markdown("**Insert**")
    # Catalog order first (it says what each field means), then anything else the data has.
    names = [f for f in task.fields if f in fields] + sorted(fields - set(task.fields))
    with st.container(horizontal=True):
        for f in names:
            hint = task.fields.get(f, "added by the loader" if f == "label_id" else "")
            if example is not None and f in example:
                hint += f" — e.g. {_sample(example[f])}"
            _insert_button(f"{{{{{f}}}}}", f"field_{f}", hint or None, f"{{{{{f}}}}}")
        _insert_button("` ||| `", "ins_sep", "separates input from target", " ||| ")
        if "label_id" in fields:
            _insert_button(
                "target = label",
                "ins_target",
                "{{answer_choices[label_id]}}: the answer choice of the example's label",
                "{{answer_choices[label_id]}}",
            )
        _insert_button(
            "list choices",
            "ins_choices",
            "{{answer_choices | join('、')}}: the answer choices, listed in the prompt",
            "{{answer_choices | join('、')}}",
        )


def _insert_button(label: str, key: str, hint: str | None, text: str) -> None:
    """In the browser it inserts at the cursor (annotation_ui/live.py); the callback appends (no JS)."""
    register_insert(key, text)
    st.button(label, key=key, help=hint, on_click=insert, args=(text,))
