import os

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from weprompt.bank import load_bank
from weprompt.templates import (
    Rendered,
    Template,
    TemplateCollection,
    TemplateError,
    TemplateMetadata,
    load_templates,
    parse_templates,
    render,
)

UID = "7c2a3a6e-4a8e-4c62-9a57-2f0f7a4e9b11"

# Written by hand in the exact shape promptsource's DatasetTemplates.write_to_file produces:
# yaml.dump defaults (sorted keys, non-ASCII escaped as \uXXXX, double-quoted long strings).
PROMPTSOURCE_FILE = f"""dataset: ocnli
templates:
  {UID}: !Template
    answer_choices: "\\u662F ||| \\u5426"
    id: {UID}
    jinja: "{{{{premise}}}}\\n\\u95EE\\uFF1A\\u5BF9\\u5417\\uFF1F ||| {{{{answer_choices[label]}}}}"
    metadata: !TemplateMetadata
      choices_in_prompt: false
      languages:
      - zh
      metrics:
      - Accuracy
      original_task: false
    name: "\\u662F\\u5426"
    reference: ''
"""


def _coll(tmp_path):
    t = Template(
        name="是非题",
        jinja="{{premise}}\n问：对吗？ ||| {{answer_choices[label]}}",
        answer_choices="是 ||| 否",
        metadata=TemplateMetadata(False, False, ["Accuracy"], ["zh"], {"annotator": "张三"}),
        id=UID,
    )
    return TemplateCollection("ocnli", [t], tmp_path / "ocnli.yaml")


def test_promptsource_file_loads_and_renders(tmp_path):
    p = tmp_path / "templates.yaml"
    p.write_text(PROMPTSOURCE_FILE, encoding="utf-8")
    coll = load_templates(p)
    t = coll.templates[0]
    assert (t.name, t.answer_choices, t.metadata.original_task) == ("是否", "是 ||| 否", False)
    r = render(t, {"premise": "天晴了", "label": 0})
    assert (r.input, r.target, r.answer_choices) == ("天晴了\n问：对吗？", "是", ["是", "否"])
    # unchanged -> byte-for-byte the same file, even though it is not in our canonical layout
    coll.save()
    assert p.read_text(encoding="utf-8") == PROMPTSOURCE_FILE


def test_round_trip_and_utf8(tmp_path):
    coll = _coll(tmp_path)
    coll.save()
    text = coll.path.read_text(encoding="utf-8")
    assert "是非题" in text and "\\u" not in text and "annotator: 张三" in text
    again = load_templates(coll.path)
    assert again.templates == coll.templates
    again.save()
    assert coll.path.read_text(encoding="utf-8") == text


def test_every_bank_file_round_trips():
    _, bank = load_bank()
    for coll in bank.values():
        if coll.templates:
            assert coll.to_yaml() == coll.path.read_text(encoding="utf-8"), coll.path


def test_save_is_atomic(tmp_path, monkeypatch):
    coll = _coll(tmp_path)
    coll.save()
    before = coll.path.read_bytes()
    coll.templates[0].name = "改过的"

    def crash(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        coll.save()
    assert coll.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ocnli.yaml"]  # no temp file left behind


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "dataset: x\ntemplates:\n  a: !Bogus\n    name: n\n",
            r"x.yaml:3: could not determine a constructor for the tag '!Bogus'",
        ),
        ("dataset: x\ntemplates: [\n", r"x.yaml:\d+: invalid YAML"),
        (
            "dataset: x\ntemplates:\n  not-a-uuid: !Template\n    id: not-a-uuid\n    name: n\n    jinja: j\n",
            r"x.yaml:3: template 'not-a-uuid': id is not a UUID",
        ),
        (
            f"dataset: x\ntemplates:\n  {UID}: !Template\n    id: {UID}\n    jinja: j\n",
            r"template '.*': field 'name' is missing",
        ),
        (
            f"dataset: x\ntemplates:\n  {UID}: !Template\n    id: {UID}\n    name: n\n    jinja: j\n    jinjaa: k\n",
            r"unknown field 'jinjaa'",
        ),
    ],
)
def test_bad_files_get_clear_errors(text, message):
    with pytest.raises(TemplateError, match=message):
        parse_templates(text, "x.yaml")


@pytest.mark.parametrize(
    "jinja",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }} ||| x",
        "{{ premise.__class__ }} ||| x",
        "{{ cycler.__init__.__globals__ }} ||| x",
    ],
)
def test_sandbox_refuses_attribute_tricks(jinja):
    t = Template(name="evil", jinja=jinja)
    with pytest.raises(SecurityError, match="is unsafe"):
        render(t, {"premise": "a"})


def test_choice_is_seeded():
    t = Template(name="c", jinja="{% set x = ['甲','乙','丙','丁','戊'] %}{{ x | choice }} ||| x")
    assert render(t, {}, seed=3).input == render(t, {}, seed=3).input
    assert len({render(t, {}, seed=s).input for s in range(20)}) > 1


def test_choice_on_a_constant_is_drawn_per_render():
    # Jinja folds filters on constants while compiling; ours must not freeze the draw in its cache.
    t = Template(name="c", jinja="{{ ['甲','乙','丙','丁','戊'] | choice }} ||| x")
    assert len({render(t, {}, seed=s).input for s in range(20)}) > 1


def test_choice_is_a_filter_not_a_function():
    # promptsource has `choice` only as a filter: a call renders nowhere but in a field named so (C3).
    t = Template(name="c", jinja="{{ choice(['甲','乙']) }} ||| x")
    with pytest.raises(UndefinedError, match="'choice' is undefined"):
        render(t, {})
    t = Template(name="c3", jinja="{{ choice | join('/') }} ||| {{ choice[0] }}")
    assert render(t, {"choice": ["甲", "乙"]}) == Rendered("甲/乙", "甲", None)


def test_promptsource_helpers():
    t = Template(
        name="h",
        jinja="{{ votes | most_frequent | join(',') }}"
        "{% for a, b in zip(xs, ys) %};{{ a }}={{ b }}{% endfor %} ||| {{ text }}",
    )
    r = render(t, {"votes": ["乙", "甲", "甲", "乙", "丙"], "xs": [1, 2], "ys": ["a", "b"], "text": "x"})
    assert r.input == "乙,甲;1=a;2=b"
    assert (
        render(Template(name="e", jinja="{{ (v | most_frequent) is none }} ||| x"), {"v": []}).input == "True"
    )


def test_a_field_with_the_separator_does_not_split():
    t = Template(name="p", jinja="{{ a }} ||| {{ b }}", answer_choices="{{ c }} ||| 否")
    r = render(t, {"a": "x ||| y", "b": "z", "c": "是|||是"})
    assert r == Rendered("x ||| y", "z", ["是|||是", "否"])


def test_loads_in_promptsource_when_installed(tmp_path):
    ps = pytest.importorskip("promptsource.templates", reason="promptsource is optional (see README)")
    coll = _coll(tmp_path)
    coll.save()
    import yaml

    data = yaml.load(coll.path.read_text(encoding="utf-8"), Loader=yaml.FullLoader)
    t = data["templates"][UID]
    assert isinstance(t, ps.Template)
    assert t.apply({"premise": "天晴了", "label": 1}) == ["天晴了\n问：对吗？", "否"]


def test_choice_calls_become_filters():
    import importlib.util

    from testutil import REPO

    spec = importlib.util.spec_from_file_location("choice_to_filter", REPO / "tools" / "choice_to_filter.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cases = {
        "{% set i = choice([gi, choice(range(n))]) %}": "{% set i = [gi, range(n) | choice] | choice %}",
        "{% set w = (gi + choice(range(1, n))) % n %}": "{% set w = (gi + range(1, n) | choice) % n %}",
        "{{ choice(xs)[0] }}|||{{ choice(a + b) }}": "{{ (xs | choice)[0] }}|||{{ (a + b) | choice }}",
        "{{ choice(['a)', 'b']) }} ||| {{ choice }}": "{{ ['a)', 'b'] | choice }} ||| {{ choice }}",
    }
    for before, after in cases.items():
        assert tool.convert(before) == after
    hoisted = {
        "x\n{%- set a = choice(['甲', '乙']) %}{{ a }}": "x\n{%- set choice_list_1 = ['甲', '乙'] %}"
        "{%- set a = choice_list_1 | choice %}{{ a }}",
        "{{ opts[1] | choice }}{{ [x, 'b'] | choice }}": "{{ opts[1] | choice }}{{ [x, 'b'] | choice }}",
    }
    for before, after in hoisted.items():
        assert tool.hoist_literals(tool.convert(before)) == after
    t = Template(name="c", jinja=tool.convert("{% set n = 5 %}{{ choice([1, choice(range(n))]) }} ||| x"))
    assert {render(t, {}, seed=s).input for s in range(200)} == {"0", "1", "2", "3", "4"}


def test_libyaml_and_python_loaders_read_the_bank_alike():
    """Templates are parsed by libyaml when PyYAML has it; every bank file must parse as in pure Python."""
    import yaml

    from weprompt import templates

    if templates._CLoader is None:
        pytest.skip("PyYAML without libyaml: only the pure-Python loader runs")
    for coll in load_bank()[1].values():
        if coll.path is None or not coll.path.exists():
            continue
        text, path = coll.path.read_text(encoding="utf-8"), coll.path
        assert yaml.load(text, Loader=templates._CLoader) == yaml.load(text, Loader=templates._Loader), path


@pytest.mark.parametrize(
    "text, message",
    [
        ("dataset: x\ntemplates: b: c\n", "x.yaml:2: invalid YAML: mapping values are not allowed here"),
        (
            "dataset: x\ntemplates:\n\tb: 1\n",
            "x.yaml:3: invalid YAML: found character '\\t' that cannot start",
        ),
    ],
)
def test_errors_read_as_the_python_loader_words_them(text, message):
    """libyaml words errors differently ('... not allowed in this context'); a file that fails there is
    parsed again by the pure-Python loader, so the message stays the one users and tools know."""
    from weprompt.templates import TemplateError, parse_templates

    with pytest.raises(TemplateError) as e:
        parse_templates(text, "x.yaml")
    assert str(e.value).startswith(message)
