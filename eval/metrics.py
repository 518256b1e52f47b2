"""Chinese-aware metrics, all on a 0-100 scale.

Segmentation follows the CMRC2018 official script (`cmrc2018_evaluate.py`): text is lower-cased, each
CJK character is one segment, runs of other characters (Latin, digits) are whole words, punctuation is
stripped. Where we differ, on purpose and symmetrically for prediction and reference:
- NFKC first, so full-width Latin/digits/punctuation equal their half-width forms;
- every Unicode punctuation or symbol character is stripped (the official list is a subset);
- whitespace is never a segment, also for exact match (the official EM keeps spaces, which punishes
  the word-segmented documents of CMRC2017/CFT);
- CJK means all Unified Ideographs blocks (with extensions), kana and hangul, not only U+4E00-U+9FA5.

F1 is the official one: precision and recall of the longest common *substring* of segments; both F1
and exact match take the maximum over references. ROUGE-1 / ROUGE-L (F-measure) run on the same
segments — `rouge-score` would drop every non-ASCII character and give Chinese 0. BLEU is sacrebleu's
corpus BLEU with its `zh` tokenizer, which splits Chinese characters itself.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence

_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff\U00030000-\U0003134f]"
)


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "PS"


def segments(text: str) -> list[str]:
    """CMRC2018-style mixed segmentation with punctuation stripped (see the module docstring)."""
    text = unicodedata.normalize("NFKC", str(text)).lower().strip()
    out: list[str] = []
    word: list[str] = []

    def flush() -> None:
        if word:
            out.extend("".join(word).split())
            word.clear()

    for ch in text:
        if _is_punct(ch):
            continue  # removed, as the official rm_punc: the neighbours join
        if _CJK.match(ch):
            flush()
            out.append(ch)
        elif ch.isspace():
            flush()
        else:
            word.append(ch)
    flush()
    return out


def normalize(text: str) -> str:
    """The segments joined: the form exact match and the passage check compare."""
    return "".join(segments(text))


def _longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
                if cur[j + 1] > best:
                    best = cur[j + 1]
        prev = cur
    return best


def _longest_common_subsequence(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            cur[j + 1] = prev[j] + 1 if x == y else max(prev[j + 1], cur[j])
        prev = cur
    return prev[-1]


def _f(p_num: float, p_den: float, r_den: float) -> float:
    if p_num == 0 or p_den == 0 or r_den == 0:
        return 0.0
    p, r = p_num / p_den, p_num / r_den
    return 2 * p * r / (p + r)


def _refs(references: str | Sequence[str]) -> list[str]:
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("no reference to score against")
    return refs


def f1_score(prediction: str, references: str | Sequence[str]) -> float:
    """CMRC2018 F1 of one prediction (0-1): longest common substring of segments, max over references."""
    pred = segments(prediction)
    best = 0.0
    for ref in _refs(references):
        gold = segments(ref)
        best = max(best, _f(_longest_common_substring(gold, pred), len(pred), len(gold)))
    return best


def exact_match_score(prediction: str, references: str | Sequence[str]) -> float:
    pred = segments(prediction)
    return float(any(segments(ref) == pred for ref in _refs(references)))


def rouge_1_score(prediction: str, references: str | Sequence[str]) -> float:
    pred = Counter(segments(prediction))
    n_pred = sum(pred.values())
    best = 0.0
    for ref in _refs(references):
        gold = Counter(segments(ref))
        overlap = sum((pred & gold).values())
        best = max(best, _f(overlap, n_pred, sum(gold.values())))
    return best


def rouge_l_score(prediction: str, references: str | Sequence[str]) -> float:
    pred = segments(prediction)
    best = 0.0
    for ref in _refs(references):
        gold = segments(ref)
        best = max(best, _f(_longest_common_subsequence(pred, gold), len(pred), len(gold)))
    return best


def bleu(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Corpus BLEU (sacrebleu, `zh` tokenizer); examples may have different numbers of references."""
    from sacrebleu.metrics import BLEU

    if not predictions:
        return 0.0
    refs = [_refs(r) for r in references]
    width = max(len(r) for r in refs)
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    # sacrebleu takes None for a missing reference in a stream (examples with fewer references), though
    # its annotation says Sequence[Sequence[str]].
    return float(BLEU(tokenize="zh").corpus_score(list(predictions), streams).score)  # type: ignore[arg-type]


def _mean(values: Sequence[float]) -> float:
    return 100.0 * sum(values) / len(values) if values else 0.0


def _per_example(fn: Callable[[str, Sequence[str]], float]):
    def corpus(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
        return _mean([fn(p, r) for p, r in zip(predictions, references, strict=True)])

    return corpus


def accuracy(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    return _mean([float(p in _refs(r)) for p, r in zip(predictions, references, strict=True)])


def macro_f1(predictions: Sequence[str], references: Sequence[Sequence[str]]) -> float:
    """Macro F1 over the gold classes (single-reference classification)."""
    gold = [_refs(r)[0] for r in references]
    scores = []
    for c in sorted(set(gold)):
        tp = sum(p == c and g == c for p, g in zip(predictions, gold, strict=True))
        scores.append(_f(tp, sum(p == c for p in predictions), sum(g == c for g in gold)))
    return _mean(scores)


# Corpus metrics by catalog id: (predictions, references per example) -> score on 0-100.
METRICS: dict[str, Callable[[Sequence[str], Sequence[Sequence[str]]], float]] = {
    "accuracy": accuracy,
    "macro_f1": macro_f1,
    "f1": _per_example(f1_score),
    "exact_match": _per_example(exact_match_score),
    "rouge_1": _per_example(rouge_1_score),
    "rouge_l": _per_example(rouge_l_score),
    "bleu": bleu,
}
GENERATION_METRICS = ("f1", "exact_match", "rouge_1", "rouge_l", "bleu")


def compute(names: Sequence[str], predictions: Sequence[str], references: Sequence[Sequence[str]]) -> dict:
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise KeyError(f"unknown metric '{unknown[0]}'; known: {', '.join(METRICS)}")
    return {n: METRICS[n](predictions, references) for n in names}


# ---------------------------------------------------------------------------------------------
# Out-of-scope answers (generation). Rank tasks have none by construction.

EXTRACTIVE_TYPES = frozenset({"extractive_qa", "cloze_generation"})


def _leading_answer(text: str) -> str:
    """The answer's first piece: leading blanks and punctuation skipped, then up to the next one."""
    out: list[str] = []
    for ch in text:
        stop = ch.isspace() or unicodedata.category(ch).startswith("P")
        if stop and out:
            break
        if not stop:
            out.append(ch)
    return "".join(out)


def outside_choices(prediction: str, choices: Sequence[str]) -> bool:
    """An open (generated) answer to a classification prompt that names none of its answer choices.

    In scope: the normalised answer, or its first piece up to a blank or punctuation mark, equals a
    normalised choice ("矛盾。因为……" and "A. 因为" name a choice; "蕴含关系" and "10" for choice "1" do
    not). Used by the scope probe (eval option `scope_probe`)."""
    wanted = {normalize(x) for x in choices} - {""}
    return not ({normalize(prediction), normalize(_leading_answer(prediction))} & wanted)


def out_of_scope(prediction: str, task_type: str, passage: str | None) -> bool:
    """An answer the task's format rules out.

    Every task: an empty answer (nothing left after stripping punctuation and blanks). Extractive
    reading comprehension and cloze (the answer is a span or word of the passage): also an answer
    that is not a substring of the passage, both normalised as for exact match.
    """
    pred = normalize(prediction)
    if not pred:
        return True
    if task_type in EXTRACTIVE_TYPES and passage is not None:
        return pred not in normalize(passage)
    return False
