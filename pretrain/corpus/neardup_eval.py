"""A labelled near-duplicate set made from the corpus with known edits, and SimHash / MinHash P/R/F1 on it.

Each original (a real document with at least `min_chars` characters) gets one edited copy of a known
kind, changing about `rate` (default 5 %) of its characters: `insert` (phrase-sized spans of 5-20
characters copied from elsewhere in the document, at random places), `delete` (random 5-20 character
spans removed), `punct` (punctuation swapped between full and half width, or dropped), `swap` (two
paragraphs or lines exchanged), `mixed` (a little of each). The edited copies are mixed into a pool of
other real documents (distractors), and dedup runs on the whole pool exactly as in the pipeline.

Truth of a pair: an original and its edited copy are duplicates by construction; any other pair (the
corpus has natural near-duplicates, e.g. one poem in two collections) is a duplicate when the exact
Jaccard similarity of its character 3-gram sets is at least `jaccard_true` (0.7). Precision is over
every predicted pair (two documents in one cluster), recall over the known original/copy pairs.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weprompt.pretrain.corpus.config import DedupConfig
from weprompt.pretrain.corpus.dedup import near_duplicate_clusters
from weprompt.pretrain.corpus.text import MOJIBAKE_RE, codepoints, ngram_hashes, simhash, strip_blank_punct

KINDS = ("insert", "delete", "punct", "swap", "mixed")
PUNCT_SWAP = {
    "，": ",",
    "。": ".",
    "：": ":",
    "；": ";",
    "！": "!",
    "？": "?",
    ",": "，",
    ".": "。",
    "、": ",",
}


def _insert(text: str, rng: random.Random, rate: float) -> str:
    # Phrase-sized spans (5-20 characters, copied from elsewhere in the document) at random places,
    # `rate` of the length in all: the size of an added clause or sentence, not scattered letters.
    budget = max(1, int(len(text) * rate))
    while budget > 0:
        n = min(budget, rng.randint(5, 20))
        src = rng.randrange(max(1, len(text) - n))
        at = rng.randrange(len(text) + 1)
        text = text[:at] + text[src : src + n] + text[at:]
        budget -= n
    return text


def _delete(text: str, rng: random.Random, rate: float) -> str:
    budget = max(1, int(len(text) * rate))
    while budget > 0 and len(text) > 1:
        n = min(budget, rng.randint(5, 20), len(text) - 1)
        at = rng.randrange(len(text) - n + 1)
        text = text[:at] + text[at + n :]
        budget -= n
    return text


def _punct(text: str, rng: random.Random, rate: float) -> str:
    out = []
    for ch in text:
        if ch in PUNCT_SWAP and rng.random() < 0.7:
            out.append(PUNCT_SWAP[ch] if rng.random() < 0.7 else "")
        else:
            out.append(ch)
    return "".join(out)


def _swap(text: str, rng: random.Random, rate: float) -> str:
    parts = text.split("\n")
    if len(parts) < 2:  # one paragraph: swap two sentence-sized halves
        cut = rng.randrange(1, max(2, len(text)))
        return text[cut:] + text[:cut]
    i, j = rng.sample(range(len(parts)), 2)
    parts[i], parts[j] = parts[j], parts[i]
    return "\n".join(parts)


def _mixed(text: str, rng: random.Random, rate: float) -> str:
    return _swap(_punct(_delete(_insert(text, rng, rate / 2), rng, rate / 2), rng, rate), rng, rate)


EDITS = {"insert": _insert, "delete": _delete, "punct": _punct, "swap": _swap, "mixed": _mixed}


@dataclass
class EvalSet:
    texts: list[str]
    origin: list[int]  # index of the original for edited copies and originals; -1 for distractors
    kind: list[str]  # "original", "distractor" or the edit kind
    rate: float


def build_eval_set(
    docs: list[str], n_originals: int, n_distractors: int, seed: int, rate: float = 0.05, min_chars: int = 200
) -> EvalSet:
    """Originals (at least `min_chars` normalized characters) and distractors (any length) are disjoint
    real documents, without exact repeats; one edited copy per original. Mojibake documents are left out,
    as the rule filters remove them before dedup runs (their U+FFFD runs all hash alike)."""
    rng = random.Random(seed)
    pool = sorted({d for d in docs if len(MOJIBAKE_RE.findall(d)) <= 5})
    rng.shuffle(pool)
    long_enough = [d for d in pool if len(strip_blank_punct(d)) >= min_chars]
    originals = long_enough[:n_originals]
    chosen = set(originals)
    distractors = [d for d in pool if d not in chosen][:n_distractors]
    texts, origin, kind = [], [], []
    for k, text in enumerate(originals):
        edit = KINDS[k % len(KINDS)]
        texts += [text, EDITS[edit](text, rng, rate)]
        origin += [len(texts) - 2, len(texts) - 2]
        kind += ["original", edit]
    for text in distractors:
        texts.append(text)
        origin.append(-1)
        kind.append("distractor")
    return EvalSet(texts, origin, kind, rate)


def shingle_jaccard(a: str, b: str, n: int = 3) -> float:
    """Exact Jaccard similarity of the character n-gram sets of two normalized texts."""
    sa = set(ngram_hashes(codepoints(strip_blank_punct(a)), n).tolist())
    sb = set(ngram_hashes(codepoints(strip_blank_punct(b)), n).tolist())
    return len(sa & sb) / len(sa | sb) if sa and sb else 0.0


def simhash_labels(es: EvalSet, shingle: int, hamming: int, min_chars: int = 40) -> np.ndarray:
    """SimHash cluster label per text (-1: too short for a SimHash)."""
    sims, has = [], []
    for t in es.texts:
        norm = strip_blank_punct(t)
        ok = len(norm) >= min_chars
        sims.append(simhash(codepoints(norm), shingle) if ok else 0)
        has.append(ok)
    idx = np.flatnonzero(np.asarray(has))
    labels = np.full(len(es.texts), -1, dtype=np.int64)
    labels[idx] = near_duplicate_clusters(np.asarray(sims, dtype=np.uint64)[idx], hamming)
    return labels


def minhash_labels(es: EvalSet, dedup: DedupConfig, work_dir: str | Path) -> np.ndarray:
    """Cluster label per text from datatrove's MinHash stages (our character shingles); -1: no cluster."""
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets, MinhashDedupCluster

    from weprompt.pretrain.corpus.minhash import ZhMinhashSignature, minhash_config

    cfg, w = minhash_config(dedup), Path(work_dir)
    docs = (Document(text=t, id=str(i)) for i, t in enumerate(es.texts))
    _consume(ZhMinhashSignature(str(w / "sigs"), cfg, dedup.min_chars).run(docs, 0, 1))
    for rank in range(cfg.num_buckets):
        _consume(
            MinhashDedupBuckets(str(w / "sigs"), str(w / "buckets"), config=cfg).run(
                None, rank, cfg.num_buckets
            )
        )
    cluster = MinhashDedupCluster(str(w / "buckets"), str(w / "clusters"), config=cfg, save_cluster_id=True)
    _consume(cluster.run(None, 0, 1))
    labels = np.full(len(es.texts), -1, dtype=np.int64)
    f = w / "clusters" / "000000.clusters"
    if f.is_file():
        pairs = np.frombuffer(f.read_bytes(), dtype="<u4").reshape(-1, 2)
        labels[pairs[:, 0]] = pairs[:, 1]
    return labels


def _consume(result) -> None:
    if result is not None:
        for _ in result:
            pass


def evaluate(es: EvalSet, shingle: int, hamming: int, min_chars: int = 40, jaccard_true: float = 0.7) -> dict:
    """SimHash precision, recall and F1 over labelled pairs (see `score_labels`)."""
    res = score_labels(es, simhash_labels(es, shingle, hamming, min_chars), jaccard_true)
    return {"method": "simhash", "shingle": shingle, "hamming": hamming, **res}


def score_labels(es: EvalSet, labels: np.ndarray, jaccard_true: float = 0.7) -> dict:
    """Precision, recall and F1 over labelled pairs; recall per edit kind; unlabelled natural pairs."""
    members: dict[int, list[int]] = defaultdict(list)
    for i in np.flatnonzero(labels != -1).tolist():
        members[int(labels[i])].append(i)
    tp = fp = natural_tp = 0
    for group in members.values():
        for a_pos, a in enumerate(group):
            for b in group[a_pos + 1 :]:
                if es.origin[a] == es.origin[b] != -1:
                    tp += 1
                elif shingle_jaccard(es.texts[a], es.texts[b]) >= jaccard_true:
                    natural_tp += 1
                else:
                    fp += 1
    found: Counter = Counter()
    total: Counter = Counter()
    for i, k in enumerate(es.kind):
        if k in EDITS:
            total[k] += 1
            o = es.origin[i]
            found[k] += int(labels[i] != -1 and labels[i] == labels[o])
    n_true = sum(total.values())
    p = (tp + natural_tp) / (tp + natural_tp + fp) if tp + natural_tp + fp else 0.0
    r = tp / n_true if n_true else 0.0
    return {
        "edit_rate": es.rate,
        "pairs_true": n_true,
        "tp": tp,
        "tp_natural": natural_tp,
        "fp": fp,
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "recall_by_kind": {k: round(found[k] / total[k], 4) for k in sorted(total)},
    }
