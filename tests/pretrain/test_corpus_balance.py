"""Re-balancing: weights meet the source targets and the English cap; copies are seeded per document."""

from __future__ import annotations

import numpy as np
import pytest

from weprompt.pretrain.corpus.balance import doc_uniform, fit_weights, normalized_targets, repeats_for
from weprompt.pretrain.corpus.config import BalanceConfig, CorpusConfigError

# Token counts shaped like the cleaned shared corpus: books dominate, English mostly in news.
TOKENS = {
    ("books", "zh"): 22_000_000,
    ("books", "en"): 900_000,
    ("news", "en"): 1_400_000,
    ("news", "zh"): 100_000,
    ("forums", "zh"): 1_700_000,
    ("forums", "en"): 600_000,
    ("academic", "zh"): 1_100_000,
}
TARGETS = {"books": 0.62, "news": 0.12, "forums": 0.15, "academic": 0.11}


def test_targets_and_english_cap_met():
    plan = fit_weights(TOKENS, BalanceConfig(targets=TARGETS))
    share = plan.share_after()
    for s, p in TARGETS.items():
        assert share[s] == pytest.approx(p, abs=0.005)
    assert plan.english_share_after() <= 0.13 + 1e-9
    assert sum(plan.expected_tokens().values()) == pytest.approx(sum(TOKENS.values()), rel=0.01)
    assert plan.weights[("books", "zh")] < 1 < plan.weights[("academic", "zh")]  # down- and up-sampling


def test_english_cap_is_hard_when_targets_conflict():
    # News is English-heavy and wants 40 %: the cap wins, news falls short of its target.
    plan = fit_weights(TOKENS, BalanceConfig(targets=TARGETS | {"news": 0.4}, english_max_share=0.13))
    assert plan.english_share_after() == pytest.approx(0.13, abs=1e-6)
    assert plan.share_after()["news"] < 0.3


def test_max_repeat_caps_upsampling():
    plan = fit_weights(TOKENS, BalanceConfig(targets=TARGETS | {"academic": 0.5}, max_repeat=2.0))
    assert plan.weights[("academic", "zh")] <= 2.0


def test_unlisted_and_bad_targets():
    with pytest.raises(CorpusConfigError, match="have no target"):
        normalized_targets(BalanceConfig(targets={"books": 1.0}), ["books", "web"])
    assert normalized_targets(BalanceConfig(targets={"books": 3.0}, unlisted="drop"), ["books", "web"]) == {
        "books": 1.0
    }
    with pytest.raises(CorpusConfigError, match=">= 0"):
        normalized_targets(BalanceConfig(targets={"books": -1.0}), ["books"])


def test_copies_seeded_per_document():
    orders = np.arange(100_000)
    copies = repeats_for(orders, np.full(len(orders), 1.3), seed=0)
    assert set(np.unique(copies)) == {1, 2} and copies.mean() == pytest.approx(1.3, abs=0.01)
    # Independent of how documents were split: a subset gets the same draws.
    assert np.array_equal(repeats_for(orders[::7], np.full(len(orders[::7]), 1.3), 0), copies[::7])
    assert not np.array_equal(doc_uniform(orders, 0), doc_uniform(orders, 1))
