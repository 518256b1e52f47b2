"""Browse view: what the catalog says about the task, its real examples, and its prompts rendered."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui import state
from weprompt.annotation_ui.components.examples import example_pager
from weprompt.annotation_ui.components.preview import render_examples
from weprompt.annotation_ui.components.task_picker import task_card
from weprompt.annotation_ui.settings import Settings
from weprompt.catalog import Catalog, Task


def render(catalog: Catalog, task: Task, settings: Settings) -> None:
    coll, load_error = state.collection(task.name, settings.bank_dir)
    task_card(task, len(coll.templates) if coll else 0)
    st.divider()
    row = example_pager(catalog, task, settings.data_dir)
    st.divider()
    st.markdown("**The task's prompts on this example**")
    if load_error or coll is None:
        st.error(load_error or f"cannot read the prompts of {task.name}")
        return
    if not coll.templates:
        st.info(f"No prompts yet for {task.name}: open **Write** to add the first.")
        return
    if row is None:
        return
    names = {t.id: t.name for t in coll.templates}
    key = f"browse_prompt:{task.name}"  # one widget per task: see split_selector
    if st.session_state.get(key) not in names:
        st.session_state.pop(key, None)
    chosen = st.selectbox("Prompt", list(names), format_func=lambda tid: names[tid], key=key)
    if chosen is None:  # only with no options, and there is at least one prompt
        return
    count_tokens, _ = state.token_counter(settings.tokenizer)
    t = coll.by_id(chosen)
    index = int(st.session_state.get("example_index", 0))
    render_examples(
        t, [(index, row)], count_tokens, settings.budget, bool(task.is_rank and t.metadata.original_task)
    )
