"""The Write view's review line: the open prompt's status as in the file, the reviewer's reason after
a rejection, and Submit for review (for a saved draft or a rejected prompt with no unsaved changes)."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui.components import draft_keeper, editor
from weprompt.annotation_ui.components.preview import md
from weprompt.bank_edit import fingerprint, review_template
from weprompt.bank_review import APPROVED_STATUS, REJECTED, SUBMITTED, status_of
from weprompt.catalog import Task
from weprompt.common.errors import UserError
from weprompt.templates import TemplateCollection


def _on_submit(task: Task, bank_dir: str) -> None:
    try:
        t = review_template(
            task,
            st.session_state.ed_id,
            "submit",
            draft_keeper.who(),
            bank_dir=bank_dir,
            base=st.session_state.ed_base,
        )
    except UserError as e:
        st.session_state.flash = ("error", f"Not submitted: {e}")
        return
    editor.load(task.name, t, fingerprint(t))
    st.session_state.flash = ("success", f"Submitted '{t.name}' for review: a second person approves it.")


def review_bar(task: Task, coll: TemplateCollection | None, bank_dir: str) -> None:
    if not st.session_state.ed_base or coll is None:
        st.caption("Review: a new prompt is saved as a **draft**; then submit it for review.")
        return
    t = next((x for x in coll.templates if x.id == st.session_state.ed_id), None)
    if t is None:
        return
    status, extra = status_of(t), t.metadata.extra
    line = f"Review status: **{status}**"
    if status == SUBMITTED:
        line += f" (by {md(extra.get('submitted_by', '?'))}, waiting for a reviewer)"
    elif status == APPROVED_STATUS:
        line += (
            f" (by {md(extra['reviewed_by'])})" if "reviewed_by" in extra else " (in the bank before review)"
        )
    st.markdown(line)
    if status == REJECTED:
        st.error(f"Rejected by {md(extra.get('reviewed_by', '?'))}: {md(extra.get('review_comment', ''))}")
    if status in ("draft", REJECTED):
        dirty = editor.is_dirty()
        st.button(
            "Submit for review",
            key="submit",
            disabled=dirty,
            on_click=_on_submit,
            args=(task, bank_dir),
            help="save your changes first" if dirty else "a reviewer approves or rejects it",
        )
