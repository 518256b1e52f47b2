"""Rank scoring: shared-prefix scores equal full-sequence scores; the scoring rules by hand."""

from __future__ import annotations

import pytest

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
