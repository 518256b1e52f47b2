"""The fields the task's data offers, each with a sample value and a button that inserts it."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui.components.editor import insert
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
            st.button(
                f"{{{{{f}}}}}", key=f"field_{f}", help=hint or None, on_click=insert, args=(f"{{{{{f}}}}}",)
            )
        st.button(
            "` ||| `", key="ins_sep", help="separates input from target", on_click=insert, args=(" ||| ",)
        )
        if "label_id" in fields:
            st.button(
                "target = label",
                key="ins_target",
                help="{{answer_choices[label_id]}}: the answer choice of the example's label",
                on_click=insert,
                args=("{{answer_choices[label_id]}}",),
            )
        st.button(
            "list choices",
            key="ins_choices",
            help="{{answer_choices | join('、')}}: the answer choices, listed in the prompt",
            on_click=insert,
            args=("{{answer_choices | join('、')}}",),
        )
