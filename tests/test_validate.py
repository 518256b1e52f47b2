"""Every error class of the validator, triggered by a small bad template on rows in OCNLI's schema
(synthetic ones, tests/synthdata.py: the validator needs the fields, not the real text)."""

import json
import subprocess
import sys

import pytest

from weprompt.bank_check import task_examples
from weprompt.catalog import load_catalog
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
    tested = {c[0] for c in CASES} | {"too_long", "no_examples", "missing_value"}
    assert tested == set(CODES)


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
