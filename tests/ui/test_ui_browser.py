"""One real-browser check: `weprompt annotate` serves the app, headless Chromium loads it, the
annotator's typing alone re-renders the preview on real Chinese examples, a prompt is saved, and
the screenshot shows the app (not Streamlit's empty skeleton or an error page).

Set WEPROMPT_UI_SCREENSHOTS=<dir> to keep the screenshots.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from pathlib import Path

import pytest
from cdp import Browser, find_chromium
from testutil import REPO, requires_data

from weprompt.bank import load_task_templates

pytestmark = [
    requires_data,
    pytest.mark.skipif(
        find_chromium() is None,
        reason="chromium is not installed (CI's .ci/run installs it: apt-get install chromium fonts-wqy-microhei)",
    ),
]
TEMPLATE = "前提：{{sentence1}}\n假设：{{sentence2}}\n两句话是什么关系？ ||| {{answer_choices[label_id]}}"
FIRST_PREMISE = "身上裹一件工厂发的棉大衣"  # ocnli validation example 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(bank, tmp_path):
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "weprompt.cli.main", "annotate", "--bank-dir", str(bank), "--port", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the server did not start:\n" + (tmp_path / "server.log").read_text())
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _keep(path: Path) -> None:
    if out := os.environ.get("WEPROMPT_UI_SCREENSHOTS"):
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(out) / path.name)


def _assert_rendered(png: Path) -> None:
    from PIL import Image

    img = Image.open(png).convert("RGB")
    assert img.size[0] >= 1200
    small = img.resize((280, 280))
    colors = small.getcolors(maxcolors=280 * 280)
    non_white = sum(n for n, c in colors if sum(c) < 3 * 235)
    # A blank page or the empty skeleton is one or two flat colors; the app has text, boxes, a sidebar.
    assert len(colors) > 100 and non_white / (280 * 280) > 0.03, (len(colors), non_white)


def test_real_browser_renders_types_and_saves(server, bank, tmp_path):
    if (
        not shutil.which("fc-list")
        or "wqy" not in subprocess.run(["fc-list"], capture_output=True, text=True).stdout.lower()
    ):
        warnings.warn("no WenQuanYi font: Chinese text will show as boxes in the screenshot", stacklevel=1)
    browser = Browser(width=1400, height=1500)
    try:
        start = time.monotonic()
        browser.goto(f"{server}/?annotator=测试员&task=ocnli&view=Write")
        browser.wait_for("!!document.querySelector('.st-key-ed_jinja textarea')")
        browser.wait_idle()
        loaded = time.monotonic() - start
        assert browser.eval("document.querySelectorAll('[data-testid=\"stException\"]').length") == 0
        body = browser.eval("document.body.innerText")
        assert "Write · ocnli" in body and "测试员" in browser.eval(
            "document.querySelector('.st-key-annotator input').value"
        )

        # Type: no Enter, no click. The preview must follow on real examples.
        browser.eval("document.querySelector('.st-key-ed_jinja textarea').focus()")
        browser.send("Input.insertText", text=TEMPLATE)
        live = browser.wait_for(f"document.body.innerText.includes('前提：{FIRST_PREMISE}')", timeout=20)
        browser.wait_idle()
        assert browser.eval("document.activeElement.tagName") == "TEXTAREA"  # typing was not interrupted
        body = browser.eval("document.body.innerText")
        assert "target is a choice" in body and "no_name" in body  # inline check: the name is missing
        shot = browser.screenshot(tmp_path / "annotate_write_preview.png")
        _assert_rendered(shot)
        _keep(shot)

        # Name it, save it, find it in the YAML.
        browser.eval("document.querySelector('.st-key-ed_name input').focus()")
        browser.send("Input.insertText", text="前提假设_浏览器")
        browser.send(
            "Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13
        )
        browser.send(
            "Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13
        )
        browser.wait_for("!document.querySelector('.st-key-save button').disabled", timeout=20)
        browser.eval("document.querySelector('.st-key-save button').click()")
        browser.wait_for("document.body.innerText.includes(\"Added '前提假设_浏览器'\")", timeout=20)
        browser.wait_idle()
        total = time.monotonic() - start
        shot = browser.screenshot(tmp_path / "annotate_saved.png")
        _assert_rendered(shot)
        _keep(shot)
    finally:
        browser.close()
    saved = load_task_templates("ocnli", bank).by_name("前提假设_浏览器")
    assert saved.jinja == TEMPLATE and saved.metadata.extra["created_by"] == "测试员"
    print(f"page ready {loaded:.1f}s, live preview {live:.1f}s after typing, saved {total:.1f}s after load")
