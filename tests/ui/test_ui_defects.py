"""Issue 23's defects, one AppTest each: every test here failed on the app before its fix."""

from __future__ import annotations

import json
import re
import stat

import pytest
from test_ui_app import GOOD, goto, start, texts, type_template
from ui_seed import SEED

from weprompt.bank import bank_catalog, load_task_templates
from weprompt.bank_edit import fingerprint, save_template
from weprompt.bank_health import task_examples

pytestmark = pytest.mark.usefixtures("synth_data")


def _ids(at, label_start: str) -> str:
    return next(s.id for s in at.selectbox if s.label.startswith(label_start))


def test_1_browse_widgets_are_new_per_task(monkeypatch, bank):
    """The browser keeps a keyed select's drawn label while its id stays: the old task's prompt name and
    split size stayed on screen. Per-task widgets get a new id, so the browser draws them afresh."""
    at = goto(start(monkeypatch, bank), "Browse")
    before = (_ids(at, "Prompt"), _ids(at, "Split"))
    goto(at, "Browse", task="cmrc2018", category="reading_comprehension")
    goto(at, "Browse", task="ocnli", category="nli")
    again = (_ids(at, "Prompt"), _ids(at, "Split"))
    assert again == before
    goto(at, "Browse", task="cmnli")
    split = next(s for s in at.selectbox if s.label.startswith("Split"))
    assert split.id != before[1]
    assert not [s for s in at.selectbox if s.label.startswith("Prompt")]  # cmnli has none
    assert "No prompts yet for cmnli" in texts(at.info)


def test_2_health_and_back_keeps_the_task(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write", task="cmnli")
    at.sidebar.radio(key="view").set_value("Health").run()
    at.sidebar.radio(key="view").set_value("Write").run()
    assert at.sidebar.selectbox(key="task").value == "cmnli"
    assert at.sidebar.selectbox(key="category").value == "nli"
    at.sidebar.radio(key="view").set_value("Health").run()
    at.sidebar.radio(key="view").set_value("Browse").run()
    assert at.subheader[0].value.startswith("cmnli")


def test_4_saving_nothing_changed_writes_nothing(monkeypatch, bank):
    path = bank / "templates" / "ocnli.yaml"
    before = path.read_bytes()
    at = goto(start(monkeypatch, bank), "Write")
    at.selectbox(key="pick").set_value(SEED[0].id).run()
    assert at.button(key="save").disabled  # nothing to save
    assert "nothing changed" in texts(at.caption)
    type_template(at, SEED[0].jinja + " ")
    type_template(at, SEED[0].jinja)  # typed back to what is on disk
    assert at.button(key="save").disabled
    assert path.read_bytes() == before


def test_5_save_keeps_the_file_mode(monkeypatch, bank):
    path = bank / "templates" / "ocnli.yaml"
    path.chmod(0o644)
    at = goto(start(monkeypatch, bank), "Write")
    type_template(at, GOOD, name="模式")
    at.button(key="save").click().run()
    assert "Added" in texts(at.success)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_7_messages_keep_their_underscores(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    type_template(at, "{{ sentence1.__class__ }} ||| x", name="下划线")
    bodies = [str(e.value) for e in at.error if "__class__" in str(e.value).replace("\\", "")]
    assert bodies, texts(at.error)
    for body in bodies:  # Markdown would turn __class__ into bold "class": every "_" is escaped
        outside_code = re.sub(r"`[^`]*`", "", body)
        assert not re.search(r"(?<!\\)_", outside_code), body


def test_7_check_names_the_split_of_its_example(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write")
    type_template(at, "{{sentence1}} ||| {{label}}", name="错标签")
    issue = next(str(e.value) for e in at.error if "target_not_in_choices" in str(e.value))
    assert re.search(r"\((train|validation|test) example \d+\)", issue), issue


def test_7_placeholder_is_the_tasks_own(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Write", task="cmrc2018", category="reading_comprehension")
    placeholder = at.text_area(key="ed_jinja").placeholder
    assert "sentence1" not in placeholder and "context" in placeholder, placeholder
    goto(at, "Write")
    assert "sentence1" in at.text_area(key="ed_jinja").placeholder


def test_4_library_unchanged_save_is_a_no_op(bank):
    cat = bank_catalog(bank)
    task = cat.task("ocnli")
    examples, fields = task_examples(cat, task, 5)
    path = bank / "templates" / "ocnli.yaml"
    before = path.read_bytes()
    current = load_task_templates("ocnli", bank).by_id(SEED[0].id)
    result = save_template(
        task, current, "某人", examples=examples, data_fields=fields, bank_dir=bank, base=fingerprint(current)
    )
    assert not result.changed and path.read_bytes() == before


def test_7_health_chart_shows_whole_category_names(monkeypatch, bank):
    at = goto(start(monkeypatch, bank), "Health")
    specs = [json.loads(e.proto.spec) for e in at.get("vega_lite_chart")]
    bars = next(s for s in specs if s["encoding"]["y"]["field"] == "category")
    axis = bars["encoding"]["y"]["axis"]
    assert axis["labelLimit"] == 0 and axis["labelOverlap"] is False  # defaults cut or drop names
