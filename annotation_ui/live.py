"""Live preview while typing in the template body.

Streamlit's text area sends its value only on blur or Ctrl+Enter. This tiny browser-side helper
(an `st.components.v2` component mounted in the page, no build step) watches the text areas named in
LIVE_KEYS and, after a pause in typing, sends the same Ctrl+Enter the annotator could have pressed,
so the preview follows the typing without losing focus or the cursor. It skips IME composition
(pinyin being typed is not yet text). It also makes the field palette's Insert buttons insert at the
cursor, keeping the focus in the text area (their server-side callback, which can only append, then
does not run; AppTest, which has no browser, still uses it). Headless tests (AppTest) drive the text area directly and
never load this script; the real-browser test checks that typing alone updates the preview.
"""

from __future__ import annotations

import streamlit as st

LIVE_KEYS = ("ed_jinja",)
PAUSE_MS = 350
INSERTS_KEY = "_live_inserts"

_JS = """
export default function (component) {
  const { data, parentElement } = component;
  const doc = (parentElement && parentElement.ownerDocument) || document;
  doc.__wepromptLive = { keys: data.keys, pause: data.pause, inserts: data.inserts || {} };
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

  // Insert buttons: put the snippet at the cursor of the template box (the server cannot see the
  // cursor and would append), keep the focus there, and commit after the usual pause.
  const snippetOf = (el) => {
    const box = el && el.closest && el.closest("[class*='st-key-']");
    if (!box) return null;
    const key = [...box.classList].find((c) => c.startsWith("st-key-"));
    const text = key && doc.__wepromptLive.inserts[key.slice(7)];
    return typeof text === "string" ? text : null;
  };
  const target = () => doc.querySelector(".st-key-" + doc.__wepromptLive.keys[0] + " textarea");
  doc.addEventListener("mousedown", (e) => {
    if (snippetOf(e.target) !== null && target()) e.preventDefault();  // the button takes no focus
  }, true);
  doc.addEventListener("click", (e) => {
    const text = snippetOf(e.target);
    const ta = target();
    if (text === null || !ta) return;
    e.preventDefault();
    e.stopPropagation();  // Streamlit's own handler (append on the server) does not run
    const start = ta.selectionStart ?? ta.value.length;
    const end = ta.selectionEnd ?? start;
    ta.focus();
    ta.setSelectionRange(start, end);
    if (!doc.execCommand("insertText", false, text)) {
      const set = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set;
      set.call(ta, ta.value.slice(0, start) + text + ta.value.slice(end));
      ta.setSelectionRange(start + text.length, start + text.length);
      ta.dispatchEvent(new Event("input", { bubbles: true }));
    }
    clearTimeout(timer);
    timer = setTimeout(() => commit(ta), doc.__wepromptLive.pause);
  }, true);

  // Shortcuts: Ctrl/Cmd+S save (after what is being typed has reached the server), Alt+N the next
  // example in the preview, Alt+T the next task.
  const q = (sel) => doc.querySelector(sel);
  const idle = () => q("[data-testid='stApp']")?.getAttribute("data-test-script-state") === "notRunning";
  const clickWhenReady = (sel, tries) => {
    const b = q(sel);
    if (idle() && b && !b.disabled) { b.click(); return; }
    if (tries > 0) setTimeout(() => clickWhenReady(sel, tries - 1), 100);
  };
  doc.addEventListener("keydown", (e) => {
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && !e.altKey && key === "s") {
      e.preventDefault();
      const el = doc.activeElement;
      clearTimeout(timer);
      if (el instanceof HTMLTextAreaElement) commit(el);
      else if (el && el.blur) el.blur();
      setTimeout(() => clickWhenReady(".st-key-save button", 100), 200);
    } else if (e.altKey && !e.ctrlKey && (key === "n" || e.code === "KeyN")) {
      e.preventDefault();
      q(".st-key-preview_start [data-testid='stNumberInputStepUp']")?.click();
    } else if (e.altKey && !e.ctrlKey && (key === "t" || e.code === "KeyT")) {
      e.preventDefault();
      q(".st-key-next_task button")?.click();
    }
  }, true);
}
"""

_helper = st.components.v2.component("weprompt_live_typing", js=_JS, isolate_styles=False)


def mount() -> None:
    """Mount the helper; the insert buttons drawn this run (`register_insert`) insert at the cursor."""
    inserts = st.session_state.get(INSERTS_KEY, {})
    _helper(
        key="live_typing", data={"keys": list(LIVE_KEYS), "pause": PAUSE_MS, "inserts": inserts}, height=0
    )


def register_insert(button_key: str, text: str) -> None:
    """Make the button `button_key` insert `text` at the template box's cursor in the browser."""
    st.session_state.setdefault(INSERTS_KEY, {})[button_key] = text
