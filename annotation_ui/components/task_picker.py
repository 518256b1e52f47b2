"""Pick a category, then a task (sidebar); show what the catalog says about the task."""

from __future__ import annotations

import streamlit as st

from weprompt.catalog import Catalog, Task


def _sync_category_from_link(catalog: Catalog) -> None:
    """A `?task=ocnli` link selects that task (and its category) once, on the session's first run."""
    if st.session_state.get("_linked"):
        return
    st.session_state._linked = True
    name = st.query_params.get("task")
    if name in catalog.tasks:
        st.session_state.category = catalog.tasks[name].category
        st.session_state.task = name


def _on_category(catalog: Catalog) -> None:
    st.session_state.task = catalog.categories[st.session_state.category][0]


MAX_MATCHES = 8


def search_tasks(catalog: Catalog, query: str) -> list[Task]:
    """Tasks whose name, category or description contains every word of `query` (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return []
    hay = {n: f"{n} {t.category} {t.description}".lower() for n, t in catalog.tasks.items()}
    return [catalog.tasks[n] for n in catalog.tasks if all(w in hay[n] for w in words)]


def go_to_task(task: Task) -> None:
    """Select `task` (and its category) in the picker: a callback, before the selectors are drawn."""
    st.session_state.category = task.category
    st.session_state.task = task.name


def _next_task(catalog: Catalog) -> None:
    """The next task of the catalog (across categories, wrapping around)."""
    names = [n for names in catalog.categories.values() for n in names]
    i = names.index(st.session_state.task) if st.session_state.get("task") in names else -1
    go_to_task(catalog.tasks[names[(i + 1) % len(names)]])


def _search(catalog: Catalog) -> None:
    query = st.sidebar.text_input(
        "Find a task", key="task_search", placeholder="name or words of its description"
    )
    if not query.strip():
        return
    found = search_tasks(catalog, query)
    if not found:
        st.sidebar.caption("No task matches.")
    for t in found[:MAX_MATCHES]:
        st.sidebar.button(f"{t.name} · {t.category}", key=f"goto_{t.name}", on_click=go_to_task, args=(t,))
    if len(found) > MAX_MATCHES:
        st.sidebar.caption(f"… and {len(found) - MAX_MATCHES} more: add a word.")


def pick_task(catalog: Catalog, counts: dict[str, int]) -> Task:
    """Sidebar selectors, and how many prompts the chosen task and category have (`counts`)."""
    _sync_category_from_link(catalog)
    _search(catalog)
    cats = [c for c, names in catalog.categories.items() if names]
    if st.session_state.get("category") not in cats:
        st.session_state.category = cats[0]
    st.sidebar.selectbox(
        "Category",
        cats,
        key="category",
        format_func=lambda c: f"{c} ({len(catalog.categories[c])} tasks)",
        on_change=_on_category,
        args=(catalog,),
    )
    names = catalog.categories[st.session_state.category]
    if st.session_state.get("task") not in names:
        st.session_state.task = names[0]
    st.sidebar.selectbox(
        "Task",
        names,
        key="task",
        format_func=lambda n: n + (" *" if catalog.tasks[n].held_out_eval else ""),
        help="* = one of the paper's held-out evaluation tasks",
    )
    st.sidebar.button("Next task ›", key="next_task", on_click=_next_task, args=(catalog,), help="Alt+T")
    # Counts go in a caption, not in the option labels: the browser keeps a select's old label text
    # after a save changes it, so a count there would go stale.
    in_cat = sum(counts.get(t, 0) for t in names)
    st.sidebar.caption(
        f"{counts.get(st.session_state.task, 0)} prompts for this task · {in_cat} in the category"
    )
    st.query_params["task"] = st.session_state.task
    return catalog.task(st.session_state.task)


def task_card(task: Task, n_prompts: int) -> None:
    """Description, type, metrics, fields, labels and split sizes, as the catalog gives them."""
    st.subheader(f"{task.name}  ·  {task.category}")
    st.markdown(task.description)
    held = " · held out for evaluation (paper Table 6)" if task.held_out_eval else ""
    st.caption(
        f"type **{task.task_type}** · metrics {', '.join(task.metrics)} · family {task.family} · "
        f"{task.few_shot}-shot{held} · {n_prompts} prompts"
    )
    c1, c2, c3 = st.columns([3, 3, 2])
    with c1:
        st.markdown("**Fields**")
        st.table({"field": list(task.fields), "meaning": list(task.fields.values())})
    with c2:
        if task.labels:
            st.markdown(f"**Labels** (`{task.label_field}` → `label_id`)")
            st.table(
                {
                    "label_id": list(range(len(task.labels))),
                    "value": list(task.labels),
                    "name": list(task.label_names),
                }
            )
        else:
            st.markdown("**Labels**: none (generated target)")
    with c3:
        st.markdown("**Splits**")
        st.table({"split": list(task.splits), "examples": list(task.splits.values())})
