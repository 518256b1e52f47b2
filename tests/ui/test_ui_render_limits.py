"""The annotation app given a template that would hang or blow up (issue 17): an inline error, not a
frozen page; the preview stops after the first example that hits a limit, and the prompt cannot be saved."""

from __future__ import annotations

import time

import pytest
from test_ui_app import goto, start, texts, type_template

pytestmark = pytest.mark.usefixtures("synth_data")
# range(10000) is allowed, but three of them nested never finish: only the time limit stops it.
RUNAWAY = (
    "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}"
    "{% endfor %}{% endfor %}{% endfor %}{{sentence1}} ||| {{answer_choices[label_id]}}"
)


def test_a_runaway_template_is_an_inline_error_not_a_freeze(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    began = time.monotonic()
    type_template(at, RUNAWAY, name="死循环")
    assert time.monotonic() - began < 30
    errors = [str(e.value).replace("\\", "") for e in at.error]  # Markdown escapes removed
    preview = [e for e in errors if e.startswith("example ")]
    assert len(preview) == 1 and "stopped at a render limit" in preview[0], errors
    assert "longer than the 1 s limit (RENDER_TIME_LIMIT_S)" in preview[0]
    assert "render_limit" in texts(at.error) and at.button(key="save").disabled
