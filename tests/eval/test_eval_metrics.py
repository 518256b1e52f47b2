"""Metrics against hand-computed cases (no model)."""

from __future__ import annotations

import math

import pytest

from weprompt.eval import metrics as M


def test_segments_cjk_by_character_latin_words_whole_punctuation_stripped():
    assert M.segments("2016年的iPhone 7，很好!") == ["2016", "年", "的", "iphone", "7", "很", "好"]
    assert M.segments("《战国无双3》") == ["战", "国", "无", "双", "3"]
    # full-width Latin and digits equal half-width (NFKC); whitespace is no segment
    assert M.segments("ＡＢＣ　１２") == ["abc", "12"]
    assert M.segments("北 京") == ["北", "京"]
    # punctuation inside a Latin word joins its parts, as the official rm_punc does
    assert M.segments("光荣和ω-force") == ["光", "荣", "和", "ωforce"]
    assert M.segments("，。！？") == []


def test_f1_is_the_official_longest_common_substring_f1():
    # 北京天安门 / 天安门广场: common substring 天安门 (3 of 5 and 3 of 5) -> P = R = 0.6
    assert M.f1_score("北京天安门", "天安门广场") == pytest.approx(0.6)
    # bag-of-characters F1 would give 1.0 here; the official substring F1 gives 1/3
    assert M.f1_score("门安天", "天安门") == pytest.approx(1 / 3)
    # Latin words are whole: "new york city" vs "new york": LCS 2, P = 2/3, R = 1 -> F1 = 0.8
    assert M.f1_score("New York City", "new york") == pytest.approx(0.8)
    assert M.f1_score("newyork", "new york") == 0.0
    # max over references; punctuation does not count
    assert M.f1_score("天安门。", ["上海", "北京天安门"]) == pytest.approx(2 * 0.6 / 1.6)
    assert M.f1_score("", "北京") == 0.0


def test_exact_match_normalisation_and_max_over_references():
    assert M.exact_match_score("光荣和ω-force", "光荣和ωforce") == 1.0
    assert M.exact_match_score("北京。", ["上海", "北京"]) == 1.0
    assert M.exact_match_score("北 京", "北京") == 1.0
    assert M.exact_match_score("ＡＢＣ", "abc") == 1.0
    assert M.exact_match_score("北京市", "北京") == 0.0


def test_rouge_on_characters():
    # rouge-score would tokenise both to nothing and return 0; on characters: 我爱 shared -> P = R = 0.5
    assert M.rouge_1_score("我爱北京", "我爱上海") == pytest.approx(0.5)
    # clipped counts: 好好好 vs 好 -> overlap 1, P = 1/3, R = 1 -> F = 0.5
    assert M.rouge_1_score("好好好", "好") == pytest.approx(0.5)
    # LCS (subsequence) 我北京工作 = 5 of 6 both ways
    assert M.rouge_l_score("我在北京工作", "我北京在工作") == pytest.approx(5 / 6)
    assert M.rouge_l_score("工作", ["北京", "在工作"]) == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))


def test_bleu_sacrebleu_zh_hand_computed():
    # chars 今天天气很好 vs 今天天气不错: precisions 4/6, 3/5, 2/4, 1/3, BP 1
    expected = 100 * (4 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert M.bleu(["今天天气很好"], [["今天天气不错"]]) == pytest.approx(expected, abs=0.01)
    assert M.bleu(["我爱北京天安门"], [["我爱北京天安门"]]) == pytest.approx(100.0)
    # examples with different numbers of references
    two = M.bleu(["我爱北京天安门", "今天天气很好"], [["我爱北京天安门"], ["今天天气不错", "今天天气很好"]])
    assert two == pytest.approx(100.0)


def test_corpus_metrics_scale_and_classification():
    preds, refs = ["北京", "上海"], [["北京"], ["广州"]]
    got = M.compute(["exact_match", "f1", "accuracy"], preds, refs)
    assert got == {"exact_match": 50.0, "f1": 50.0, "accuracy": 50.0}
    # macro F1: class a: P 1/2, R 1 -> 2/3; class b: P 0 (no b predicted) -> 0; mean 1/3
    assert M.macro_f1(["a", "a"], [["a"], ["b"]]) == pytest.approx(100 / 3)
    with pytest.raises(KeyError, match="unknown metric 'pearson'"):
        M.compute(["pearson"], preds, refs)


def test_out_of_scope():
    assert M.out_of_scope("", "generation", None)
    assert M.out_of_scope("。，", "extractive_qa", "北京是首都。")
    assert M.out_of_scope("上海", "extractive_qa", "北京是首都。")
    assert not M.out_of_scope("北 京", "extractive_qa", "北京 是 首都 。")  # word-segmented passage
    assert not M.out_of_scope("上海", "generation", "北京是首都。")  # closed-book: only empty is out of scope
    assert M.out_of_scope("猴子", "cloze_generation", "啄木鸟 每天 工作")
    assert not math.isnan(M.f1_score("a", "a"))


def test_outside_choices_accepts_a_choice_and_what_follows_it():
    from weprompt.eval.metrics import outside_choices

    choices = ["蕴含", "矛盾", "中立"]
    assert not outside_choices("蕴含", choices)
    assert not outside_choices(" 矛盾。因为前一句说……", choices)  # goes on after the label
    assert outside_choices("是的", choices)
    assert outside_choices("", choices) and outside_choices("。", choices)
    assert outside_choices("含", choices)  # part of a label is not a label
    assert outside_choices("蕴含关系", choices)  # nor is a longer word that starts with one
    assert not outside_choices("A. 10", ["A", "B", "C"]) and outside_choices("10", ["1", "2", "3"])
