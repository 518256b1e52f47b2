"""datatrove's own MinHash dedup (signatures -> buckets -> clusters -> filter) on Chinese character
shingles: the alternative near-dedup method (`dedup.method: minhash`).

Only the shingling is ours: datatrove splits text into words with a language's word tokenizer, which
Chinese does not have in our dependencies and which would hide most edits anyway; here a shingle is
`n` consecutive characters of the text with blanks and punctuation removed (as for SimHash and md5).
Signatures and buckets (the stages that scale out) are datatrove's; the candidate pairs its bucket
stage writes go to our union-find (`minhash_edges` -> neardup.NearDupClusters), which keeps the
document first in corpus order, and the drops go through the same filter as SimHash's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
from datatrove.utils.hashing import HashConfig
from datatrove.utils.word_tokenizers import WordTokenizer

from weprompt.common.atomic import atomic_open
from weprompt.pretrain.corpus.config import DedupConfig
from weprompt.pretrain.corpus.text import codepoints, ngram_hashes, strip_blank_punct


def minhash_config(d: DedupConfig) -> MinhashConfig:
    # Shingles are hashed by us (64-bit), so datatrove's own hash function is never called: sha1 only
    # keeps HashConfig from requiring xxhash.
    return MinhashConfig(
        n_grams=d.minhash_ngram,
        num_buckets=d.minhash_buckets,
        hashes_per_bucket=d.minhash_hashes_per_bucket,
        seed=d.minhash_seed,
        hash_config=HashConfig(precision=64, hash_fc="sha1"),
    )


class CharTokenizer(WordTokenizer):
    """Characters of the text without blanks and punctuation: the "words" of a Chinese shingle."""

    def word_tokenize(self, text: str) -> list[str]:
        return list(strip_blank_punct(text))

    def sent_tokenize(self, text: str) -> list[str]:
        return [text]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [(0, len(text))]


class ZhMinhashSignature(MinhashDedupSignature):
    """MinhashDedupSignature with character n-gram shingles; texts under `min_chars` get no signature."""

    name = "minhash_signature_zh"

    def __init__(self, output_folder: str, config: MinhashConfig, min_chars: int, orders_dir: str = ""):
        super().__init__(output_folder, config, language=CharTokenizer())
        self.min_chars, self.orders_dir = min_chars, orders_dir

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1):
        """datatrove's signature step; also keeps each document index's corpus order (`orders_dir`)."""
        orders: list[int] = []

        def tap():
            for doc in data:
                orders.append(doc.metadata.get("order", len(orders)))
                yield doc

        result = super().run(tap(), rank, world_size)
        for _ in result or ():
            pass
        if self.orders_dir:
            with atomic_open(Path(self.orders_dir) / f"{rank:05d}.npy", "wb") as f:
                np.save(f, np.asarray(orders, dtype=np.int64))
        return
        yield  # a terminal step, as datatrove's

    def get_shingles(self, text: str) -> np.ndarray:
        # The same shingles as datatrove's (n-grams of CharTokenizer's words), hashed in one numpy pass.
        norm = strip_blank_punct(text)
        if len(norm) < max(self.min_chars, self.config.n_grams):
            return np.empty((0, 1), dtype=np.uint64)
        return np.unique(ngram_hashes(codepoints(norm), self.config.n_grams)).reshape(-1, 1)


def minhash_edges(buckets_dir: str | Path, orders_dir: str | Path) -> np.ndarray:
    """(order, order) edges from datatrove's `.dups` files ((task, index) pairs as "<4I").

    datatrove's own MinhashDedupCluster keeps a cluster's root by union order and size, which depends
    on how documents were split into tasks; the edges go to our union-find instead, which keeps the
    document first in corpus order, so the result is the same for any number of tasks."""
    orders: dict[int, np.ndarray] = {}
    edges = [np.empty((0, 2), dtype=np.int64)]
    for f in sorted(Path(buckets_dir).rglob("*.dups")):
        t = np.frombuffer(f.read_bytes(), dtype="<u4").reshape(-1, 4).astype(np.int64)
        if not len(t):
            continue
        a, b = (_to_order(t[:, c], t[:, c + 1], orders, Path(orders_dir)) for c in (0, 2))
        edges.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.unique(np.concatenate(edges), axis=0)


def _to_order(task: np.ndarray, index: np.ndarray, orders: dict[int, np.ndarray], orders_dir: Path):
    """Corpus order of each (task, document index), loading a task's order table once."""
    out = np.empty(len(task), dtype=np.int64)
    for k in np.unique(task).tolist():
        if k not in orders:
            orders[k] = np.load(orders_dir / f"{k:05d}.npy")
        sel = task == k
        out[sel] = orders[k][index[sel]]
    return out
