"""The labelled set of the quality classifier, built from the corpus itself (see docs/corpus.md).

WeLM trains its fastText classifier on hand-labelled web text; we have no labels and no web text, so
the labels come from the rule signals, honestly marked by where they come from:

- positive ("clean"): documents that passed language ID and every rule filter; half of them with an
  equal quota per dataset (corpus file), so that small sources are seen, and half in proportion to the
  datasets' sizes, so that the bulk of the corpus (classical poetry) is well represented. A first
  version with per-source quotas only saw little poetry and flagged 176 of 192 held-out poems as noisy;
- negative ("noisy"), real: documents the rule filters dropped for a noise reason (mojibake, symbols,
  punctuation, boilerplate, repeated lines, source code, offensive, too few CJK) — not "too_short" and
  not another language, which say nothing about quality;
- negative, synthetic: the real negatives are few in this curated corpus, so the rest of the negative
  class is made by corrupting other clean documents (never ones used as positives) in the ways web
  noise looks: mojibake, injected boilerplate lines, symbol runs, menu-like fragments joined by
  separators. Left out on purpose, after measuring: character shuffling (shuffled classical Chinese is
  not separable from classical Chinese by character n-grams; the classifier learnt "terse classical
  text = noise"), and repeated lines / keyword spam (fastText averages n-gram vectors, so repetition is
  invisible to it and it learnt spurious cues instead; the repetition rule filter covers these). With
  them, 176 of 192 held-out poems were flagged noisy; without, 6 of 790 held-out positives are.

Every example keeps its `kind` (positive / real:<reason> / synthetic:<corruption>) so precision and
recall can be reported on real negatives separately from synthetic ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

NOISE_REASONS = (
    "mojibake",
    "too_many_symbols",
    "too_much_punctuation",
    "boilerplate",
    "repeated_lines",
    "source_code",
    "offensive",
    "too_few_cjk",
)

BOILERPLATE_LINES = [
    "版权所有 © 2012-2022 本站保留所有权利",
    "点击这里免费下载全文",
    "扫一扫二维码关注我们的公众号",
    "上一篇：    下一篇：",
    "返回首页 | 联系我们 | 免责声明",
    "更多精彩内容请访问 www.example.com",
    "本站声明：本文仅代表作者观点",
    "立即注册 | 登录",
    "热门推荐 猜你喜欢 相关阅读",
    "All rights reserved. Privacy Policy | Terms of Use",
    "Click here to subscribe to our newsletter",
    "[图片]",
]
SYMBOLS = "★☆◆◇■□▲△●○◎※→←↑↓♥♦♣♠♪♫✔✘☎☞☜█▓▒░│┃━═║╬"


@dataclass(frozen=True)
class Example:
    text: str
    label: str  # "clean" or "noisy"
    kind: str  # "positive", "real:<reason>" or "synthetic:<corruption>"
    source: str
    doc_id: str


def _mojibake(text: str, rng: random.Random) -> str:
    codec = rng.choice(["latin-1", "gbk", "big5"])
    return text.encode("utf-8").decode(codec, errors="replace")


def _boilerplate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    out = []
    for line in lines:
        out.append(line)
        for _ in range(rng.randint(1, 3)):
            out.append(rng.choice(BOILERPLATE_LINES))
    return "\n".join(out)


def _symbol_runs(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(max(3, len(chars) // 8)):
        run = "".join(rng.choice(SYMBOLS) for _ in range(rng.randint(2, 6)))
        chars.insert(rng.randrange(len(chars) + 1), run)
    return "".join(chars)


def _fragments(text: str, rng: random.Random) -> str:
    flat = text.replace("\n", "")
    frags, i = [], 0
    while i < len(flat):
        n = rng.randint(2, 8)
        frags.append(flat[i : i + n])
        i += n + rng.randint(0, 20)
    sep = rng.choice([" | ", " > ", " / ", " · "])  # menu / breadcrumb separators, not line breaks
    return sep.join(frags)


CORRUPTIONS: dict[str, Callable[[str, random.Random], str]] = {
    "mojibake": _mojibake,
    "boilerplate": _boilerplate,
    "symbol_runs": _symbol_runs,
    "fragments": _fragments,
}


def corrupt(text: str, kind: str, rng: random.Random) -> str:
    return CORRUPTIONS[kind](text, rng)


def build_labelled_set(
    clean_by_dataset: dict[str, list[tuple[str, str, str]]],
    rejected: Iterable[tuple[str, str, str, str]],
    per_class: int,
    seed: int,
    max_chars: int = 2000,
    dataset_sizes: dict[str, int] | None = None,
) -> list[Example]:
    """Balanced labelled set.

    clean_by_dataset: dataset -> [(doc_id, text, source)] of rule-passing documents (a sample; sorted here).
    rejected: (doc_id, text, source, reason) of rule-dropped documents.
    dataset_sizes: documents per dataset in the whole corpus (for the proportional half; default: pool sizes).
    Returns `per_class` positives and `per_class` negatives (fewer if the pools are short), shuffled.
    """
    rng = random.Random(seed)
    names = sorted(clean_by_dataset)
    pools = {d: sorted(clean_by_dataset[d]) for d in names}
    for d in names:
        rng.shuffle(pools[d])
    sizes = dataset_sizes or {d: len(pools[d]) for d in names}
    total = sum(sizes.get(d, 0) for d in names) or 1
    # Quota per dataset: half equal shares, half proportional to size; at most half of a pool, so that
    # the other half is left for corruption.
    quota = (
        {d: int(per_class / 2 / len(names) + per_class / 2 * sizes.get(d, 0) / total) for d in names}
        if names
        else {}
    )
    positives: list[Example] = []
    spare: list[tuple[str, str, str]] = []
    for d in names:
        take = min(quota[d], len(pools[d]) // 2)
        positives += [Example(t[:max_chars], "clean", "positive", s, i) for i, t, s in pools[d][:take]]
        spare += pools[d][take:]
    rng.shuffle(spare)
    if len(positives) < per_class:  # short pools leave room: fill from the spare pool
        k = per_class - len(positives)
        positives += [Example(t[:max_chars], "clean", "positive", s, i) for i, t, s in spare[:k]]
        spare = spare[k:]
    real = sorted((r for r in rejected if r[3] in NOISE_REASONS), key=lambda r: r[0])
    rng.shuffle(real)
    negatives = [
        Example(t[:max_chars], "noisy", f"real:{why}", s, i) for i, t, s, why in real[: len(positives)]
    ]
    kinds = sorted(CORRUPTIONS)
    for j, (i, t, s) in enumerate(spare):
        if len(negatives) >= len(positives):
            break
        kind = kinds[j % len(kinds)]
        negatives.append(
            Example(corrupt(t[:max_chars], kind, rng)[:max_chars], "noisy", f"synthetic:{kind}", s, i)
        )
    examples = positives + negatives
    rng.shuffle(examples)
    return examples


def split_heldout(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Held-out part stratified by label; a document never appears on both sides."""
    rng = random.Random(seed + 1)
    train, held = [], []
    for label in ("clean", "noisy"):
        part = [e for e in examples if e.label == label]
        rng.shuffle(part)
        k = int(round(len(part) * fraction))
        held += part[:k]
        train += part[k:]
    held_ids = {e.doc_id for e in held}
    train = [e for e in train if e.doc_id not in held_ids]
    return train, held
