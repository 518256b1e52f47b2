"""weprompt.bank_edit: validated, locked, merged saves; conflicts; deletes; near-duplicates;
concurrent writers in separate processes lose nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from testutil import REPO
from ui_seed import SEED

from weprompt.bank import load_task_templates
from weprompt.bank_edit import (
    ConflictError,
    EditError,
    InvalidTemplateError,
    bank_lock,
    check_template,
    clone_template,
    delete_template,
    fingerprint,
    near_duplicates,
    new_template,
    save_template,
)
from weprompt.templates import TemplateError

GOOD = "{{sentence1}}\n问：{{sentence2}}，这两句话是什么关系？ ||| {{answer_choices[label_id]}}"


def _save(bank, ctx, t, who="李雷", **kw):
    task, examples, fields = ctx
    return save_template(task, t, who, examples=examples, data_fields=fields, bank_dir=bank, **kw)


def test_new_prompt_is_saved_with_its_annotator(bank, ctx):
    t = new_template("问答_关系", GOOD, "蕴含 ||| 中立 ||| 矛盾")
    result = _save(bank, ctx, t)
    assert result.created and result.count == 3
    text = (bank / "templates" / "ocnli.yaml").read_text(encoding="utf-8")
    assert "created_by: 李雷" in text and "问答_关系" in text  # UTF-8, not \u escapes
    saved = load_task_templates("ocnli", bank).by_name("问答_关系")
    assert saved.jinja == GOOD and saved.metadata.extra["created_by"] == "李雷"
    assert [x.name for x in load_task_templates("ocnli", bank).templates][:2] == [s.name for s in SEED]


@pytest.mark.parametrize(
    "jinja, choices, code",
    [
        ("{{sentence1}} ||| {{answer_choices[label_id]", "是 ||| 否", "syntax"),
        ("{{premise}} ||| {{answer_choices[label_id]}}", "蕴含 ||| 中立 ||| 矛盾", "unknown_field"),
        ("{{sentence1}} ||| {{label}}", "蕴含 ||| 中立 ||| 矛盾", "target_not_in_choices"),
        ("{{sentence1}} ||| {{''.__class__.__mro__[1].__subclasses__()}}", None, "sandbox"),
        ("{{sentence1}} ||| ", None, "empty_target"),
        (SEED[0].jinja.replace(" ", "\n  "), "蕴含 ||| 中立 ||| 矛盾", "duplicate_body"),
    ],
)
def test_invalid_prompt_is_refused_and_nothing_written(bank, ctx, jinja, choices, code):
    path = bank / "templates" / "ocnli.yaml"
    before = path.read_bytes()
    with pytest.raises(InvalidTemplateError) as e:
        _save(bank, ctx, new_template("坏的", jinja, choices))
    assert code in {i.code for i in e.value.issues}
    assert path.read_bytes() == before


def test_name_must_be_given_and_unique(bank, ctx):
    for name, code in (("  ", "no_name"), (SEED[1].name, "duplicate_name")):
        with pytest.raises(InvalidTemplateError) as e:
            _save(bank, ctx, new_template(name, GOOD, "蕴含 ||| 中立 ||| 矛盾"))
        assert code in {i.code for i in e.value.issues}


def test_near_duplicate_is_flagged_not_blocked(bank, ctx):
    task, examples, fields = ctx
    others = load_task_templates("ocnli", bank).templates
    close = new_template(
        "近似", SEED[0].jinja.replace("之间是什么关系", "之间是何种关系"), SEED[0].answer_choices
    )
    hits = near_duplicates(close, others)
    assert hits and hits[0][0].name == SEED[0].name and hits[0][1] >= 0.45
    issues = check_template(task, close, others, examples, fields)
    assert [i.code for i in issues if i.code == "near_duplicate"] and all(
        i.severity == "warning" for i in issues
    )
    different = new_template("不同", GOOD, "蕴含 ||| 中立 ||| 矛盾")
    assert not near_duplicates(different, others)


def test_edit_records_editor_and_keeps_creator(bank, ctx):
    coll = load_task_templates("ocnli", bank)
    t = coll.by_name(SEED[0].name)
    base = fingerprint(t)
    t.jinja = t.jinja.replace("是什么关系", "存在什么关系")
    result = _save(bank, ctx, t, who="韩梅梅", base=base)
    assert not result.created and result.count == 2
    saved = load_task_templates("ocnli", bank).by_id(t.id)
    assert saved.metadata.extra["created_by"] == "种子" and saved.metadata.extra["modified_by"] == "韩梅梅"
    assert "存在什么关系" in saved.jinja


def test_stale_edit_is_a_conflict(bank, ctx):
    t = load_task_templates("ocnli", bank).by_name(SEED[0].name)
    base = fingerprint(t)
    mine, theirs = load_task_templates("ocnli", bank).by_id(t.id), t
    theirs.name = "他们改的名字"
    _save(bank, ctx, theirs, who="甲", base=base)
    mine.name = "我改的名字"
    with pytest.raises(ConflictError, match="甲"):
        _save(bank, ctx, mine, who="乙", base=base)
    assert load_task_templates("ocnli", bank).by_id(t.id).name == "他们改的名字"


def test_delete_clone_and_deleted_meanwhile(bank, ctx):
    coll = load_task_templates("ocnli", bank)
    t = coll.by_name(SEED[1].name)
    clone = clone_template(t, [x.name for x in coll.templates])
    assert clone.id != t.id and clone.name not in {x.name for x in coll.templates}
    assert clone.metadata.extra == {"cloned_from": t.id}
    with pytest.raises(InvalidTemplateError):  # a clone must be changed before it is saved
        _save(bank, ctx, clone)
    path = delete_template(ctx[0], t.id, bank_dir=bank, base=fingerprint(t))
    assert [x.name for x in load_task_templates("ocnli", bank).templates] == [SEED[0].name]
    assert path.read_text(encoding="utf-8").startswith("dataset: ocnli\n")
    with pytest.raises(EditError, match="already deleted"):
        delete_template(ctx[0], t.id, bank_dir=bank)
    with pytest.raises(ConflictError, match="deleted"):
        _save(bank, ctx, t, base=fingerprint(t))


def test_hand_broken_file_is_never_overwritten(bank, ctx):
    path = bank / "templates" / "ocnli.yaml"
    broken = path.read_text(encoding="utf-8").replace("templates:", "templates: [", 1)
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(TemplateError, match="invalid YAML"):
        _save(bank, ctx, new_template("新", GOOD, "蕴含 ||| 中立 ||| 矛盾"))
    assert path.read_text(encoding="utf-8") == broken


def test_annotator_is_required(bank, ctx):
    with pytest.raises(EditError, match="annotator"):
        _save(bank, ctx, new_template("新", GOOD, "蕴含 ||| 中立 ||| 矛盾"), who="  ")


def test_lock_excludes_other_processes(bank, ctx):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom weprompt.bank_edit import bank_lock\n"
            f"with bank_lock({str(bank)!r}):\n"
            "    print('held', flush=True)\n    time.sleep(1.0)\n    print(time.time(), flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EditError, match="locked"), bank_lock(bank, timeout=0.2):
            pass
        _save(bank, ctx, new_template("等锁", GOOD, "蕴含 ||| 中立 ||| 矛盾"))  # waits for the holder
        saved_at = time.time()
        released_after = float(holder.stdout.readline())  # printed inside the lock, just before release
        assert saved_at > released_after
    finally:
        holder.wait(timeout=10)
    assert load_task_templates("ocnli", bank).by_name("等锁")


def test_concurrent_writers_lose_nothing(bank, ctx, tmp_path):
    workers, per_worker = 3, 5
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps(ctx[1], ensure_ascii=False), encoding="utf-8")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("bank_writer.py")),
                str(bank),
                str(examples),
                str(w),
                str(per_worker),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for w in range(workers)
    ]
    for p in procs:  # every worker has imported and waits at the barrier: the saves really overlap
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        ids += out.split()
    coll = load_task_templates("ocnli", bank)
    assert len(ids) == workers * per_worker
    assert len(coll.templates) == len(SEED) + workers * per_worker
    assert set(ids) <= {t.id for t in coll.templates}
    by = {t.metadata.extra.get("created_by") for t in coll.templates}
    assert {f"写手{w}" for w in range(workers)} <= by


def test_choices_in_prompt_flag_is_checked_against_the_render(ctx):
    task, examples, fields = ctx
    listed = new_template(
        "列出",
        "{{sentence1}}？蕴含、中立还是矛盾？ ||| {{answer_choices[label_id]}}",
        "蕴含 ||| 中立 ||| 矛盾",
    )
    codes = lambda t: {i.code for i in check_template(task, t, [], examples, fields)}  # noqa: E731
    assert "choices_in_prompt" in codes(listed)  # listed but not flagged
    listed.metadata.choices_in_prompt = True
    assert "choices_in_prompt" not in codes(listed)
    hidden = new_template("不列出", GOOD, "蕴含 ||| 中立 ||| 矛盾")
    assert "choices_in_prompt" not in codes(hidden)
    hidden.metadata.choices_in_prompt = True
    assert "choices_in_prompt" in codes(hidden)  # flagged but not listed
