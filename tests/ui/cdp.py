"""A minimal Chrome DevTools Protocol driver for the real-browser test (headless Debian `chromium`).

A plain `chromium --screenshot` captures Streamlit's empty skeleton: the app is drawn by JavaScript
over a websocket after the page "loads". So we drive Chromium over its remote-debugging protocol
(the `websockets` package Streamlit depends on is enough), wait until an app element exists and the
script run is over, and only then take the screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, width: int = 1400, height: int = 1600):
        self.profile = tempfile.mkdtemp(prefix="weprompt-chromium-")
        self.proc = subprocess.Popen(
            [
                find_chromium() or "chromium",
                *CHROMIUM_FLAGS,
                f"--window-size={width},{height}",
                "--remote-debugging-port=0",  # Chromium picks a free port and writes it to the profile
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its debugging port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(
            connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10)
        )
        self._id = 0

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:  # skip events until our reply
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str):
        r = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JS error in {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", url=url)

    def wait_for(self, expression: str, timeout: float = 30.0) -> float:
        """Poll a JS expression until truthy; returns the seconds it took."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.eval(expression):
                return time.monotonic() - start
            time.sleep(0.1)
        raise TimeoutError(f"timed out after {timeout}s waiting for: {expression}")

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.5) -> None:
        """Until the script run is over: Streamlit marks its root `data-test-script-state`
        ('initial', 'running', 'notRunning', ...); the 'running' status widget is not reliable, it
        shows only after a delay and not at all with a minimal toolbar."""
        state = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            if self.eval(state) != "notRunning":
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= settle:
                return
            time.sleep(0.1)
        raise TimeoutError(f"the app kept running for {timeout}s")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            if getattr(self, "_stack", None):
                self._stack.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            shutil.rmtree(self.profile, ignore_errors=True)
