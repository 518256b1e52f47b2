"""Rank scoring: shared-prefix scores equal full-sequence scores; the scoring rules by hand."""

from __future__ import annotations

import pytest
import torch

from weprompt.eval.scoring import PrefixCache, argmax, rule_scores, score_choices, score_full


def _ids(tok, text):
    return tok.encode(text)


def test_shared_prefix_equals_full_sequence_forward(tiny_lm):
    tok = tiny_lm.tokenizer
    prefix = [tok.eos_id] + tok.encode("“身上裹一件工厂发的棉大衣”和“身上至少一件衣服”之间是什么关系？\n")
    texts = ["蕴含", "中立", "矛盾", "可以推出的结论", "画蛇添足", "否"]
    choices = [tok.encode(t) for t in texts]
    assert any(len(c) == 1 for c in choices) and any(len(c) >= 3 for c in choices)  # both paths covered
    shared = score_choices(tiny_lm.model, prefix, choices, tok.pad_id)
    full = score_full(tiny_lm.model, prefix, choices, tok.pad_id)
    assert [len(s) for s in shared] == [len(c) for c in choices]
    diff = max(abs(a - b) for sa, sf in zip(shared, full, strict=True) for a, b in zip(sa, sf, strict=True))
    assert diff < 1e-5
    # and each choice alone (no padding anywhere) gives the same numbers
    for c, s in zip(choices, shared, strict=True):
        alone = score_full(tiny_lm.model, prefix, [c], tok.pad_id)[0]
        assert max(abs(a - b) for a, b in zip(alone, s, strict=True)) < 1e-5
    # the prefix cache returns the same scores as a fresh encoding
    cache = PrefixCache()
    for _ in range(2):
        assert score_choices(tiny_lm.model, prefix, choices, tok.pad_id, cache=cache) == shared


def test_score_choices_rejects_empty_input(tiny_lm):
    with pytest.raises(ValueError, match="no tokens"):
        score_choices(tiny_lm.model, [1, 2, 3], [[5], []])
    with pytest.raises(ValueError, match="empty prompt"):
        score_choices(tiny_lm.model, [], [[5]])


def test_rules_by_hand():
    # A: two tokens, each -1 (sum -2, mean -1); B: one token -1.5 (sum -1.5, mean -1.5)
    lp = [[-1.0, -1.0], [-1.5]]
    texts = ["一二三四", "五"]  # per char: A -0.5, B -1.5
    r = rule_scores(lp, texts)
    assert r["sum"] == [-2.0, -1.5] and argmax(r["sum"]) == 1
    assert r["mean"] == [-1.0, -1.5] and argmax(r["mean"]) == 0  # lowest perplexity: A
    assert r["per_char"] == [-0.5, -1.5]
    assert r["calibrated"] is None
    # content-free: A is a priori likely (-0.5), B unlikely (-4): calibration flips to B
    r = rule_scores(lp, texts, [[-0.25, -0.25], [-4.0]])
    assert r["calibrated"] == [-1.5, 2.5] and argmax(r["calibrated"]) == 1


def test_argmax_ties_go_to_the_first():
    assert argmax([0.5, 0.5, 0.1]) == 0
    assert argmax([-3.0, -1.0, -1.0]) == 1


def _requests(tok):
    texts = [
        "“身上裹一件工厂发的棉大衣”和“身上至少一件衣服”之间是什么关系？\n",
        "天气很好\n",
        "下面的句子是什么意思？他说明天会下雨，所以我们不去公园了。\n",
        "成语填空：____\n",
    ]
    choices = [tok.encode(t) for t in ["蕴含", "中立", "矛盾", "可以推出的结论", "画蛇添足", "否"]]
    reqs = [([tok.eos_id] + tok.encode(t), choices[i % 3 : i % 3 + 3 + i]) for i, t in enumerate(texts)]
    reqs.append(reqs[1])  # a repeated prompt (content-free prompts repeat): encoded once, same scores
    reqs.append(([tok.eos_id] + tok.encode(texts[0]), [c[:1] for c in choices[:2]]))  # one-token choices
    return reqs


def test_batches_across_examples_equal_one_example_at_a_time(tiny_lm):
    from weprompt.eval.batching import length_batches, score_batch

    tok = tiny_lm.tokenizer
    reqs = _requests(tok)
    assert len({len(p) for p, _ in reqs}) >= 4  # prompts of different lengths: padding is exercised
    alone = [score_choices(tiny_lm.model, p, c, tok.pad_id) for p, c in reqs]
    for bs in range(1, len(reqs) + 1):
        got: dict[int, list] = {}
        for group in length_batches([len(p) for p, _ in reqs], bs):
            for i, s in zip(
                group, score_batch(tiny_lm.model, [reqs[i] for i in group], tok.pad_id), strict=True
            ):
                got[i] = s
        for i, ref in enumerate(alone):
            assert [len(s) for s in got[i]] == [len(s) for s in ref]
            diff = max(
                abs(a - b) for sa, sb in zip(got[i], ref, strict=True) for a, b in zip(sa, sb, strict=True)
            )
            assert diff < 1e-5, (bs, i, diff)


def test_batched_generation_equals_one_prompt_at_a_time(tiny_lm):
    from weprompt.eval.batching import generate_batch
    from weprompt.eval.generate import newline_ids

    tok, model = tiny_lm.tokenizer, tiny_lm.model
    prompts = [p for p, _ in _requests(tok)][:4]
    stops = newline_ids(tok)
    budgets = [12, 3, 20, 7]
    ref = [
        model.generate(torch.tensor([p]), b, eos_id=tok.eos_id, stop_ids=stops)[0]
        for p, b in zip(prompts, budgets, strict=True)
    ]
    assert hasattr(model, "new_kv_cache")  # so the default below decodes into the preallocated cache
    assert len({len(r) for r in ref}) > 1  # rows stop at different steps
    assert generate_batch(model, prompts, budgets, [*stops, tok.eos_id], tok.pad_id) == ref
    # the list cache (what a model without `new_kv_cache` gets) decodes the same tokens
    assert (
        generate_batch(model, prompts, budgets, [*stops, tok.eos_id], tok.pad_id, static_cache=False) == ref
    )
    # no stop rule: rows run to different budgets, and to the end of the context window
    ctx = model.config.context_length
    budgets = [5, 1, ctx - len(prompts[2]), 9]
    ref = [model.generate(torch.tensor([p]), b)[0] for p, b in zip(prompts, budgets, strict=True)]
    assert generate_batch(model, prompts, budgets, [], tok.pad_id) == ref
    assert generate_batch(model, prompts, budgets, [], tok.pad_id, static_cache=False) == ref
    assert [len(r) for r in ref] == budgets


def test_mean_and_sum_rules_reported_side_by_side():
    from weprompt.catalog import load_catalog
    from weprompt.eval.aggregate import score_prompt, summarize

    task = load_catalog().task("chid")
    # example 1: long choice A (mean -1, sum -3) vs short B (-1.5): mean picks A, sum picks B (gold B)
    # example 2: both rules pick A (gold A)
    recs = [
        {"key": "v/0", "choices": ["甲乙丙", "丁"], "gold": 1, "logprobs": [[-1.0] * 3, [-1.5]]},
        {"key": "v/1", "choices": ["甲", "丁"], "gold": 0, "logprobs": [[-0.1], [-2.0]]},
    ]
    p = score_prompt(task, recs, {})
    assert p["rules"]["mean"] == 50.0 and p["rules"]["sum"] == 100.0 and p["mean_sum_agree"] == 50.0
    s = summarize([{"template_id": "t", "name": "t", **p}], task.metric)
    assert s["median"] == 50.0 and s["median_sum_rule"] == 100.0
