"""Live preview while typing in the template body.

Streamlit's text area sends its value only on blur or Ctrl+Enter. This tiny browser-side helper
(an `st.components.v2` component mounted in the page, no build step) watches the text areas named in
LIVE_KEYS and, after a pause in typing, sends the same Ctrl+Enter the annotator could have pressed,
so the preview follows the typing without losing focus or the cursor. It skips IME composition
(pinyin being typed is not yet text). Headless tests (AppTest) drive the text area directly and
never load this script; the real-browser test checks that typing alone updates the preview.
"""

from __future__ import annotations

import streamlit as st

LIVE_KEYS = ("ed_jinja",)
PAUSE_MS = 350

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const doc = (parentElement && parentElement.ownerDocument) || document;
  doc.__wepromptLive = { keys: data.keys, pause: data.pause };
  if (doc.__wepromptLiveInstalled) return;
  doc.__wepromptLiveInstalled = true;
  let timer = null;
  const watched = (el) =>
    el instanceof HTMLTextAreaElement &&
    doc.__wepromptLive.keys.some((k) => el.closest(".st-key-" + k));
  const commit = (el) =>
    el.dispatchEvent(new KeyboardEvent("keydown", {
      key: "Enter", code: "Enter", keyCode: 13, which: 13, ctrlKey: true, bubbles: true, cancelable: true,
    }));
  const schedule = (e) => {
    if (!watched(e.target) || e.isComposing) return;
    clearTimeout(timer);
    timer = setTimeout(() => commit(e.target), doc.__wepromptLive.pause);
  };
  doc.addEventListener("input", schedule, true);
  doc.addEventListener("compositionend", schedule, true);
}
"""

_helper = st.components.v2.component("weprompt_live_typing", js=_JS, isolate_styles=False)


def mount() -> None:
    _helper(key="live_typing", data={"keys": list(LIVE_KEYS), "pause": PAUSE_MS}, height=0)
