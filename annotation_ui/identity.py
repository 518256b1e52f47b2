"""Who is annotating: asked once per session (and kept in the URL, so a reload does not ask again)."""

from __future__ import annotations

import streamlit as st


def ask_annotator() -> str:
    """The annotator's name; until there is one, the app shows only this question."""
    # Drawn first: with `bind`, a `?annotator=` link fills the widget when it is created.
    name = (st.sidebar.text_input("Annotator", key="annotator", bind="query-params") or "").strip()
    if not name:
        st.title("WePrompt prompt writing")
        st.markdown(
            "Your name is recorded on every prompt you create or edit "
            "(`created_by` / `modified_by` in the prompt's metadata)."
        )
        st.text_input("Your name", key="annotator_first", on_change=_take_name)
        st.stop()
    return name


def _take_name() -> None:
    st.session_state.annotator = st.session_state.annotator_first.strip()
