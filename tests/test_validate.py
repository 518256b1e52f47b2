"""Every error class of the validator, triggered by a small bad template on rows in OCNLI's schema
(synthetic ones, tests/synthdata.py: the validator needs the fields, not the real text)."""

import json
import subprocess
import sys

import pytest

from weprompt.bank_check import task_examples
from weprompt.catalog import load_catalog
from weprompt.lint import RULES
from weprompt.templates import Template, TemplateCollection, TemplateMetadata
from weprompt.validate import CODES, validate_task

OCNLI = load_catalog().task("ocnli")
GOOD = "{{sentence1}}\n{{sentence2}}\n两句话是什么关系？ ||| {{answer_choices[label_id]}}"


def T(jinja=GOOD, choices="蕴含 ||| 中立 ||| 矛盾", name="t", original=True):
    return Template(
        name=name,
        jinja=jinja,
        answer_choices=choices,
        metadata=TemplateMetadata(original, False, ["Accuracy"], ["zh"]),
    )


@pytest.fixture(scope="module")
def rows(synth_data_dir):
    return task_examples(OCNLI, 10, synth_data_dir)


CASES = [
    ("syntax", [T("{{ sentence1 ||| x\n")], "line 1"),
    ("syntax", [T(GOOD.replace("{{sentence2}}", "{% if %}"))], "line 2"),
    (
        "unknown_field",
        [T("{{premis}} ||| {{answer_choices[label_id]}}")],
        "'premis' is not a field of task 'ocnli'",
    ),
    ("undefined", [T("{{ sentence1.nothing.deeper }} ||| {{answer_choices[label_id]}}")], "has no attribute"),
    ("sandbox", [T("{{ sentence1.__class__ }} ||| {{answer_choices[label_id]}}")], "unsafe"),
    ("render_error", [T("{{ sentence1 + 1 }} ||| x")], "TypeError"),
    ("render_limit", [T("{{ sentence1 * 10**6 }} ||| {{answer_choices[label_id]}}")], "RENDER_MAX_CHARS"),
    ("missing_separator", [T("{{sentence1}} 对吗？")], "no ' ||| '"),
    ("empty_input", [T("{{ '' }} ||| {{answer_choices[label_id]}}")], "input renders empty"),
    ("empty_target", [T("{{sentence1}} ||| {{ '' }}")], "target renders empty"),
    (
        "no_answer_choices",
        [T(GOOD.replace("answer_choices[label_id]", "label"), choices=None)],
        "add answer_choices",
    ),
    (
        "target_not_in_choices",
        [T(GOOD.replace("{{answer_choices[label_id]}}", "{{label}}"))],
        "not in ['蕴含'",
    ),
    (
        "choice_count",
        [T(GOOD.replace("[label_id]", "[0]"), choices="是 ||| 否")],
        "2 answer choices but 3 labels",
    ),
    ("duplicate_name", [T(name="a"), T(GOOD.replace("？", "?"), name="a")], "name also used by"),
    ("duplicate_body", [T(name="a"), T(GOOD.replace("\n", "  \n"), name="b")], "same body as template 'a'"),
    ("no_templates", [], "no templates"),
]


@pytest.mark.parametrize("code, templates, message", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_each_error_class(rows, code, templates, message):
    examples, fields = rows
    issues = validate_task(OCNLI, templates, examples, fields)
    hits = [i for i in issues if i.code == code]
    assert hits, f"expected {code}, got {[str(i) for i in issues]}"
    assert message in str(hits[0]), str(hits[0])
    assert hits[0].task == "ocnli"
    if templates:
        assert hits[0].template in {t.name for t in templates}


def test_too_long_is_a_warning_with_unit(rows):
    examples, fields = rows
    issues = validate_task(OCNLI, [T()], examples, fields, budget=10)
    (hit,) = [i for i in issues if i.code == "too_long"]
    assert hit.severity == "warning" and "characters (no tokenizer given)" in hit.message
    issues = validate_task(OCNLI, [T()], examples, fields, budget=10, count_tokens=lambda s: len(s) // 2)
    assert "tokens" in [i for i in issues if i.code == "too_long"][0].message


def test_binary_prompt_is_fine_when_marked(rows):
    examples, fields = rows
    t = T(
        "{{sentence1}}\n{{sentence2}}\n两句话矛盾吗？ ||| {{answer_choices[1 if label_id == 2 else 0]}}",
        choices="不矛盾 ||| 矛盾",
        original=False,
    )
    assert validate_task(OCNLI, [t], examples, fields) == []


def test_every_code_is_documented_and_tested():
    # missing_value: tests/test_render_limits.py (it needs a row with a None; OCNLI rows have none)
    tested = {c[0] for c in CASES} | {"too_long", "no_examples", "missing_value"} | {c[0] for c in LINT_CASES}
    assert tested == set(CODES) and set(RULES) <= {c[0] for c in LINT_CASES}


# --- lint rules (weprompt.lint): each on a small synthetic template, flagged, and quiet once fixed ---

CATALOG = load_catalog()
WSC_ROW = {
    "idx": 1,
    "text": "他对哥哥说他明天会来，他没有食言。",
    "span1_index": 3,
    "span1_text": "哥哥",
    "span2_index": 6,
    "span2_text": "他",
    "label": "true",
    "label_id": 0,
}
OCNLI_ROW = {
    "sentence1": "我们明天去。",
    "sentence2": "明天去。",
    "label": "entailment",
    "label_id": 0,
    "genre": "news",
}
MATH_ROW = {"id": "1", "question": "一袋糖有12颗，分给3人，每人几颗？", "equation": "x=12/3*1", "answer": "4"}
C3_ROW = {
    "id": "1-1",
    "subset": "dialogue",
    "context": ["男：我们去看电影吧。", "女：好啊，看喜剧片。"],
    "question": "他们要看什么电影？",
    "choice": ["动作片", "喜剧片", "纪录片"],
    "answer": "喜剧片",
}
GAOKAO_ROW = {
    "id": 1,
    "passage": None,
    "question": "下列关于细胞的叙述，错误的是",
    "options": ["(A)甲", "(B)乙", "(C)丙", "(D)丁"],
    "label": "B",
}
CFT_ROW = {
    "id": 1,
    "document": "小 明 今天 去 了 学校 ， 他 很 高兴 。 老师 表扬 了 他 。",
    "query": "XXXXX 表扬 了 小 明 。",
    "answer": "老师",
}
C3_OPTS = "{{ context | join('') }}{{ question }}\n{% for c in choice %}{{ 'ABCD'[loop.index0] }}. {{ c }}\n{% endfor %}"
GAOKAO_TWO = "{{ question }}\n甲：{{ options[0][3:] }}\n乙：{{ options[1][3:] }}\n"
MARKED = "{{ text[:span2_index] }}【{{ span2_text }}】{{ text[span2_index + span2_text|length:] }}"
LINT_CASES = [
    # (code, task, row, bad template (jinja, answer_choices), fixed template)
    (
        "choice_call",
        "ocnli",
        None,
        ("{{ choice([sentence1, sentence2]) }} ||| x", None),
        ("{{ [sentence1, sentence2] | choice }} ||| x", None),
    ),
    (
        "choice_on_constant",
        "ocnli",
        None,
        ("{{ ['甲', '乙'] | choice }}{{ sentence1 }} ||| x", None),
        ("{% set xs = ['甲', '乙'] %}{{ xs | choice }}{{ sentence1 }} ||| x", None),
    ),
    (
        "letter_options_text_target",
        "c3",
        C3_ROW,
        (C3_OPTS + "答案：||| {{ answer }}", "{{ choice | join(' ||| ') }}"),
        (C3_OPTS + "答案（写出选项内容）：||| {{ answer }}", "{{ choice | join(' ||| ') }}"),
    ),
    (
        "negative_question_positive_instruction",
        "gaokao_biology",
        GAOKAO_ROW,
        (GAOKAO_TWO + "请写出正确的那一项： ||| {{ options[1][3:] }}", None),
        (GAOKAO_TWO + "请写出应选的那一项： ||| {{ options[1][3:] }}", None),
    ),
    (
        "pronoun_not_marked",
        "clue_wsc2020",
        WSC_ROW,
        (
            "{{ text }}“{{ span2_text }}”指“{{ span1_text }}”吗？ ||| {{ answer_choices[label_id] }}",
            "是 ||| 否",
        ),
        (
            MARKED + "【{{ span2_text }}】指“{{ span1_text }}”吗？ ||| {{ answer_choices[label_id] }}",
            "是 ||| 否",
        ),
    ),
    (
        "segmentation_spaces",
        "cft",
        CFT_ROW,
        ("{{ document }}\n{{ query }} ||| {{ answer }}", None),
        ("{{ document.replace(' ', '') }}\n{{ query.replace(' ', '') }} ||| {{ answer }}", None),
    ),
    (
        "unseen_phone_in_target",
        "ocnli",
        None,
        ("{{ sentence1 }}\n客服： ||| 请拨打010-62345678咨询。", None),
        ("{{ sentence1 }}（查到的电话：010-62345678）\n客服： ||| 请拨打010-62345678咨询。", None),
    ),
    (
        "solution_in_input",
        "math23k",
        MATH_ROW,
        ("{{ question }}\n可以列式 {{ equation[2:] }}。答案是： ||| {{ answer }}", None),
        ("{{ question }}\n答案是： ||| {{ answer }}", None),
    ),
]


def _lint_codes(task_name, row, jinja, choices, original=True):
    task = CATALOG.task(task_name)
    t = Template(
        name="lint",
        jinja=jinja,
        answer_choices=choices,
        metadata=TemplateMetadata(original, False, [], ["zh"]),
    )
    issues = validate_task(task, [t], [row, row], set(row))  # two: rate rules need two hits
    return issues, t


@pytest.mark.parametrize("code, task, row, bad, good", LINT_CASES, ids=[c[0] for c in LINT_CASES])
def test_each_lint_rule(rows, code, task, row, bad, good):
    row = row or rows[0][0]
    issues, t = _lint_codes(task, row, *bad)
    hits = [i for i in issues if i.code == code]
    assert hits, f"expected {code}, got {[str(i) for i in issues]}"
    assert hits[0].severity == "error" and hits[0].template == "lint" and hits[0].template_id == t.id
    assert t.id in str(hits[0]) and task in str(hits[0])
    issues, _ = _lint_codes(task, row, *good)
    assert not [i for i in issues if i.code in RULES], [str(i) for i in issues]


def test_lint_rules_stay_quiet_where_they_should():
    # a letter target; a verdict on one option; a keyword list joined by spaces; a solution shown on a
    # template marked original_task: false; a pronoun that occurs once.
    quiet = [
        ("c3", C3_ROW, C3_OPTS + "答案：||| {{ 'ABCD'[choice.index(answer)] }}", None, True),
        ("c3", C3_ROW, C3_OPTS + "有人选了B，对吗？||| 对", None, True),
        ("c3", C3_ROW, C3_OPTS + "答案是B项，它的内容是什么？||| {{ answer }}", None, True),
        ("c3", C3_ROW, C3_OPTS + "答案是B，请把这一项抄出来。||| {{ answer }}", None, True),
        (
            "cft",
            {**CFT_ROW, "answer": "关键词 检索 标引 主题 分类 文献"},
            "{{ query }}|||{{ answer }}",
            None,
            True,
        ),
        ("math23k", MATH_ROW, "已知算式{{ equation }}，求{{ question }} ||| {{ answer }}", None, False),
        ("math23k", {**MATH_ROW, "question": "计算：12/3*1"}, "{{ question }}= ||| {{ answer }}", None, True),
        ("ocnli", None, "{{ sentence1 }} ||| 2019-01-04，共1260-750=510元", None, True),
        (
            "clue_wsc2020",
            {**WSC_ROW, "text": "他说明天会来。", "span2_index": 0},
            "{{ text }}“{{ span2_text }}”？|||是",
            None,
            False,
        ),
    ]
    for task, row, jinja, choices, original in quiet:
        issues, _ = _lint_codes(task, row or OCNLI_ROW, jinja, choices, original)
        assert not [i for i in issues if i.code in RULES], [str(i) for i in issues]


def test_cli_validate_json_and_exit_code(tmp_path, synth_data):
    bank = tmp_path / "bank"
    (bank / "templates").mkdir(parents=True)
    from testutil import REPO

    (bank / "catalog.yaml").write_text(
        (REPO / "prompt_bank" / "catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    TemplateCollection("ocnli", [T()], bank / "templates" / "ocnli.yaml").save()
    cmd = [
        sys.executable,
        "-m",
        "weprompt.cli.main",
        "bank",
        "validate",
        "--bank-dir",
        str(bank),
        "--task",
        "ocnli",
        "--examples",
        "5",
        "--json",
    ]
    ok = subprocess.run(cmd, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["ok"] is True
    TemplateCollection(
        "ocnli", [T(), T(name="t2", jinja="{{premis}} ||| x")], bank / "templates" / "ocnli.yaml"
    ).save()
    bad = subprocess.run(cmd, capture_output=True, text=True)
    assert bad.returncode == 1
    assert {i["code"] for i in json.loads(bad.stdout)["issues"]} >= {"unknown_field"}
    (bank / "templates" / "nosuchtask.yaml").write_text(
        "dataset: nosuchtask\ntemplates: {}\n", encoding="utf-8"
    )
    err = subprocess.run(cmd[:-1], capture_output=True, text=True)
    assert err.returncode == 2 and "no task 'nosuchtask' in the catalog" in err.stderr


def test_rate_rule_tolerates_a_rare_data_gap():
    # unseen_phone_in_target judges a share of the examples (lint.RATE_RULES): one row in 60 whose data
    # omits the number is tolerated, three are not.
    t = Template(
        name="p",
        jinja="{{ sentence1 }} ||| {{ sentence2 }}",
        metadata=TemplateMetadata(True, False, [], ["zh"]),
    )
    row = {**OCNLI_ROW, "sentence2": "电话是010-62345678。"}
    for bad, flagged in ((1, False), (3, True)):
        rows = [row] * bad + [OCNLI_ROW] * (60 - bad)
        hits = [
            i
            for i in validate_task(CATALOG.task("ocnli"), [t], rows, set(row))
            if i.code == "unseen_phone_in_target"
        ]
        assert bool(hits) is flagged
        assert not hits or hits[0].message.startswith("3 of 60 examples")
