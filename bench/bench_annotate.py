"""Annotation UI latency in a real browser: page ready, live-preview latency, save latency.

    python bench/bench_annotate.py --repo /work/main --repo . --runs 2

For each run and each repo (alternating, so load drifts hit both), starts that repo's `weprompt
annotate` on a private copy of its bank (catalog + the real ocnli prompts) and the shared data, loads
the Write view in headless Chromium (tests/ui/cdp.py) and measures:
  page ready  navigation -> the editor is there and the script run is over
  preview     typing a template (no key press) -> its rendering of validation example 0 is shown
  save        click on Save -> the "Added" message is shown
Prints one JSON line per measurement and a median table per repo.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "ui"))
from cdp import Browser  # noqa: E402

TEMPLATE = "前提：{{sentence1}}\n假设：{{sentence2}}\n两句话是什么关系？ ||| {{answer_choices[label_id]}}"
FIRST_PREMISE = "身上裹一件工厂发的棉大衣"  # ocnli validation example 0


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bank(repo: Path, tmp: Path) -> Path:
    bank = tmp / "bank"
    (bank / "templates").mkdir(parents=True)
    shutil.copy(repo / "prompt_bank" / "catalog.yaml", bank / "catalog.yaml")
    shutil.copy(repo / "prompt_bank" / "templates" / "ocnli.yaml", bank / "templates" / "ocnli.yaml")
    return bank


def measure(repo: Path) -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        bank, port = _bank(repo, tmp), _port()
        env = {**os.environ, "PYTHONPATH": str(repo)}
        cmd = [
            sys.executable,
            "-m",
            "weprompt.cli.main",
            "annotate",
            "--bank-dir",
            str(bank),
            "--port",
            str(port),
        ]
        with open(tmp / "server.log", "w") as log:
            proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        browser = None
        try:
            for _ in range(300):
                try:
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read()
                    break
                except OSError:
                    time.sleep(0.2)
            browser = Browser(width=1400, height=1500)
            ta = "document.querySelector('.st-key-ed_jinja textarea')"
            t0 = time.monotonic()
            browser.goto(f"{url}/?annotator=计时&task=ocnli&view=Write")
            browser.wait_for(f"!!{ta}", timeout=120)
            browser.wait_idle()
            ready = time.monotonic() - t0
            browser.eval(f"{ta}.focus()")
            browser.send("Input.insertText", text=TEMPLATE)
            preview = browser.wait_for(
                f"document.body.innerText.includes('前提：{FIRST_PREMISE}')", timeout=60
            )
            browser.wait_idle()
            browser.eval("document.querySelector('.st-key-ed_name input').focus()")
            browser.send("Input.insertText", text=f"计时_{port}")
            for kind in ("keyDown", "keyUp"):
                browser.send(
                    "Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13
                )
            browser.wait_for("!document.querySelector('.st-key-save button').disabled", timeout=60)
            browser.wait_idle()
            browser.eval("document.querySelector('.st-key-save button').click()")
            save = browser.wait_for('document.body.innerText.includes("Added \'计时_")', timeout=60)
            return {
                "repo": str(repo),
                "page_ready_s": round(ready, 2),
                "preview_s": round(preview, 2),
                "save_s": round(save, 2),
            }
        finally:
            if browser:
                browser.close()
            proc.terminate()
            proc.wait(timeout=20)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", action="append", required=True, help="repo root to serve from (repeatable)")
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    rows = []
    for _ in range(args.runs):
        for repo in args.repo:
            row = measure(Path(repo).resolve())
            print(json.dumps(row, ensure_ascii=False), flush=True)
            rows.append(row)
    for repo in dict.fromkeys(r["repo"] for r in rows):
        mine = [r for r in rows if r["repo"] == repo]
        med = {k: statistics.median(r[k] for r in mine) for k in ("page_ready_s", "preview_s", "save_s")}
        print(f"{repo}: median of {len(mine)}: " + ", ".join(f"{k} {v:.2f}" for k, v in med.items()))


if __name__ == "__main__":
    main()
