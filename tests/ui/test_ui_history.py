"""History (issue 23): every create / edit / delete / review is recorded with who and when; the UI
diffs a version against the draft, lists deleted prompts with who deleted them and restores them, and
a conflict shows where you started, their version and yours."""

from __future__ import annotations

import pytest
from test_ui_app import GOOD, goto, start, texts, type_template

from weprompt import bank_history as history
from weprompt.bank import load_task_templates

pytestmark = pytest.mark.usefixtures("synth_data")


def test_history_diff_delete_and_restore(monkeypatch, bank):
    at = goto(start(monkeypatch, bank, name="吴十"), "Write")
    type_template(at, GOOD, name="有历史")
    at.button(key="save").click().run()
    tid = load_task_templates("ocnli", bank).by_name("有历史").id
    type_template(at, GOOD.replace("两者的关系是？", "两句是什么关系？"))
    at.button(key="save").click().run()
    assert [(e.action, e.by) for e in history.entries("ocnli", bank, tid)] == [
        ("created", "吴十"),
        ("edited", "吴十"),
    ]
    hist = next(e for e in at.expander if e.label == "History of this prompt (2 changes)")
    at.selectbox(key="history_pick").set_value(0).run()
    diff = next(c.value for c in at.code if c.value.startswith("--- that version"))
    assert "-假设：{{sentence2}}\n" not in diff and "+两句是什么关系？" in diff.replace(" |||", "\n|||")
    assert hist is not None

    at.button(key="delete").click().run()
    at.button(key="delete_yes").click().run()
    assert tid not in {t.id for t in load_task_templates("ocnli", bank).templates}
    gone = next(e for e in at.expander if e.label == "Deleted prompts of ocnli (1)")
    assert "deleted by 吴十" in texts(gone.markdown)
    at.button(key=f"restore_{tid}").click().run()
    assert "Restored '有历史'" in texts(at.success)
    back = load_task_templates("ocnli", bank).by_id(tid)
    assert "两句是什么关系" in back.jinja and back.metadata.extra["review_status"] == "draft"
    assert [e.action for e in history.entries("ocnli", bank, tid)] == [
        "created",
        "edited",
        "deleted",
        "restored",
    ]


def test_conflict_shows_three_versions(monkeypatch, bank):
    a = goto(start(monkeypatch, bank, name="甲"), "Write")
    type_template(a, GOOD, name="冲突测试")
    a.button(key="save").click().run()
    tid = load_task_templates("ocnli", bank).by_name("冲突测试").id
    b = goto(start(monkeypatch, bank, name="乙"), "Write")
    b.selectbox(key="pick").set_value(tid).run()
    type_template(a, GOOD.replace("两者的关系是？", "两者是哪种关系？"))
    a.button(key="save").click().run()
    type_template(b, GOOD.replace("两者的关系是？", "两者有何关系？"))
    b.button(key="save").click().run()
    assert "Someone saved this prompt after you opened it" in texts(b.warning)
    codes = [c.value for c in b.code]
    assert GOOD in codes  # where both started, from the history
    assert any("两者是哪种关系" in c for c in codes) and any("两者有何关系" in c for c in codes)
    assert any(c.startswith("--- start") and "+两者是哪种关系？" in c.replace(" |||", "\n") for c in codes)
    b.button(key="reload").click().run()
    b.button(key="discard_yes").click().run()
    assert "Someone saved this prompt" not in texts(b.warning)
