"""The review flow in the app (AppTest): an annotator saves a draft and submits it; the author cannot
approve it; a second person sees it in the review queue rendered on real examples beside the task's
prompts with the nearest-duplicate score and the evaluator's score, rejects without a reason (refused),
with one, the author resubmits, a reviewer approves, and the YAML says so."""

from __future__ import annotations

import json

import pytest
from test_ui_app import GOOD, goto, start, texts, type_template
from ui_seed import SEED

from weprompt.bank import load_task_templates

pytestmark = pytest.mark.usefixtures("synth_data")


def _review(at):
    at.sidebar.radio(key="view").set_value("Review").run()
    assert not at.exception, at.exception
    return at


def _write_results(path, scores: dict[str, float]) -> None:
    """A results.json as `weprompt eval` writes it (eval.runner: schema, tasks -> shots -> prompts)."""
    prompts = [{"template_id": k, "name": k, "metrics": {"accuracy": v}} for k, v in scores.items()]
    data = {
        "schema": "weprompt.eval.results/1",
        "model": {"path": "runs/模型A"},
        "tasks": {"ocnli": {"metric": "accuracy", "shots": {"0": {"k": 0, "prompts": prompts}}}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_draft_to_approved(monkeypatch, bank, tmp_path):
    author = goto(start(monkeypatch, bank, name="作者甲"), "Write")
    type_template(author, GOOD, name="待审提示")
    author.button(key="save").click().run()
    assert "Review status: **draft**" in texts(author.markdown)
    author.button(key="submit").click().run()
    assert "Submitted '待审提示' for review" in texts(author.success)
    saved = load_task_templates("ocnli", bank).by_name("待审提示")
    assert saved.metadata.extra["review_status"] == "submitted"
    assert "review_status: submitted" in (bank / "templates" / "ocnli.yaml").read_text(encoding="utf-8")
    _review(author)
    assert author.button(key="approve").disabled and "a second person must review it" in texts(author.caption)

    _write_results(
        tmp_path / "eval" / "m" / "results.json", {SEED[0].id: 60.0, saved.id: 70.0, SEED[1].id: 50.0}
    )
    monkeypatch.setenv("WEPROMPT_EVAL_DIR", str(tmp_path / "eval"))
    rev = _review(start(monkeypatch, bank, name="审稿人乙"))
    assert "Review queue · 1 waiting" in [h.value for h in rev.subheader]
    assert any(c.value.startswith("前提：") for c in rev.code)  # rendered on real examples
    assert "Nearest duplicate (bigram Jaccard)" in [m.label for m in rev.metric]
    frames = [f.value for f in rev.dataframe]
    others = next(f for f in frames if "similarity" in f.columns)
    assert set(others["prompt"]) == {s.name for s in SEED}
    quality = next(f for f in frames if "rank" in f.columns)
    assert quality.iloc[0]["rank"] == "1 / 3" and quality.iloc[0]["accuracy"] == 70.0
    rev.button(key="reject").click().run()
    assert "needs a comment" in texts(rev.error)
    rev.text_area(key="review_comment").input("和种子提示太像，换个说法").run()
    rev.button(key="reject").click().run()
    assert "is rejected now" in texts(rev.success)
    assert "Nothing is waiting for review" in texts(rev.info)

    goto(author, "Write")
    author.selectbox(key="pick").set_value(saved.id).run()
    assert "Rejected by 审稿人乙: 和种子提示太像，换个说法" in texts(author.error)
    author.button(key="submit").click().run()
    assert "Submitted '待审提示' for review" in texts(author.success), texts(author.error)
    rev.run()
    rev.button(key="approve").click().run()
    assert "is approved now" in texts(rev.success)
    extra = load_task_templates("ocnli", bank).by_id(saved.id).metadata.extra
    assert extra["review_status"] == "approved" and extra["reviewed_by"] == "审稿人乙"


def test_open_from_the_queue_jumps_to_the_task(monkeypatch, bank):
    author = goto(start(monkeypatch, bank, name="作者丙"), "Write", task="cmnli")
    type_template(author, GOOD, name="cmnli提示")
    author.button(key="save").click().run()
    author.button(key="submit").click().run()
    rev = _review(start(monkeypatch, bank, name="审稿人丁"))
    rev.button(key="review_open").click().run()
    assert rev.sidebar.radio(key="view").value == "Write"
    assert rev.sidebar.selectbox(key="task").value == "cmnli"
    assert rev.text_input(key="ed_name").value == "cmnli提示"
