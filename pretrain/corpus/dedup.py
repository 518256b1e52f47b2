"""Exact and near deduplication (WeLM §2): signatures, the single-process reference, the filter.

- `DedupSignatures` (parallel, pass-through): per document, the md5 of the text with every blank and
  punctuation character removed, and a 64-bit SimHash over character shingles of that same text
  (Chinese has no whitespace words). One .npz of signatures per task, plus the band files that the
  staged near-dedup (pretrain/corpus/neardup.py: pairs per bucket, then clusters) reads.
- `find_duplicates`: the same decision in one process (exact groups share an md5; near duplicates are
  SimHash pairs within `hamming` bits, found by the pigeonhole trick, joined with union-find; the first
  document in corpus order stays). The staged version is tested against it; the eval set uses it.
- `DedupFilter` (parallel): drops listed documents with reason exact_duplicate / near_duplicate.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
from datatrove.data import Document, DocumentsPipeline

from weprompt.common.atomic import atomic_open
from weprompt.pretrain.corpus.base import CountedStep, DocFilter
from weprompt.pretrain.corpus.text import codepoints, simhash, strip_blank_punct

EXACT, NEAR = 1, 2
REASONS = {EXACT: "exact_duplicate", NEAR: "near_duplicate"}
DROP_FILE = "drop.npz"
REPORT_FILE = "report.json"
EMPTY_PAIRS = np.empty((0, 2), dtype=np.int64)


def md5_key(text: str) -> bytes:
    return hashlib.md5(strip_blank_punct(text).encode("utf-8")).digest()


def doc_simhash(text: str, shingle: int, min_chars: int) -> int | None:
    norm = strip_blank_punct(text)
    if len(norm) < min_chars:
        return None
    return simhash(codepoints(norm), shingle)


class DedupSignatures(CountedStep):
    """Pass-through step writing `<sig_dir>/<rank>.npz` (order, md5, simhash, has_simhash) and, with
    `buckets_dir`, the SimHash band files of the staged near-dedup (pretrain/corpus/neardup.py)."""

    name = "dedup_signatures"

    def __init__(
        self,
        sig_dir: str,
        shingle: int,
        min_chars: int,
        near: bool = True,
        stats_dir=None,
        buckets_dir: str | None = None,
        hamming: int = 8,
    ):
        super().__init__(stats_dir)
        self.sig_dir, self.shingle, self.min_chars, self.near = sig_dir, shingle, min_chars, near
        self.buckets_dir, self.hamming = buckets_dir, hamming

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        orders, md5s, sims, has = [], [], [], []
        for doc in data:
            t0 = time.perf_counter()
            norm = strip_blank_punct(doc.text)
            md5s.append(hashlib.md5(norm.encode("utf-8")).digest())
            sh = (
                simhash(codepoints(norm), self.shingle) if self.near and len(norm) >= self.min_chars else None
            )
            orders.append(doc.metadata["order"])
            sims.append(sh or 0)
            has.append(sh is not None)
            self.seconds += time.perf_counter() - t0
            self.record(doc, None)
            yield doc
        with atomic_open(Path(self.sig_dir) / f"{rank:05d}.npz", "wb") as f:
            np.savez(
                f,
                order=np.asarray(orders, dtype=np.int64),
                md5=np.asarray(md5s, dtype="S16"),
                simhash=np.asarray(sims, dtype=np.uint64),
                has_simhash=np.asarray(has, dtype=bool),
            )
        if self.near and self.buckets_dir:
            write_band_files(self.buckets_dir, rank, orders, sims, np.asarray(has, bool), self.hamming)
        self.save_counts(rank)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = np.arange(n)

    def find(self, x: int) -> int:
        p = self.parent
        root = x
        while p[root] != root:
            root = p[root]
        while p[x] != root:
            p[x], x = root, p[x]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller index (earlier document) becomes the root
            self.parent[max(ra, rb)] = min(ra, rb)


def band_masks(hamming: int) -> list[tuple[int, int]]:
    """(shift, mask) of hamming+1 bands covering 64 bits as evenly as possible."""
    k = hamming + 1
    sizes = [64 // k + (1 if i < 64 % k else 0) for i in range(k)]
    out, shift = [], 0
    for s in sizes:
        out.append((shift, (1 << s) - 1))
        shift += s
    return out


def band_pairs(sims: np.ndarray, shift: int, mask: int, hamming: int) -> np.ndarray:
    """Index pairs (i < j) that agree on one band of bits and differ in at most `hamming` bits."""
    n = len(sims)
    found = []
    band = (sims >> np.uint64(shift)) & np.uint64(mask)
    order = np.argsort(band, kind="stable")
    b = band[order]
    d = 1
    while d < n:
        same = b[d:] == b[:-d]
        if not same.any():
            break
        i, j = order[:-d][same], order[d:][same]
        close = np.bitwise_count(sims[i] ^ sims[j]) <= hamming
        if close.any():
            found.append(np.stack([np.minimum(i, j)[close], np.maximum(i, j)[close]], axis=1))
        d += 1
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


def near_pairs(sims: np.ndarray, hamming: int) -> np.ndarray:
    """All index pairs (i < j) whose 64-bit SimHashes differ in at most `hamming` bits, shape (p, 2)."""
    if len(sims) < 2:
        return np.empty((0, 2), dtype=np.int64)
    found = [band_pairs(sims, shift, mask, hamming) for shift, mask in band_masks(hamming)]
    return np.unique(np.concatenate(found), axis=0)


def write_band_files(buckets_dir: str | Path, rank: int, order, sims, has, hamming: int) -> None:
    """One file per band for this task: documents with a SimHash, sorted by (band value, SimHash, order)."""
    order, sims = np.asarray(order, np.int64)[has], np.asarray(sims, np.uint64)[has]
    for b, (shift, mask) in enumerate(band_masks(hamming)):
        value = (sims >> np.uint64(shift)) & np.uint64(mask)
        srt = np.lexsort((order, sims, value))
        with atomic_open(Path(buckets_dir) / f"{b:02d}" / f"{rank:05d}.npz", "wb") as f:
            np.savez(f, value=value[srt], simhash=sims[srt], order=order[srt])


def cluster_roots(n: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over index pairs; each index's root is the smallest index of its cluster."""
    uf = _UnionFind(n)
    for a, b in pairs:
        uf.union(int(a), int(b))
    return np.fromiter((uf.find(i) for i in range(n)), dtype=np.int64, count=n)


def near_duplicate_clusters(sims: np.ndarray, hamming: int) -> np.ndarray:
    """Cluster label per document (SimHash pairs within `hamming` bits, transitively joined).

    Identical SimHashes are collapsed first, so a large group of the same fingerprint costs nothing.
    """
    uniq, inv = np.unique(sims, return_inverse=True)
    roots = cluster_roots(len(uniq), near_pairs(uniq, hamming))
    return roots[inv.reshape(-1)]


def find_duplicates(order, md5, sims, has_sim, hamming: int, exact: bool = True, near: bool = True) -> dict:
    """Decide drops from per-document signature arrays (any order).

    Returns the documents' orders sorted, a reason code per document (0 keep, EXACT, NEAR) and, for each
    near-duplicate drop, the order of the document kept in its place.
    """
    sort = np.argsort(order, kind="stable")  # corpus order: the first occurrence stays
    order, md5, sims, has_sim = order[sort], md5[sort], sims[sort], has_sim[sort]
    n = len(order)
    reason = np.zeros(n, dtype=np.int8)
    if exact and n:
        by_md5 = np.lexsort((np.arange(n), md5))
        m = md5[by_md5]
        dup = np.zeros(n, dtype=bool)
        dup[1:] = m[1:] == m[:-1]
        reason[by_md5[dup]] = EXACT
    kept_for = np.empty((0, 2), dtype=np.int64)
    if near and n:
        cand = np.flatnonzero((reason == 0) & has_sim)
        if len(cand):
            label = near_duplicate_clusters(sims[cand], hamming)
            _, first = np.unique(label, return_index=True)  # cand is in corpus order
            drop = np.ones(len(cand), dtype=bool)
            drop[first] = False
            reason[cand[drop]] = NEAR
            leader = dict(zip(label[first].tolist(), cand[first].tolist(), strict=True))
            kept_for = np.array(
                [[order[leader[int(lab)]], order[c]] for lab, c in zip(label[drop], cand[drop], strict=True)],
                dtype=np.int64,
            ).reshape(-1, 2)
    return {"order": order, "reason": reason, "near_pairs": kept_for}


class DedupFilter(DocFilter):
    """Drop reasons: exact_duplicate, near_duplicate (from the finder's drop list)."""

    name = "dedup"

    def __init__(self, drop_file: str, stats_dir=None):
        super().__init__(stats_dir)
        self.drop_file = drop_file
        self._drops: dict[int, str] | None = None

    def decide(self, doc: Document) -> str | None:
        if self._drops is None:
            z = np.load(self.drop_file)
            self._drops = {int(o): REASONS[int(r)] for o, r in zip(z["order"], z["reason"], strict=True)}
        return self._drops.get(doc.metadata["order"])
