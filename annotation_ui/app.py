"""WePrompt's prompt-writing GUI: `weprompt annotate` or `streamlit run annotation_ui/app.py`.

This file only wires the pieces: settings and the annotator in the sidebar, then one of three views
(Browse, Write, Review, Health), each its own module under views/. The logic the views call (validation,
saving, statistics) lives in `weprompt` where the CLI and the tests use it too.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from weprompt import annotation_ui  # noqa: F401
except ImportError:  # `streamlit run` puts only this file's directory on sys.path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from weprompt.annotation_ui import identity, live, settings, state
from weprompt.annotation_ui.components import editor
from weprompt.annotation_ui.components.task_picker import pick_task
from weprompt.annotation_ui.views import browse, health, review, write

VIEWS = ("Browse", "Write", "Review", "Health")

st.set_page_config(page_title="WePrompt · prompt writing", page_icon="✍️", layout="wide")
editor.keep_draft()
cfg = settings.sidebar_settings()
annotator = identity.ask_annotator()
catalog, error = state.catalog(cfg.bank_dir)
if error or catalog is None:
    st.error(f"Cannot open the prompt bank: {error}. Check the bank dir under Settings in the sidebar.")
    st.stop()

if st.session_state.get("view") not in VIEWS:
    linked = st.query_params.get("view")  # deep links: ?view=Write&task=ocnli
    st.session_state.view = linked if linked in VIEWS else VIEWS[0]
view = st.sidebar.radio("View", VIEWS, key="view", horizontal=True)
st.sidebar.caption(f"bank: `{cfg.bank_dir}`")

if view == "Health":
    health.render(cfg)
elif view == "Review":
    review.render(catalog, cfg)
else:
    counts = state.prompt_counts(cfg.bank_dir)
    task = pick_task(catalog, counts)
    if view == "Browse":
        browse.render(catalog, task, cfg)
    else:
        write.render(catalog, task, cfg)
        live.mount()
