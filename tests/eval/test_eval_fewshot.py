"""Few-shot demonstrations and prompt assembly on OCNLI-schema rows (synthetic; no model)."""

from __future__ import annotations

from evalbank import OCNLI

from weprompt.catalog import load_catalog
from weprompt.data import load_split
from weprompt.eval.examples import PromptBuilder, content_free, pick_negatives, references
from weprompt.eval.fewshot import assemble, demo_candidates, demo_split
from weprompt.templates import SHOT_SEP, TARGET_SEP


def test_demo_split_choice():
    assert demo_split(["train", "validation"], "validation") == "train"
    assert demo_split(["validation", "test"], "validation") == "test"  # CFT
    assert demo_split(["validation"], "validation") == "validation"  # CMRC2017, CMNLI
    assert demo_split(["test"], "test") == "test"  # WebQA


def test_candidates_are_seeded_per_example():
    a = list(demo_candidates(50, 0, "ocnli", "validation/3"))
    assert a == list(demo_candidates(50, 0, "ocnli", "validation/3"))
    assert a != list(demo_candidates(50, 0, "ocnli", "validation/4"))
    assert a != list(demo_candidates(50, 1, "ocnli", "validation/3"))
    assert sorted(a) == list(range(50))


def _builder(tok, shots, demo_rows, demo_split_name, eval_split="validation", context=256):
    task = load_catalog().task("ocnli")
    return PromptBuilder(task, OCNLI[0], tok, context, shots, 0, demo_rows, demo_split_name, eval_split)


def test_demos_never_the_evaluated_example(task_tokenizer, synth_data):
    rows = load_split("ocnli", "validation").select(range(12)).to_list()
    b = _builder(task_tokenizer, 5, rows, "validation")  # demonstrations from the evaluated split itself
    for i, row in enumerate(rows):
        key = f"validation/{i}"
        r = b.render(row, key)
        demos = b.demos(key, i, r)
        assert len(demos) == 5
        assert all(d.input != r.input for d in demos)
        assert demos == b.demos(key, i, r)  # deterministic
    # a row duplicated in the pool (as some releases repeat eval rows in train) is never its own demo
    dup = [rows[0]] * 3 + rows[1:4]
    b = _builder(task_tokenizer, 3, dup, "train")
    r = b.render(rows[0], "validation/0")
    assert all(d.input != r.input for d in b.demos("validation/0", 0, r))


def test_assemble_drops_far_demos_then_cuts_input(task_tokenizer, synth_data):
    tok = task_tokenizer
    rows = load_split("ocnli", "train").select(range(40)).to_list()
    b = _builder(tok, 5, rows, "train", context=10_000)
    r = b.render(rows[0], "validation/0")
    demos = b.demos("validation/0", 99, r)
    full = b.prompt(demos, r.input, 2)
    text = "".join(d.input + TARGET_SEP + d.target + SHOT_SEP for d in demos) + r.input + TARGET_SEP
    assert full.ids == [tok.eos_id] + tok.encode(text)  # blocks encoded apart == the joined text
    assert (full.shots, full.shots_dropped, full.truncated) == (5, 0, False)
    # room for the input and two demonstrations only: the two nearest the input are kept
    main = len(tok.encode(r.input + TARGET_SEP))
    blocks = [len(tok.encode(d.input + TARGET_SEP + d.target + SHOT_SEP)) for d in demos]
    room = 1 + main + blocks[3] + blocks[4]
    p = assemble(tok.encode, demos, r.input, room, [tok.eos_id])
    assert (p.shots, p.shots_dropped, p.truncated) == (2, 3, False)
    assert p.ids == full.ids[:1] + full.ids[-(room - 1) :]
    # no room for any demonstration and not for the whole input: cut from the left
    p = assemble(tok.encode, demos, r.input, 6, [tok.eos_id])
    assert (p.shots, p.truncated, len(p.ids)) == (0, True, 6)
    assert p.ids[1:] == tok.encode(r.input + TARGET_SEP)[-5:]


def test_negatives_gold_plus_three_seeded():
    a = pick_negatives(15, 7, 3, 0, "tnews", "validation/1")
    assert len(a) == 4 and 7 in a and a == sorted(a)
    assert a == pick_negatives(15, 7, 3, 0, "tnews", "validation/1")
    assert pick_negatives(3, 1, 3, 0, "x", "k") == [0, 1, 2]
    draws = {tuple(pick_negatives(15, 7, 3, 0, "tnews", f"validation/{i}")) for i in range(20)}
    assert len(draws) > 10  # varies per example


def test_references_and_content_free():
    row = {"context": "北京", "answers": {"text": ["北京", "北京市"], "answer_start": [0, 0]}, "label": "x"}
    assert references(row, "北京") == ["北京", "北京市"]
    assert references({"answers": ["法国", "法兰西"]}, None) == ["法国", "法兰西"]
    assert references({"answer": "白"}, "白") == ["白"]
    cf = content_free({"a": "文本", "b": ["x", "y"], "n": 3, "label": "entailment", "label_id": 0}, "label")
    assert cf == {"a": "N/A", "b": ["N/A", "N/A"], "n": 3, "label": "entailment", "label_id": 0}
