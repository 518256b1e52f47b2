"""Real browser, the whole review flow: an annotator types a prompt (live preview), saves it, edits it,
reloads the page and finds the edit still there (unsaved marker), saves and submits it; a reviewer in
another browser session approves it in the Review view; the YAML says `review_status: approved`.

Prints the timings the issue asks for (page ready, preview latency, save latency). Set
WEPROMPT_UI_SCREENSHOTS=<dir> to keep the screenshots.
"""

from __future__ import annotations

import time

from cdp import Browser
from test_ui_browser import FIRST_PREMISE, TEMPLATE, _assert_rendered, _keep, pytestmark, server  # noqa: F401

from weprompt.bank import load_task_templates

TEXTAREA = "document.querySelector('.st-key-ed_jinja textarea')"
BODY = "(document.body?.innerText || '')"
UNSAVED = "!!document.querySelector('.st-key-draft_bar')?.innerText.includes('Unsaved changes')"


def _type_into(browser: Browser, selector: str, text: str, select_all: bool = False) -> None:
    browser.eval(f"{selector}.focus()")
    if select_all:
        browser.eval(f"{selector}.select()")
    browser.send("Input.insertText", text=text)


def _click(browser: Browser, key: str) -> None:
    browser.wait_for(f"!!document.querySelector('.st-key-{key} button') && "
                     f"!document.querySelector('.st-key-{key} button').disabled", timeout=30)  # fmt: skip
    browser.eval(f"document.querySelector('.st-key-{key} button').click()")


def _open(browser: Browser, url: str, ready: str) -> float:
    start = time.monotonic()
    browser.goto(url)
    browser.wait_for(ready, timeout=60)
    browser.wait_idle()
    return time.monotonic() - start


def test_draft_to_approved_in_the_browser(server, bank, tmp_path):  # noqa: F811
    timings: dict[str, float] = {}
    a = Browser(width=1400, height=1500)
    try:
        url = f"{server}/?annotator=作者甲&task=ocnli&view=Write"
        timings["page ready"] = _open(a, url, f"!!{TEXTAREA}")
        _type_into(a, TEXTAREA, TEMPLATE)
        timings["preview"] = a.wait_for(f"{BODY}.includes('前提：{FIRST_PREMISE}')", timeout=30)
        a.wait_idle()
        assert a.eval("document.activeElement.tagName") == "TEXTAREA"
        assert a.eval(UNSAVED)  # the unsaved marker
        _type_into(a, "document.querySelector('.st-key-ed_name input')", "浏览器_待审")
        a.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        a.send("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)
        a.wait_idle()
        _click(a, "save")
        timings["save"] = a.wait_for(f"{BODY}.includes(\"Added '浏览器_待审'\")", timeout=30)
        a.wait_idle()

        # An edit, then a reload (a new session): the edit is still there, marked unsaved.
        edited = TEMPLATE.replace("两句话是什么关系", "两句话属于哪种关系")
        _type_into(a, TEXTAREA, edited, select_all=True)
        a.wait_for(UNSAVED, timeout=30)
        a.wait_idle()
        _open(a, url, f"!!{TEXTAREA} && {TEXTAREA}.value.includes('属于哪种关系')")
        assert a.eval(UNSAVED)
        shot = a.screenshot(tmp_path / "review_1_draft_after_reload.png")
        _assert_rendered(shot)
        _keep(shot)
        _click(a, "save")
        a.wait_for(f"{BODY}.includes(\"Updated '浏览器_待审'\")", timeout=30)
        a.wait_idle()
        _click(a, "submit")
        a.wait_for(f"{BODY}.includes(\"Submitted '浏览器_待审' for review\")", timeout=30)
        a.wait_idle()
    finally:
        a.close()
    assert (
        load_task_templates("ocnli", bank).by_name("浏览器_待审").metadata.extra["review_status"]
        == "submitted"
    )

    b = Browser(width=1400, height=1700)
    try:
        _open(b, f"{server}/?annotator=审稿人乙&view=Review", f"{BODY}.includes('Review queue · 1 waiting')")
        b.wait_for(f"{BODY}.includes('前提：{FIRST_PREMISE}')", timeout=30)  # rendered on real examples
        # The columns of one script run reach the page one after another: wait, do not sample once.
        b.wait_for(f"{BODY}.includes('Nearest duplicate')", timeout=30)
        shot = b.screenshot(tmp_path / "review_2_queue.png")
        _assert_rendered(shot)
        _keep(shot)
        _click(b, "approve")
        b.wait_for(f"{BODY}.includes('is approved now')", timeout=30)
        b.wait_idle()
        shot = b.screenshot(tmp_path / "review_3_approved.png")
        _keep(shot)
        _open(b, f"{server}/?annotator=审稿人乙&view=Health", f"{BODY}.includes('Prompts per category')")
        b.wait_for(
            '!!document.querySelector(\'[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg\')',
            timeout=30,
        )
        time.sleep(1)  # the chart draws after the script run
        shot = b.screenshot(tmp_path / "review_4_health.png")
        _assert_rendered(shot)
        _keep(shot)
    finally:
        b.close()
    saved = load_task_templates("ocnli", bank).by_name("浏览器_待审")
    assert "属于哪种关系" in saved.jinja
    assert (
        saved.metadata.extra["review_status"] == "approved"
        and saved.metadata.extra["reviewed_by"] == "审稿人乙"
    )
    assert "review_status: approved" in (bank / "templates" / "ocnli.yaml").read_text(encoding="utf-8")
    print("timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))


def _mouse_click(browser: Browser, selector: str) -> None:
    """A real click (mouse down, up) at the element's centre, as a user's."""
    x, y = browser.eval(
        f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)


def test_insert_buttons_insert_at_the_cursor_and_keep_the_focus(server, bank):  # noqa: F811
    b = Browser(width=1400, height=1500)
    try:
        _open(b, f"{server}/?annotator=插入者&task=ocnli&view=Write", f"!!{TEXTAREA}")
        _type_into(b, TEXTAREA, TEMPLATE)
        b.wait_for(f"{BODY}.includes('前提：{FIRST_PREMISE}')", timeout=30)
        b.wait_idle()
        b.eval(f"{TEXTAREA}.focus(); {TEXTAREA}.setSelectionRange(0, 0)")
        _mouse_click(b, ".st-key-field_sentence2 button")
        assert b.eval(f"{TEXTAREA}.value") == "{{sentence2}}" + TEMPLATE
        assert b.eval("document.activeElement.tagName") == "TEXTAREA"
        assert b.eval(f"{TEXTAREA}.selectionStart") == len("{{sentence2}}")
        b.wait_for(
            f"{BODY}.includes('身上至少一件衣服前提：{FIRST_PREMISE}')", timeout=30
        )  # the server has it
        b.wait_idle()
        assert b.eval("document.activeElement.tagName") == "TEXTAREA"
    finally:
        b.close()
