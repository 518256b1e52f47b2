"""Draft safety (issue 23): an annotator's edits survive prompt switches, task switches, view switches
and page reloads (a new session), show an unsaved marker, and are discarded only after a confirm."""

from __future__ import annotations

import pytest
from test_ui_app import GOOD, goto, start, texts, type_template
from ui_seed import SEED

from weprompt.annotation_ui.drafts import DraftStore
from weprompt.bank import load_task_templates

pytestmark = pytest.mark.usefixtures("synth_data")
EDIT = SEED[0].jinja.replace("是什么关系", "属于哪种关系")


def _unsaved(at) -> bool:
    return "Unsaved changes" in texts(at.markdown)


def test_edit_survives_picking_another_prompt_and_back(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    at.selectbox(key="pick").set_value(SEED[0].id).run()
    assert not _unsaved(at)
    type_template(at, EDIT)
    assert _unsaved(at)
    at.selectbox(key="pick").set_value(SEED[1].id).run()
    assert at.text_area(key="ed_jinja").value == SEED[1].jinja and not _unsaved(at)
    assert "Your other unsaved drafts for ocnli (1)" in [e.label for e in at.expander]
    at.selectbox(key="pick").set_value(SEED[0].id).run()
    assert at.text_area(key="ed_jinja").value == EDIT and _unsaved(at)
    assert "Restored your unsaved draft" in texts(at.info)


def test_edit_and_new_prompt_survive_a_reload(monkeypatch, bank):
    at = goto(start(monkeypatch, bank, name="钱七"), "Write")
    type_template(at, GOOD, name="新草稿")
    at.selectbox(key="pick").set_value(SEED[0].id).run()
    type_template(at, EDIT)
    goto(at, "Write", task="cmnli")
    goto(at, "Health")
    fresh = goto(start(monkeypatch, bank, name="钱七"), "Write")  # the page reloaded: a new session
    assert fresh.selectbox(key="pick").value == SEED[0].id
    assert fresh.text_area(key="ed_jinja").value == EDIT and _unsaved(fresh)
    fresh.selectbox(key="pick").set_value("__new__").run()
    assert fresh.text_input(key="ed_name").value == "新草稿" and fresh.text_area(key="ed_jinja").value == GOOD
    other = goto(start(monkeypatch, bank, name="孙八"), "Write")  # drafts are per annotator
    assert other.text_area(key="ed_jinja").value == "" and not _unsaved(other)


def test_discard_asks_first_and_save_clears_the_draft(monkeypatch, bank):
    at = goto(start(monkeypatch, bank, name="周九"), "Write")
    at.selectbox(key="pick").set_value(SEED[0].id).run()
    type_template(at, EDIT)
    at.button(key="reload").click().run()
    assert "Discard your unsaved changes" in texts(at.warning)
    at.button(key="discard_no").click().run()
    assert at.text_area(key="ed_jinja").value == EDIT and _unsaved(at)
    at.button(key="reload").click().run()
    at.button(key="discard_yes").click().run()
    assert at.text_area(key="ed_jinja").value == SEED[0].jinja and not _unsaved(at)
    assert DraftStore(bank).drafts("周九", "ocnli") == []
    type_template(at, EDIT)
    assert [d.prompt_id for d in DraftStore(bank).drafts("周九", "ocnli")] == [SEED[0].id]
    at.button(key="save").click().run()
    assert "Updated" in texts(at.success) and not _unsaved(at)
    assert DraftStore(bank).drafts("周九", "ocnli") == []
    assert load_task_templates("ocnli", bank).by_id(SEED[0].id).jinja == EDIT
    assert (bank / ".drafts" / ".gitignore").read_text() == "*\n"
