"""Search and navigation (issue 23): find a task by name or description words, next task, jump from
Health to a task; guidance beside the editor (the category's note, existing prompts, missing styles)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_ui_app import goto, start, texts

from weprompt.annotation_ui.components.guidance import GUIDELINES, guideline
from weprompt.bank import bank_catalog
from weprompt.common.errors import UserError

pytestmark = pytest.mark.usefixtures("synth_data")


def test_find_a_task_by_words_of_its_description(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Browse")
    at.sidebar.text_input(key="task_search").input("non-translated nli").run()
    buttons = [b.key for b in at.sidebar.button if str(b.key).startswith("goto_")]
    assert buttons == ["goto_ocnli"]
    at.sidebar.text_input(key="task_search").input("cmrc2018").run()
    at.sidebar.button(key="goto_cmrc2018").click().run()
    assert at.sidebar.selectbox(key="task").value == "cmrc2018"
    assert at.sidebar.selectbox(key="category").value == "reading_comprehension"
    at.sidebar.text_input(key="task_search").input("没有这种任务").run()
    assert "No task matches." in texts(at.sidebar.caption)


def test_next_task_and_health_jump(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    cat = bank_catalog(bank)
    order = [n for names in cat.categories.values() for n in names]
    at.sidebar.button(key="next_task").click().run()
    assert at.sidebar.selectbox(key="task").value == order[order.index("ocnli") + 1]
    goto(at, "Health")
    at.selectbox(key="health_goto").set_value("cmrc2018").run()
    at.button(key="health_open").click().run()
    assert at.sidebar.radio(key="view").value == "Write"
    assert at.sidebar.selectbox(key="task").value == "cmrc2018"
    assert "Write · cmrc2018" in [h.value for h in at.subheader]


def test_guidance_beside_the_editor(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    guide = next(e for e in at.expander if e.label.startswith("Guidance · nli · 2 prompts"))
    body = texts(guide.markdown) + texts(guide.caption)
    assert "蕴含/中立/矛盾" in body  # the nli note
    assert "三选一_关系判断" in body and "考试题_列出选项" in body  # the task's prompts, with status
    assert "Missing so far:** other task (not the original), choices not listed" in body


def test_every_category_has_a_note_and_unknown_ones_are_errors(bank, tmp_path: Path):
    cat = bank_catalog(bank)
    assert all(guideline(cat, c) for c in cat.categories)
    bad = tmp_path / "guidelines.yaml"
    notes = yaml.safe_load(GUIDELINES.read_text(encoding="utf-8"))
    bad.write_text(yaml.safe_dump({**notes, "astrology": "x"}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match="astrology"):
        guideline(cat, "nli", bad)
