"""Keeps the editor's draft in the server-side draft store (annotation_ui/drafts.py).

Every run of the Write view calls `sync`: a draft that differs from the prompt as loaded is written
(when it changed since the last write), one edited back to it is removed. Opening a task or a prompt
(`open_task`, `open_prompt`) restores the annotator's draft of it when there is one, so switching
prompts, tasks or views, or reloading the page, loses nothing.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from weprompt.annotation_ui.components import editor
from weprompt.annotation_ui.drafts import Draft, DraftStore
from weprompt.bank_edit import fingerprint
from weprompt.catalog import Task
from weprompt.templates import TemplateCollection

NEW = "__new__"


def store(bank_dir: str) -> DraftStore:
    return DraftStore(bank_dir)


def who() -> str:
    return str(st.session_state.get("annotator", "")).strip()


def _fields() -> dict[str, Any]:
    return {k: copy.deepcopy(st.session_state[k]) for k in editor.ED_KEYS if k in st.session_state}


def restore(d: Draft) -> None:
    st.session_state.update({k: v for k, v in d.fields.items() if k in editor.ED_KEYS})
    st.session_state.pick = NEW if d.is_new else d.prompt_id
    st.session_state._draft_last = d.fields


def open_prompt(task: Task, coll: TemplateCollection | None, drafts: DraftStore, pick: str) -> bool:
    """Load prompt `pick` (NEW: the newest new-prompt draft, or a fresh one) into the editor, from the
    annotator's draft when there is one. Returns False when the prompt is not in the file (any more)."""
    mine = drafts.drafts(who(), task.name)
    d = next((x for x in mine if x.is_new), None) if pick == NEW else drafts.get(who(), task.name, pick)
    if d is not None and d.fields.get("ed_task") == task.name:
        restore(d)
        st.session_state.flash = ("info", f"Restored your unsaved draft of '{d.name}' ({d.saved_at}).")
        return True
    t = next((t for t in coll.templates if t.id == pick), None) if coll else None
    if t is None:
        editor.load(task.name, editor.fresh_template(task), None)
    else:
        editor.load(task.name, t, fingerprint(t))
    st.session_state.pick = NEW if t is None else t.id
    return t is not None or pick == NEW


def open_task(task: Task, coll: TemplateCollection | None, drafts: DraftStore) -> None:
    """Bind the editor to `task` (first run, task switch, page reload): the prompt the annotator had
    open in it, with their draft of it."""
    if st.session_state.get("ed_task") == task.name:
        return
    st.session_state.pop("confirm_discard", None)
    opened = drafts.get_open(who(), task.name) or NEW
    ids = {t.id for t in coll.templates} if coll else set()
    if drafts.get(who(), task.name, opened) is None and opened not in ids:
        opened = NEW
    open_prompt(task, coll, drafts, opened)


def sync(drafts: DraftStore) -> bool:
    """Store or drop the draft now in the editor; True when it has unsaved changes."""
    task, pid = st.session_state.ed_task, st.session_state.ed_id
    dirty = editor.is_dirty()
    if dirty:
        fields = _fields()
        if fields != st.session_state.get("_draft_last"):
            drafts.put(who(), task, pid, fields)
            st.session_state._draft_last = fields
    elif st.session_state.pop("_draft_last", None) is not None:
        drafts.discard(who(), task, pid)
    drafts.set_open(who(), task, pid)
    return dirty


def forget(drafts: DraftStore, task: str, prompt_id: str) -> None:
    """The draft was saved, discarded or its prompt deleted."""
    drafts.discard(who(), task, prompt_id)
    st.session_state.pop("_draft_last", None)
