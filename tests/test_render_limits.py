"""Issue 17's bad-input classes for templates: renders without limits, printed None values, duplicate
template ids, malformed YAML. Synthetic templates and rows (the catalog's OCNLI schema) unless marked."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
from testutil import REPO, requires_data

from weprompt.bank_edit import InvalidTemplateError, check_template, errors, save_template
from weprompt.catalog import load_catalog
from weprompt.sampler import MultitaskSampler, SamplerConfig, TaskPool
from weprompt.sandbox import RENDER_MAX_CHARS, RenderLimits
from weprompt.templates import (
    MissingValueError,
    RenderLimitError,
    Template,
    TemplateCollection,
    TemplateError,
    TemplateMetadata,
    load_templates,
    parse_templates,
    render,
)
from weprompt.validate import validate_template

OCNLI = load_catalog().task("ocnli")
TID = "0b7c8f3e-2f41-4a8e-9d55-3c1f0e6a7b21"
ROW = {"sentence1": "他今天去了北京。", "sentence2": "他在北京。", "label": "entailment", "label_id": 0}


def T(jinja: str, choices: str | None = None, name: str = "坏模板") -> Template:
    meta = TemplateMetadata(True, False, ["Accuracy"], ["zh"])
    return Template(name=name, jinja=jinja, answer_choices=choices, metadata=meta, id=TID)


def _limit_error(jinja: str, example: dict | None = None, **limits) -> str:
    with pytest.raises(RenderLimitError) as e:
        render(T(jinja), example or {}, limits=RenderLimits(**limits))
    assert f"template '坏模板' ({TID})" in str(e.value)
    return str(e.value)


# ---------------------------------------------------------------------------------------------
# Time and size limits


def test_the_issues_nested_loop_is_stopped_at_once():
    start = time.monotonic()
    msg = _limit_error("{% for i in range(10**6) %}{% for j in range(10**6) %}x{% endfor %}{% endfor %}")
    assert "range(1000000,) has 1,000,000 items, over the limit of 10,000 (RENDER_MAX_RANGE)" in msg
    assert time.monotonic() - start < 2.0


def test_a_loop_over_data_runs_into_the_time_limit():
    # No range(), no call, no output inside: only the per-iteration check of every {% for %} stops it.
    start = time.monotonic()
    msg = _limit_error(
        "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %} ||| x", {"s": "x" * 5000}, time_s=0.05
    )
    assert "longer than the 0.05 s limit (RENDER_TIME_LIMIT_S)" in msg
    assert time.monotonic() - start < 2.0


def test_exponential_macro_recursion_runs_into_the_time_limit():
    jinja = "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}"
    assert "RENDER_TIME_LIMIT_S" in _limit_error(jinja, time_s=0.05)


def test_output_is_capped_as_it_streams():
    msg = _limit_error("{% for i in range(5000) %}{{ s }}{% endfor %}", {"s": "字" * 100})
    assert (
        "the rendered text would be 200,100 or more characters" in msg
        and "limit of 200,000 (RENDER_MAX_CHARS)" in msg
    )


def test_string_multiplication_is_refused_before_it_is_built():
    start = time.monotonic()
    msg = _limit_error('{{ "a" * 10**8 }}')
    assert "'*' would be 100,000,000 or more characters" in msg and "RENDER_MAX_CHARS" in msg
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize(
    "jinja, fragment",
    [
        ("{{ 'a'|center(10**7) }}", "the filter 'center' would be 10,000,000"),
        ("{{ 'a'.ljust(10**7) }}", "str.ljust() would be 10,000,000"),
        (
            "{% for i in [1] %}{{ s.replace('x', 'yyy') }}{% endfor %}",
            "str.replace() would be 300,000",
        ),  # in a loop
        ("{{ s|join(s) }}", "the filter 'join' would be"),
        ("{{ s.replace('x', 'yyyyyyyyyy') }}", "str.replace() would be 1,000,000"),
        ("{{ ('a\\n' * 1000)|indent(10**5) }}", "the filter 'indent' would be"),
        ("{{ '%0999999d' % 1 }}", "'%' would be 1,000,0"),
        ("{{ '{:>9999999}'.format(1) }}", "str.format() would be 10,000,0"),
        ("{{ [1]|batch(10**7, 0)|list }}", "the filter 'batch' would be 10,000,000"),
        ("{{ lipsum(10**5) }}", "lipsum(100000) would be"),
        (
            "{% set n = namespace(x='a') %}{% for i in range(40) %}{% set n.x = n.x ~ n.x %}{% endfor %}",
            "'~'",
        ),
        (
            "{% set n = namespace(x='a') %}{% for i in range(40) %}{% set n.x = n.x + n.x %}{% endfor %}",
            "'+'",
        ),
        ("{% set l = [1] %}{% for i in range(40) %}{% set _ = l.extend(l) %}{% endfor %}", "list grown"),
        ("{{ 2 ** 100000 }}", "over the limit of 4,096 (RENDER_MAX_INT_BITS)"),
        ("{{ 10 ** (10 ** 10) }}", "RENDER_MAX_INT_BITS"),
    ],
)
def test_amplifiers_are_refused_before_they_build(jinja, fragment):
    start = time.monotonic()
    assert fragment in _limit_error(jinja, {"s": "x" * 100_000})
    assert time.monotonic() - start < 2.0


def test_limits_are_configurable_and_the_defaults_leave_room():
    assert render(T("{{ s }}"), {"s": "长" * 100_000}).input == "长" * 100_000
    assert "limit of 10 (RENDER_MAX_CHARS)" in _limit_error("{{ s }}", {"s": "长" * 11}, max_chars=10)
    assert "limit of 5 (RENDER_MAX_RANGE)" in _limit_error("{% for i in range(6) %}{% endfor %}", max_range=5)


def test_guarded_environment_renders_ordinary_jinja_as_before():
    jinja = (
        "{% for x in xs if x %}{{ loop.index }}/{{ loop.length }}:{{ x ~ '!' }}{% endfor %}"
        "{% for x in [[1, [2]], [3]] recursive %}{% if x is iterable %}{{ loop(x) }}{% else %}{{ x }}{% endif %}"
        "{% endfor %} {{ '%s-%d' % ('a', 1) }} {{ '{0}{1}'.format('b', 2) }} {{ xs|join(',') }}"
        " {{ range(3)|sum }} {{ 'c'|center(5) }}| ||| {{ ('d' * 3)|upper }}"
    )
    r = render(T(jinja), {"xs": ["p", "", "q"]})
    assert r.input == "1/2:p!2/2:q!123 a-1 b2 p,,q 3   c  |" and r.target == "DDD"


@requires_data
def test_the_longest_real_prompts_render_well_within_the_limits(data_dir):
    """msra_ner: the longest rendered prompt of the bank on real data (8,160 characters when measured)."""
    from weprompt.bank import load_task_templates
    from weprompt.data import load_split

    ds = load_split("msra_ner", "test", data_dir)
    longest = max(range(len(ds)), key=lambda i: len(json.dumps(ds[i], ensure_ascii=False)))
    sizes = []
    for t in load_task_templates("msra_ner").templates:
        r = render(t, ds[longest], seed=longest)
        sizes.append(len(r.input) + len(r.target or ""))
    assert 5_000 < max(sizes) < RENDER_MAX_CHARS / 10


# ---------------------------------------------------------------------------------------------
# None values (a field the row lacks, filled with None by the datasets loader)


def test_printing_a_none_field_is_an_error_naming_the_field():
    with pytest.raises(MissingValueError) as e:
        render(T("材料：{{ passage }}\n{{ sentence1 }} ||| x"), {**ROW, "passage": None})
    assert f"template '坏模板' ({TID}): field 'passage' is None (missing from this example)" in str(e.value)
    with pytest.raises(MissingValueError, match="field 'passage' is None"):
        render(T("{{ '材料：' ~ passage }} ||| x"), {**ROW, "passage": None})
    with pytest.raises(MissingValueError, match="fields with a None inside: 'answers'"):
        render(T("{{ sentence1 }} ||| {{ answers.text }}"), {**ROW, "answers": {"text": None}})


def test_a_none_the_template_tests_for_is_fine():
    row = {**ROW, "passage": None}
    assert (
        render(T("{% if passage %}材料：{{ passage }}{% endif %}{{ sentence1 }} ||| x"), row).input
        == ROW["sentence1"]
    )
    assert render(T("{{ (passage or '') ~ sentence1 }} ||| x"), row).input == ROW["sentence1"]


def test_validator_reports_a_printed_none_with_its_example_index():
    rows = [ROW, {**ROW, "sentence2": None}, ROW]
    t = T("{{ sentence1 }}\n{{ sentence2 }} ||| {{ answer_choices[label_id] }}", "蕴含 ||| 中立 ||| 矛盾")
    (issue,) = validate_template(t, OCNLI, rows, set(ROW))
    assert (issue.code, issue.severity, issue.example, issue.template) == (
        "missing_value",
        "error",
        1,
        "坏模板",
    )
    assert "field 'sentence2' is None" in issue.message


def test_validator_reports_a_render_limit_once_and_stops_rendering(monkeypatch):
    import weprompt.validate as validate

    calls = []
    monkeypatch.setattr(validate, "render", lambda *a, **k: calls.append(1) or render(*a, **k))
    t = T("{{ sentence1 * 10**6 }} ||| {{ answer_choices[label_id] }}", "蕴含 ||| 中立 ||| 矛盾")
    (issue,) = validate_template(t, OCNLI, [ROW] * 5, set(ROW))
    assert (issue.code, issue.severity, issue.example) == ("render_limit", "error", 0)
    assert "RENDER_MAX_CHARS" in issue.message and len(calls) == 1


class _CharTokenizer:
    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [[ord(c) for c in t] for t in texts]


def test_sampler_skips_counts_and_logs_rows_with_a_printed_none(caplog):
    rows = [{"q": "问题一", "a": "答一"}, {"q": None, "a": "答二"}]
    pool = TaskPool("qa", rows, [T("问：{{ q }} ||| {{ a }}")])
    sampler = MultitaskSampler([pool], _CharTokenizer(), SamplerConfig(block=64, seed=1))
    with caplog.at_level(logging.WARNING, logger="weprompt.sampler"):
        drawn = [next(sampler) for _ in range(20)]
    key = f"qa/{TID}"
    assert sampler.stats.render_failures[key] > 0
    assert "MissingValueError" in sampler.stats.failure_examples[key]
    assert "field 'q' is None" in sampler.stats.failure_examples[key]
    assert all("None" not in "".join(map(chr, e.input_ids)) for e in drawn)
    assert sum("skipping a draw that does not render" in r.message for r in caplog.records) == 1


# ---------------------------------------------------------------------------------------------
# Saving from the annotation UI: over-length is an error there


def _bank(tmp_path: Path) -> Path:
    bank = tmp_path / "bank"
    (bank / "templates").mkdir(parents=True)
    (bank / "catalog.yaml").write_text(
        (REPO / "prompt_bank/catalog.yaml").read_text(encoding="utf-8"), "utf-8"
    )
    TemplateCollection("ocnli", [], bank / "templates" / "ocnli.yaml").save()
    return bank


def test_an_over_length_prompt_is_not_saved(tmp_path):
    bank = _bank(tmp_path)
    before = (bank / "templates" / "ocnli.yaml").read_bytes()
    t = T(
        "{{ sentence1 }}\n{{ sentence2 }}\n关系？ ||| {{ answer_choices[label_id] }}",
        "蕴含 ||| 中立 ||| 矛盾",
    )
    issues = check_template(OCNLI, t, [], [ROW], set(ROW), budget=10)
    (hit,) = [i for i in errors(issues) if i.code == "too_long"]
    assert "characters (no tokenizer given) > budget 10" in hit.message
    with pytest.raises(InvalidTemplateError, match="> budget 10"):
        save_template(OCNLI, t, "李雷", examples=[ROW], data_fields=set(ROW), bank_dir=bank, budget=10)
    assert (bank / "templates" / "ocnli.yaml").read_bytes() == before
    saved = save_template(OCNLI, t, "李雷", examples=[ROW], data_fields=set(ROW), bank_dir=bank)
    assert saved.created and not errors(saved.issues)


def test_a_prompt_hitting_a_render_limit_is_not_saved(tmp_path):
    t = T(
        "{% for i in range(10**6) %}x{% endfor %} ||| {{ answer_choices[label_id] }}",
        "蕴含 ||| 中立 ||| 矛盾",
    )
    with pytest.raises(InvalidTemplateError, match="RENDER_MAX_RANGE") as e:
        save_template(OCNLI, t, "李雷", examples=[ROW], data_fields=set(ROW), bank_dir=_bank(tmp_path))
    assert [i.code for i in errors(e.value.issues)] == ["render_limit"]


# ---------------------------------------------------------------------------------------------
# YAML: duplicate ids, malformed files


def _template_yaml(tid: str, name: str) -> str:
    return (
        f"  {tid}: !Template\n    answer_choices: null\n    id: {tid}\n    jinja: '{{{{sentence1}}}} ||| x'\n"
        f"    metadata: !TemplateMetadata\n      original_task: false\n    name: {name}\n    reference: ''\n"
    )


def test_two_templates_with_one_id_are_an_error_naming_both_lines(tmp_path):
    other = "5f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    text = "dataset: ocnli\ntemplates:\n" + _template_yaml(TID, "甲") + _template_yaml(other, "乙")
    text += _template_yaml(TID, "丙")  # the third template (line 19) repeats the first one's id (line 3)
    path = tmp_path / "ocnli.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as e:
        load_templates(path)
    assert str(e.value).startswith(
        f"{path}:19: template id '{TID}' appears twice in one mapping (lines 3 and 19)"
    )


def test_a_field_given_twice_in_one_template_is_an_error():
    text = "dataset: ocnli\ntemplates:\n" + _template_yaml(TID, "甲").replace(
        "    name: 甲\n", "    name: 甲\n    name: 乙\n"
    )
    with pytest.raises(
        TemplateError, match=r"^f\.yaml:10: key 'name' appears twice in one mapping \(lines 9 and 10\)"
    ):
        parse_templates(text, "f.yaml")


GOOD_FILE = "dataset: ocnli\ntemplates:\n" + _template_yaml(TID, "甲")  # 10 lines


@pytest.mark.parametrize(
    "broken, line, fragment",
    [
        (GOOD_FILE.replace("    jinja:", "   jinja:"), 6, "invalid YAML: expected <block end>"),  # bad indent
        (
            GOOD_FILE.replace("name: 甲", "name: 甲\x07"),
            9,
            "special characters are not allowed (character #x0007)",
        ),
        (
            GOOD_FILE.replace("reference: ''", "reference: 'unclosed"),
            10,
            "while scanning a quoted scalar on line 10",
        ),
        (GOOD_FILE.replace("name: 甲", "name: '甲"), 9, "while scanning a quoted scalar on line 9"),
        (GOOD_FILE.replace("    id:", "\tid:"), 5, "found character '\\t' that cannot start any token"),
        (
            GOOD_FILE.replace("!TemplateMetadata", "!TemplateMeta"),
            7,
            "constructor for the tag '!TemplateMeta'",
        ),
    ],
    ids=["indent", "control-char", "unclosed-quote-last-line", "unclosed-quote", "tab", "unknown-tag"],
)
def test_malformed_yaml_names_the_exact_line(tmp_path, broken, line, fragment):
    path = tmp_path / "ocnli.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(TemplateError) as e:
        load_templates(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:{line}: ") and fragment in msg and "\n" not in msg, msg
