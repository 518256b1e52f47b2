"""The runner end to end with a tiny real WeLM: batch invariance, cache and resume, bad input, results."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from evalbank import CHID, CMRC, OCNLI, TNEWS, template

from weprompt.catalog import load_catalog
from weprompt.common.errors import UserError
from weprompt.common.paths import PACKAGE_BANK_DIR
from weprompt.eval.aggregate import score_prompt
from weprompt.eval.cache import read_predictions
from weprompt.eval.examples import EvalInputError
from weprompt.eval.runner import evaluate


class CountCalls:
    """Counts forward passes of the real model (a forward hook; nothing is replaced)."""

    def __init__(self, model):
        self.n = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, *_):
        self.n += 1

    def close(self):
        self.handle.remove()


def _records(results: dict) -> dict:
    out = {}
    for task, t in results["tasks"].items():
        for k, s in t["shots"].items():
            for p in s["prompts"]:
                out[(task, k, p["template_id"])] = read_predictions(p["predictions"])
    return out


def assert_close(a, b, tol: float = 1e-5, where: str = "") -> None:
    """Equal structures; floats within `tol` (only the model's log-probabilities are floats)."""
    if isinstance(a, float) and isinstance(b, float):
        assert abs(a - b) <= tol, f"{where}: {a} vs {b}"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            assert_close(a[k], b[k], tol, f"{where}/{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, tol, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def _scores(results: dict) -> dict:
    return {
        (task, k, p["template_id"]): (p["metrics"], p.get("rules"), p["oos_rate"])
        for task, t in results["tasks"].items()
        for k, s in t["shots"].items()
        for p in s["prompts"]
    }


def test_scores_do_not_depend_on_batch_size(tiny_lm, make_bank, tmp_path, synth_data):
    bank = make_bank({"ocnli": [OCNLI[0], OCNLI[2]], "chid": CHID, "cmrc2018": CMRC[:1]})
    runs = {}
    for bs in (1, 3, 8):
        runs[bs] = {}
        for tasks, shots in ((["ocnli"], [0, "paper"]), (["chid", "cmrc2018"], [0])):
            runs[bs].update(
                evaluate(
                    tiny_lm,
                    tasks,
                    shots,
                    limit=8,
                    batch_size=bs,
                    bank_dir=str(bank),
                    cache_dir=str(tmp_path / f"cache{bs}"),
                    progress=False,
                )["tasks"]
            )
        runs[bs] = {"tasks": runs[bs]}
    # every log-prob to 1e-5 (batches across examples), every generation and metric exactly
    assert_close(_records(runs[1]), _records(runs[3]))
    assert_close(_records(runs[1]), _records(runs[8]))
    assert_close(_scores(runs[1]), _scores(runs[3]), tol=0.0)
    assert_close(_scores(runs[1]), _scores(runs[8]), tol=0.0)
    r = runs[1]["tasks"]
    assert [t["name"] for t in r["ocnli"]["templates"]] == ["关系"]  # the training-only one is not used
    assert r["ocnli"]["templates_skipped"][0]["name"] == "训练用"
    assert r["ocnli"]["shots"]["5"]["prompts"][0]["shots_mean"] > 0  # demonstrations were used
    assert len(r["chid"]["shots"]["0"]["prompts"][0]["error_examples"]) == 0
    gen = r["cmrc2018"]["shots"]["0"]["prompts"][0]
    assert set(gen["metrics"]) >= {"f1", "exact_match", "rouge_1", "rouge_l", "bleu"}
    assert 0.0 <= gen["oos_rate"] <= 100.0 and gen["n"] == 8


def test_cache_resumes_and_rescoring_needs_no_model(tiny_lm, make_bank, tmp_path, synth_data):
    bank = make_bank({"ocnli": OCNLI[:1]})
    kw = dict(bank_dir=str(bank), cache_dir=str(tmp_path / "cache"), progress=False)
    calls = CountCalls(tiny_lm.model)
    try:
        evaluate(tiny_lm, ["ocnli"], [0], limit=4, **kw)
        first = calls.n
        assert first > 0
        calls.n = 0
        full = evaluate(tiny_lm, ["ocnli"], [0], limit=8, **kw)  # only the 4 new examples are computed
        assert 0 < calls.n <= first + 2
        path = Path(full["tasks"]["ocnli"]["shots"]["0"]["prompts"][0]["predictions"])
        assert len(path.read_text(encoding="utf-8").splitlines()) == 1 + 8  # header + one line per example
        calls.n = 0
        again = evaluate(tiny_lm, ["ocnli"], [0], limit=8, **kw)
        assert calls.n == 0 and _scores(again) == _scores(full)
        # an interrupted write: the last line cut in half; the rerun redoes that example only
        text = path.read_bytes()
        path.write_bytes(text[: len(text) - 40])
        calls.n = 0
        again = evaluate(tiny_lm, ["ocnli"], [0], limit=8, **kw)
        assert 0 < calls.n <= 4 and _scores(again) == _scores(full)
        # a cached render error (e.g. from a renderer since fixed) is retried, not trusted forever
        rec = read_predictions(path)["validation/0"]
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"key": rec["key"], "h": rec["h"], "error": "old renderer failed"}) + "\n")
        calls.n = 0
        again = evaluate(tiny_lm, ["ocnli"], [0], limit=8, **kw)
        assert 0 < calls.n <= 4 and _scores(again) == _scores(full)
        assert "error" not in read_predictions(path)["validation/0"]
    finally:
        calls.close()
    # rescoring with another metric or rule: from the cached predictions alone
    task = dataclasses.replace(load_catalog().task("ocnli"), metrics=("macro_f1", "accuracy"))
    recs = list(read_predictions(path).values())
    scored = score_prompt(task, recs, {})
    assert scored["score"] == scored["metrics"]["macro_f1"] and scored["n"] == 8
    assert scored["metrics"]["accuracy"] == full["tasks"]["ocnli"]["shots"]["0"]["prompts"][0]["score"]


def test_tnews_gold_plus_three_negatives_same_under_every_prompt(tiny_lm, make_bank, tmp_path, synth_data):
    bank = make_bank({"tnews": TNEWS})
    res = evaluate(
        tiny_lm, ["tnews"], [0], limit=6, bank_dir=str(bank), cache_dir=str(tmp_path), progress=False
    )
    a, b = (read_predictions(p["predictions"]) for p in res["tasks"]["tnews"]["shots"]["0"]["prompts"])
    for key in a:
        assert len(a[key]["choices"]) == 4
        assert a[key]["choices"] == b[key]["choices"]  # both prompts use the same label names
    assert len({tuple(r["choices"]) for r in a.values()}) > 1
    assert res["tasks"]["tnews"]["shots"]["0"]["prompts"][0]["n_choices_mean"] == 4


def test_results_are_self_describing(tiny_lm, make_bank, tmp_path, synth_data):
    bank = make_bank({"ocnli": OCNLI[:2]})
    res = evaluate(
        tiny_lm, ["ocnli"], ["paper"], limit=3, seed=7, bank_dir=str(bank), cache_dir=str(tmp_path)
    )
    assert res["schema"] == "weprompt.eval.results/1"
    assert res["model"]["hash"] == tiny_lm.model_hash and len(res["model"]["tokenizer_fingerprint"]) == 64
    assert res["settings"]["seed"] == 7 and res["settings"]["scoring_rule"] == "mean"
    t = res["tasks"]["ocnli"]
    assert (t["split"], t["metric"], t["demo_split"], t["n_examples"]) == (
        "validation",
        "accuracy",
        "train",
        3,
    )
    shot = t["shots"]["5"]
    assert shot["k"] == 5 and shot["summary"]["n_prompts"] == 2
    assert {"median", "iqr", "q1", "q3", "worst", "best"} <= set(shot["summary"])
    for p, tpl in zip(shot["prompts"], t["templates"], strict=True):
        assert p["template_id"] == tpl["id"] and Path(p["predictions"]).is_file()
        assert set(p["rules"]) == {"mean", "sum", "per_char", "calibrated"} and p["oos_rate"] is None
    json.dumps(res)  # plain JSON


def test_template_that_does_not_render_is_counted_not_fatal(tiny_lm, make_bank, tmp_path, synth_data):
    broken = template(
        "有时坏",
        "{{sentence1}}{% if label_id == 1 %}{{no_such_field}}{% endif %} ||| {{answer_choices[label_id]}}",
        "蕴含 ||| 中立 ||| 矛盾",
    )
    bank = make_bank({"ocnli": [OCNLI[0], broken]})
    res = evaluate(
        tiny_lm, ["ocnli"], [0], limit=10, bank_dir=str(bank), cache_dir=str(tmp_path), progress=False
    )
    good, bad = res["tasks"]["ocnli"]["shots"]["0"]["prompts"]
    assert good["errors"] == 0 and bad["errors"] > 0 and bad["n"] + bad["errors"] == 10
    msg = bad["error_examples"][0]
    assert "task 'ocnli'" in msg and "有时坏" in msg and "validation/" in msg and "no_such_field" in msg


def test_gold_not_among_choices_names_task_template_example(tiny_lm, make_bank, tmp_path, synth_data):
    wrong = template("错选项", "{{sentence1}} ||| {{answer_choices[label_id]}}不对", "蕴含 ||| 中立 ||| 矛盾")
    bank = make_bank({"ocnli": [wrong]})
    with pytest.raises(
        EvalInputError, match=r"task 'ocnli', template '错选项' .* example validation/0: gold"
    ):
        evaluate(
            tiny_lm, ["ocnli"], [0], limit=2, bank_dir=str(bank), cache_dir=str(tmp_path), progress=False
        )


def test_task_without_eval_split_and_without_prompts(tiny_lm, make_bank, tmp_path, synth_data):
    raw = yaml.safe_load((PACKAGE_BANK_DIR / "catalog.yaml").read_text(encoding="utf-8"))
    for entry in raw["tasks"]:
        if entry["name"] == "ocnli":
            entry["splits"], entry["eval_split"] = {"train": 9985}, "train"
    bank = make_bank({"ocnli": OCNLI, "c3": []}, yaml.safe_dump(raw, allow_unicode=True))
    kw = dict(bank_dir=str(bank), cache_dir=str(tmp_path), progress=False, limit=2)
    with pytest.raises(EvalInputError, match="task 'ocnli' has no validation/test split"):
        evaluate(tiny_lm, ["ocnli"], [0], **kw)
    with pytest.raises(UserError, match="no task could be evaluated: c3: no original-task prompt"):
        evaluate(tiny_lm, ["c3"], [0], **kw)
    with pytest.raises(UserError, match="unknown task 'ocnlii'"):
        evaluate(tiny_lm, ["ocnlii"], [0], **kw)


def test_scope_probe_decodes_open_answers_for_rank_tasks(tiny_lm, make_bank, tmp_path, synth_data):
    from weprompt.eval.metrics import outside_choices

    bank = make_bank({"ocnli": OCNLI[:1]})
    kw = dict(bank_dir=str(bank), cache_dir=str(tmp_path), progress=False, limit=6)
    plain = evaluate(tiny_lm, ["ocnli"], [0], **kw)["tasks"]["ocnli"]["shots"]["0"]["prompts"][0]
    assert plain["oos_rate"] is None and plain["oos_probed"] == 0  # rank scoring alone has no open answers
    probed_run = evaluate(tiny_lm, ["ocnli"], [0], scope_probe=4, **kw)
    probed = probed_run["tasks"]["ocnli"]["shots"]["0"]["prompts"][0]
    recs = read_predictions(probed["predictions"])
    opened = [r for r in recs.values() if "open_answer" in r]
    assert len(opened) == 4 and probed["oos_probed"] == 4
    expected = 100.0 * sum(outside_choices(r["open_answer"], r["choices"]) for r in opened) / 4
    assert probed["oos_rate"] == expected
    # the probe leaves rank scores alone, and its cache is its own
    assert probed["score"] == plain["score"] and probed["predictions"] != plain["predictions"]


def test_only_approved_prompts_by_default_and_the_run_records_which(tiny_lm, make_bank, tmp_path, synth_data):
    third = template("第三", "前提：{{sentence1}}\n假设：{{sentence2}}\n关系：||| {{answer_choices[label_id]}}",
                     "蕴含 ||| 中立 ||| 矛盾")  # fmt: skip
    draft, submitted, approved = (dataclasses.replace(t) for t in (*OCNLI[:2], third))
    for t, status in ((draft, "draft"), (submitted, "submitted")):
        t.metadata = dataclasses.replace(t.metadata, extra={**t.metadata.extra, "review_status": status})
    bank = make_bank({"ocnli": [draft, submitted, approved]})  # `approved` has no review keys: approved

    def ids(prompts: str | None = None) -> list[str]:
        chosen = {"prompts": prompts} if prompts else {}
        res = evaluate(
            tiny_lm, ["ocnli"], [0], limit=2, bank_dir=str(bank), cache_dir=str(tmp_path), **chosen
        )
        t = res["tasks"]["ocnli"]
        assert t["prompt_selection"]["prompt_ids"]["ocnli"] == sorted(x["id"] for x in t["templates"])
        assert len(t["prompt_selection"]["prompts_sha256"]) == 64
        return [x["id"] for x in t["templates"]]

    assert ids() == ids("approved") == [approved.id]
    assert set(ids("with_submitted")) == {submitted.id, approved.id}
    assert set(ids("all")) == {draft.id, submitted.id, approved.id}
    with pytest.raises(UserError, match="prompts must be one of"):
        evaluate(
            tiny_lm, ["ocnli"], [0], limit=1, prompts="reviewed", bank_dir=str(bank), cache_dir=str(tmp_path)
        )


def test_bank_revision_is_asked_once_per_evaluation(tiny_lm, make_bank, tmp_path, synth_data, monkeypatch):
    """Every task records the bank's git revision, but git runs once per evaluation, not once per task."""
    import subprocess

    bank = make_bank({"ocnli": OCNLI[:1], "chid": CHID[:1]})
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "bank"]):
        subprocess.run([*git, *args], cwd=bank, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=bank, capture_output=True, text=True, check=True)
    calls: list = []
    real_run = subprocess.run

    def counting_run(args, *a, **kw):
        if args and args[0] == "git":
            calls.append(args)
        return real_run(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", counting_run)
    res = evaluate(
        tiny_lm, ["ocnli", "chid"], [0], limit=1, bank_dir=str(bank), cache_dir=str(tmp_path / "c")
    )
    assert [res["tasks"][t]["prompt_selection"]["bank_revision"] for t in ("ocnli", "chid")] == [
        head.stdout.strip()
    ] * 2
    assert len(calls) == 2, calls  # `git rev-parse HEAD` and `git status`, once
