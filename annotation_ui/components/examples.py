"""Real examples of a split: a page of them as a table, or one at a time."""

from __future__ import annotations

import math

import streamlit as st

from weprompt.annotation_ui import state
from weprompt.catalog import Catalog, Task


def split_selector(task: Task, key: str, label: str = "Split") -> str:
    """A split picker; `key` names the task: a keyed select keeps its id when its options change, and
    the browser then keeps showing the previous task's split sizes."""
    splits = list(task.splits)
    if st.session_state.get(key) not in splits:
        st.session_state[key] = task.eval_split if task.eval_split in splits else splits[0]
    st.selectbox(label, splits, key=key, format_func=lambda s: f"{s} ({task.splits[s]})")
    return st.session_state[key]


def example_pager(catalog: Catalog, task: Task, data_dir: str | None) -> dict | None:
    """The browse view's data panel; returns the example shown one-at-a-time (None without data)."""
    split = split_selector(task, f"browse_split:{task.name}")
    ds, error = state.split(catalog, task, split, data_dir)
    if error:
        st.error(f"No examples: {error}")
        return None
    table, single = st.tabs(["Table", "One at a time"])
    with table:
        c1, c2 = st.columns([1, 3])
        size = c1.selectbox("Rows per page", [10, 25, 50, 100], key="page_size")
        pages = max(1, math.ceil(len(ds) / size))
        if st.session_state.get("page", 1) > pages:
            st.session_state.page = 1
        page = c2.number_input(f"Page (of {pages})", min_value=1, max_value=pages, key="page")
        start = (page - 1) * size
        rows = ds.select(range(start, min(start + size, len(ds))))
        columns = {c: [state.cell(v) for v in rows[c]] for c in rows.column_names}
        st.dataframe({"#": list(range(start, start + len(rows))), **columns}, hide_index=True)
        st.caption(f"{len(ds)} examples in {split}; fields: {', '.join(ds.column_names)}")
    with single:
        if st.session_state.get("example_index", 0) >= len(ds):
            st.session_state.example_index = 0
        index = st.number_input(
            f"Example (0 – {len(ds) - 1})", min_value=0, max_value=len(ds) - 1, key="example_index"
        )
        row = ds[int(index)]
        st.json(row)
    return row
