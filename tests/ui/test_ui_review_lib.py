"""weprompt.bank_review + bank_edit.review_template: statuses in the YAML, who may do what, what
training reads, and two reviewers beside three annotators (separate processes) losing nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testutil import REPO
from ui_seed import SEED

from weprompt.bank import load_bank, load_task_templates
from weprompt.bank_edit import ConflictError, fingerprint, new_template, review_template, save_template
from weprompt.bank_review import APPROVED, WITH_SUBMITTED, ReviewError, review_queue, selection_record

CHOICES = "蕴含 ||| 中立 ||| 矛盾"


def _new(ctx, bank, name: str, body: str, who: str = "作者"):
    task, examples, fields = ctx
    t = new_template(name, body + " ||| {{answer_choices[label_id]}}", CHOICES)
    return save_template(task, t, who, examples=examples, data_fields=fields, bank_dir=bank).template


def test_draft_submit_reject_resubmit_approve(bank, ctx):
    task = ctx[0]
    t = _new(ctx, bank, "新说法", "请判断：{{sentence1}}——{{sentence2}}")
    path = bank / "templates" / "ocnli.yaml"
    assert "review_status: draft" in path.read_text(encoding="utf-8")
    with pytest.raises(ReviewError, match="applies only to a submitted prompt"):
        review_template(task, t.id, "approve", "审稿人甲", bank_dir=bank)
    review_template(task, t.id, "submit", "作者", bank_dir=bank)
    with pytest.raises(ReviewError, match="second person"):
        review_template(task, t.id, "approve", "作者", bank_dir=bank)
    with pytest.raises(ReviewError, match="needs a comment"):
        review_template(task, t.id, "reject", "审稿人甲", bank_dir=bank)
    review_template(task, t.id, "reject", "审稿人甲", comment="和第一个太像", bank_dir=bank)
    text = path.read_text(encoding="utf-8")
    assert "review_status: rejected" in text and "reviewed_by: 审稿人甲" in text and "和第一个太像" in text
    review_template(task, t.id, "submit", "作者", bank_dir=bank)
    current = load_task_templates("ocnli", bank).by_id(t.id)
    review_template(task, t.id, "approve", "审稿人乙", bank_dir=bank, base=fingerprint(current))
    extra = load_task_templates("ocnli", bank).by_id(t.id).metadata.extra
    assert extra["review_status"] == "approved" and extra["reviewed_by"] == "审稿人乙"
    assert "review_comment" not in extra and extra["submitted_by"] == "作者"
    with pytest.raises(ReviewError, match="is approved"):
        review_template(task, t.id, "submit", "作者", bank_dir=bank, base=fingerprint(current))
    edited = load_task_templates("ocnli", bank).by_id(t.id)
    edited.jinja = edited.jinja.replace("请判断", "请你判断")
    _, examples, fields = ctx
    save_template(
        task, edited, "作者", examples=examples, data_fields=fields, bank_dir=bank, base=fingerprint(current)
    )
    assert load_task_templates("ocnli", bank).by_id(t.id).metadata.extra["review_status"] == "draft"
    with pytest.raises(ConflictError):  # judged an older text
        review_template(task, t.id, "submit", "作者", bank_dir=bank, base=fingerprint(current))


def test_an_edit_needs_review_again_and_training_reads_approved(bank, ctx):
    task, examples, fields = ctx
    t = _new(ctx, bank, "待审", "{{sentence1}}；{{sentence2}}。两句是何关系")
    review_template(task, t.id, "submit", "作者", bank_dir=bank)
    _, bank_all = load_bank(bank, ["ocnli"])
    _, approved = load_bank(bank, ["ocnli"], statuses=APPROVED)
    _, with_sub = load_bank(bank, ["ocnli"], statuses=WITH_SUBMITTED)
    seed_ids = {s.id for s in SEED}  # the bank before review counts as approved
    assert {x.id for x in approved["ocnli"].templates} == seed_ids
    assert {x.id for x in with_sub["ocnli"].templates} == seed_ids | {t.id}
    assert len(bank_all["ocnli"].templates) == 3
    assert [i.template.id for i in review_queue(bank_all)] == [t.id]
    seed = load_task_templates("ocnli", bank).by_id(SEED[0].id)
    base = fingerprint(seed)
    seed.jinja = seed.jinja.replace("是什么关系", "是哪种关系")
    save_template(task, seed, "改稿人", examples=examples, data_fields=fields, bank_dir=bank, base=base)
    _, approved = load_bank(bank, ["ocnli"], statuses=APPROVED)
    assert {x.id for x in approved["ocnli"].templates} == {SEED[1].id}  # the edit waits for review
    record = selection_record(approved, bank, APPROVED)
    assert record["prompt_ids"] == {"ocnli": [SEED[1].id]} and record["review_statuses"] == ["approved"]
    assert len(record["prompts_sha256"]) == 64
    with pytest.raises(ReviewError, match="unknown review status"):
        load_bank(bank, ["ocnli"], statuses={"aproved"})


def test_two_reviewers_and_three_annotators_at_once_lose_nothing(bank, ctx, tmp_path):
    task = ctx[0]
    ids = []
    for i in range(8):
        t = _new(ctx, bank, f"待审{i}", f"第{i}种问法：{{{{sentence1}}}}／{{{{sentence2}}}}")
        review_template(task, t.id, "submit", "作者", bank_dir=bank)
        ids.append(t.id)
    examples = tmp_path / "examples.json"
    examples.write_text(json.dumps(ctx[1], ensure_ascii=False), encoding="utf-8")
    go = tmp_path / "go"
    here = Path(__file__).parent
    cmds = [[str(here / "bank_writer.py"), str(bank), str(examples), str(w), "4", str(go)] for w in range(3)]
    cmds += [[str(here / "bank_reviewer.py"), str(bank), f"审稿人{r}", str(go), *ids[r::2]] for r in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO
        )
        for c in cmds
    ]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    go.touch()
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
        outs.append(out.split("\n"))
    coll = load_task_templates("ocnli", bank)
    assert len(coll.templates) == len(SEED) + 8 + 3 * 4
    written = {line for out in outs[:3] for line in out if line}
    assert written <= {t.id for t in coll.templates}
    for r in range(2):
        for i, tid in enumerate(ids[r::2]):
            extra = coll.by_id(tid).metadata.extra
            assert extra["review_status"] == ("approved" if i % 2 == 0 else "rejected")
            assert extra["reviewed_by"] == f"审稿人{r}"
