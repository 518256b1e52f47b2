"""History beside the editor: the open prompt's versions (who, when, what) with a diff against the
draft, deleted prompts of the task with who deleted them and a Restore button, and after a conflict a
three-way view (the version you started from, the file's version now, your draft)."""

from __future__ import annotations

import streamlit as st

from weprompt import bank_history as history
from weprompt.annotation_ui.components import draft_keeper, editor
from weprompt.annotation_ui.components.preview import md
from weprompt.bank_edit import fingerprint, restore_template
from weprompt.catalog import Task
from weprompt.common.errors import UserError
from weprompt.templates import TemplateCollection


def _on_restore(task: Task, template_id: str, bank_dir: str) -> None:
    try:
        t = restore_template(task, template_id, draft_keeper.who(), bank_dir=bank_dir)
    except UserError as e:
        st.session_state.flash = ("error", f"Not restored: {e}")
        return
    editor.load(task.name, t, fingerprint(t))
    st.session_state.pick = t.id
    st.session_state.flash = ("success", f"Restored '{t.name}' (as a draft: submit it for review again).")


def _versions(task: Task, bank_dir: str) -> None:
    versions = history.entries(task.name, bank_dir, st.session_state.ed_id)
    if not versions:
        return
    with st.expander(f"History of this prompt ({len(versions)} changes)"):
        st.dataframe(
            [{"at": e.at, "by": e.by, "action": e.action, "name": e.name} for e in reversed(versions)],
            hide_index=True,
        )
        labels = {i: f"{e.at} · {e.action} by {e.by}" for i, e in enumerate(versions)}
        i = st.selectbox(
            "Compare your draft with",
            list(range(len(versions))),
            format_func=lambda k: labels[k],
            key="history_pick",
        )
        old = versions[int(i or 0)].template().jinja
        st.code(history.diff(old, st.session_state.ed_jinja, "that version", "your draft") or "(same text)",
                language="diff")  # fmt: skip


def _deleted(task: Task, coll: TemplateCollection | None, bank_dir: str) -> None:
    gone = history.deleted(task.name, {t.id for t in coll.templates} if coll else set(), bank_dir)
    if not gone:
        return
    with st.expander(f"Deleted prompts of {task.name} ({len(gone)})"):
        for e in gone:
            c1, c2 = st.columns([4, 1], vertical_alignment="center")
            c1.markdown(f"**{md(e.name)}** — deleted by {md(e.by)} at {e.at}")
            c2.button(
                "Restore",
                key=f"restore_{e.template_id}",
                on_click=_on_restore,
                args=(task, e.template_id, bank_dir),
            )


def conflict_view(task: Task, coll: TemplateCollection | None, bank_dir: str) -> None:
    """After a refused save: base | theirs | yours, with the two diffs, so nothing is retyped."""
    if st.session_state.get("conflict") != st.session_state.ed_id or coll is None:
        return
    theirs = next((t for t in coll.templates if t.id == st.session_state.ed_id), None)
    base = history.by_fingerprint(task.name, st.session_state.ed_id, st.session_state.ed_base or "", bank_dir)
    st.warning(
        "Someone saved this prompt after you opened it. Their version, yours, and where you both started:"
    )
    c1, c2, c3 = st.columns(3)
    c1.caption("where you started")
    c1.code(base.template().jinja if base else "(not in the history)", language=None, wrap_lines=True)
    c2.caption(f"theirs (by {theirs.metadata.extra.get('modified_by', '?') if theirs else 'deleted'})")
    c2.code(theirs.jinja if theirs else "(deleted)", language=None, wrap_lines=True)
    c3.caption("yours (the draft)")
    c3.code(st.session_state.ed_jinja, language=None, wrap_lines=True)
    if base and theirs:
        st.code(history.diff(base.template().jinja, theirs.jinja, "start", "theirs"), language="diff")
    st.caption(
        "Reload takes their version (after a confirm: your text is dropped); Clone keeps yours as a new prompt."
    )


def show(task: Task, coll: TemplateCollection | None, bank_dir: str) -> None:
    _versions(task, bank_dir)
    _deleted(task, coll, bank_dir)
