"""Source re-balancing (WeLM §2, Table 1): target proportions -> sampling weights -> the balanced stream.

Weights are per (source, language) group, found by iterative proportional fitting of two constraints:
each source gets its target share of the tokens, and English gets at most `english_max_share` of them
(the paper's 13 %). A weight above 1 repeats documents (up-sampling), below 1 samples them; no weight
exceeds `max_repeat`. When the constraints conflict (a source too small even at max_repeat) the fit
stops at the closest point and the report shows target beside achieved share; the English cap is then
enforced exactly (it is an upper bound in the paper), moving the source shares instead.

A document with weight w appears floor(w) times plus once more with probability frac(w), decided by a
generator seeded with (seed, document order), so the stream does not depend on how work was split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from weprompt.pretrain.corpus.config import BalanceConfig, CorpusConfigError
from weprompt.pretrain.corpus.text import mix64

Group = tuple[str, str]  # (source, lang)


@dataclass
class BalancePlan:
    weights: dict[Group, float]
    tokens_before: dict[Group, int]
    target_share: dict[str, float]
    total_target: int

    def expected_tokens(self) -> dict[Group, float]:
        return {g: self.weights[g] * t for g, t in self.tokens_before.items()}

    def share_after(self) -> dict[str, float]:
        exp = self.expected_tokens()
        total = sum(exp.values()) or 1.0
        out: dict[str, float] = defaultdict(float)
        for (src, _), t in exp.items():
            out[src] += t / total
        return dict(out)

    def english_share_after(self) -> float:
        exp = self.expected_tokens()
        total = sum(exp.values()) or 1.0
        return sum(t for (_, lang), t in exp.items() if lang == "en") / total


def normalized_targets(cfg: BalanceConfig, sources: list[str]) -> dict[str, float]:
    missing = sorted(set(sources) - set(cfg.targets))
    if missing and cfg.unlisted == "error":
        raise CorpusConfigError(
            f"corpus source(s) {missing} have no target in balance.targets {sorted(cfg.targets)}; add them, "
            "or set balance.unlisted=drop to drop their documents"
        )
    if any(v < 0 for v in cfg.targets.values()):
        raise CorpusConfigError(f"balance.targets must be >= 0, got {cfg.targets}")
    present = {s: cfg.targets[s] for s in sources if s in cfg.targets}
    total = sum(present.values())
    if total <= 0:
        raise CorpusConfigError(f"balance.targets give no weight to any corpus source {sources}")
    return {s: v / total for s, v in present.items()}


def fit_weights(tokens: dict[Group, int], cfg: BalanceConfig, iterations: int = 200) -> BalancePlan:
    """Weights per (source, lang) group for the targets in `cfg` (see the module docstring)."""
    sources = sorted({s for s, _ in tokens})
    targets = normalized_targets(cfg, sources)
    # Sources with no tokens cannot take a share; spread theirs over the rest.
    live = {s: p for s, p in targets.items() if sum(t for (src, _), t in tokens.items() if src == s) > 0}
    norm = sum(live.values()) or 1.0
    live = {s: p / norm for s, p in live.items()}
    total = cfg.total_tokens or sum(tokens.values())
    w = {g: 1.0 for g in tokens}
    cap = cfg.english_max_share
    for _ in range(iterations):
        # Source shares.
        for s, p in live.items():
            cur = sum(w[g] * tokens[g] for g in tokens if g[0] == s)
            if cur > 0:
                for g in tokens:
                    if g[0] == s:
                        w[g] *= p * total / cur
        # English cap (an upper bound only): move the excess to the other languages.
        eng = sum(w[g] * tokens[g] for g in tokens if g[1] == "en")
        rest = sum(w[g] * tokens[g] for g in tokens if g[1] != "en")
        if eng > cap * (eng + rest) and rest > 0:
            for g in tokens:
                w[g] *= (cap * total / eng) if g[1] == "en" else ((1 - cap) * total / rest)
        for g in tokens:
            w[g] = min(w[g], cfg.max_repeat)
    for g in tokens:
        if g[0] not in live:
            w[g] = 0.0
    # The English cap is hard (the paper keeps English "up to" 13 %): when the source targets could not
    # all be met, English gives way and the source shares move instead.
    eng = sum(w[g] * tokens[g] for g in tokens if g[1] == "en")
    rest = sum(w[g] * tokens[g] for g in tokens if g[1] != "en")
    if eng > cap * (eng + rest) and eng > 0:
        scale = cap * rest / ((1 - cap) * eng) if cap < 1 else 1.0
        for g in tokens:
            if g[1] == "en":
                w[g] *= scale
    return BalancePlan(weights=w, tokens_before=dict(tokens), target_share=targets, total_target=total)


def repeats_for(orders: np.ndarray, weights: np.ndarray, seed: int) -> np.ndarray:
    """Copies of each document: floor(w) + Bernoulli(frac(w)), one seeded draw per document order."""
    base = np.floor(weights).astype(np.int64)
    frac = weights - base
    return base + (doc_uniform(orders, seed) < frac).astype(np.int64)


def doc_uniform(orders: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) per document from (seed, order) by a 64-bit mix: independent of task split."""
    key = np.asarray(orders, dtype=np.uint64) ^ mix64(
        np.full(len(orders), seed + 0x9E3779B9, dtype=np.uint64)
    )
    with np.errstate(over="ignore"):
        return (mix64(key) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
