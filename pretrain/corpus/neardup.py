"""Near-dedup (SimHash) as datatrove stages that scale out, in the shape of datatrove's MinHash dedup.

1. signatures, per input shard (`DedupSignatures` in dedup.py, N tasks): md5 + 64-bit SimHash per
   document in `sigs/<task>.npz`, and for each of the `hamming + 1` bands of the SimHash a bucket file
   `buckets/<band>/<task>.npz` (band value, SimHash, corpus order), sorted (`write_band_files`);
2. candidate pairs per bucket (`NearDupPairs`, N tasks): the work is cut into `bands x bucket_parts`
   units (one band, the band values with `value % bucket_parts == part`); task r takes the units
   u = r, r + N, ...; in each unit, SimHashes that agree on the band and differ in at most `hamming`
   bits make a pair (pigeonhole: a pair within k bits agrees on at least one of k + 1 bands);
   `pairs/<task>.npy` holds (order, order) edges;
3. clusters (`NearDupClusters`, one task): exact duplicates share an md5 (the first occurrence in
   corpus order stays); union-find over the pairs among the other documents; in each cluster the
   document first in corpus order stays. Writes `drop.npz` and `report.json`;
4. filter per shard (`DedupFilter` in dedup.py, N tasks): drop reasons exact_duplicate / near_duplicate.

The pairs and therefore the clusters are a function of the signatures only, so the result does not
depend on the number of tasks of any stage (tested with 1, 2 and 4 against `find_duplicates`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from weprompt.common.atomic import atomic_open, atomic_write_text
from weprompt.pretrain.corpus.dedup import (
    DROP_FILE,
    EMPTY_PAIRS,
    EXACT,
    NEAR,
    REPORT_FILE,
    band_masks,
    band_pairs,
    cluster_roots,
)


def unit_pairs(sims: np.ndarray, order: np.ndarray, shift: int, mask: int, hamming: int, links: bool):
    """(order, order) edges of one unit. Identical SimHashes are collapsed first (a large group of one
    fingerprint costs nothing); with `links`, each document is also tied to the first of its SimHash."""
    uniq, inv = np.unique(sims, return_inverse=True)
    inv = inv.reshape(-1)
    first = np.full(len(uniq), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inv, order)
    pairs = band_pairs(uniq, shift, mask, hamming)
    edges = [first[pairs]] if len(pairs) else []
    if links:
        same = order != first[inv]
        edges.append(np.stack([first[inv][same], order[same]], axis=1))
    if not edges:
        return EMPTY_PAIRS
    e = np.concatenate(edges)
    return np.stack([e.min(axis=1), e.max(axis=1)], axis=1)


class NearDupPairs(PipelineStep):
    """N tasks: candidate pairs of the units (band, part) this task owns -> `<pairs_dir>/<rank>.npy`."""

    name = "neardup_pairs"
    type = "WePrompt"

    def __init__(self, buckets_dir: str, pairs_dir: str, hamming: int, bucket_parts: int):
        super().__init__()
        self.buckets_dir, self.pairs_dir = buckets_dir, pairs_dir
        self.hamming, self.bucket_parts = hamming, bucket_parts

    def pairs_for(self, rank: int, world_size: int) -> np.ndarray:
        found = [EMPTY_PAIRS]
        for b, (shift, mask) in enumerate(band_masks(self.hamming)):
            parts = [p for p in range(self.bucket_parts) if (b * self.bucket_parts + p) % world_size == rank]
            if not parts:
                continue
            files = sorted((Path(self.buckets_dir) / f"{b:02d}").glob("*.npz"))
            loaded = [np.load(f) for f in files]
            value = np.concatenate([z["value"] for z in loaded]) if loaded else np.zeros(0, np.uint64)
            sims = np.concatenate([z["simhash"] for z in loaded]) if loaded else np.zeros(0, np.uint64)
            order = np.concatenate([z["order"] for z in loaded]) if loaded else np.zeros(0, np.int64)
            part_of = value % np.uint64(self.bucket_parts)
            for p in parts:
                sel = part_of == np.uint64(p)
                found.append(unit_pairs(sims[sel], order[sel], shift, mask, self.hamming, links=b == 0))
                self.stat_update("units")
        return np.unique(np.concatenate(found), axis=0)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        with self.track_time():
            pairs = self.pairs_for(rank, world_size)
            self.stat_update("pairs", value=len(pairs))
            with atomic_open(Path(self.pairs_dir) / f"{rank:05d}.npy", "wb") as f:
                np.save(f, pairs)


def decide_drops(order, md5, has_sim, pairs: np.ndarray, exact: bool, near: bool) -> dict:
    """Reason per document (corpus order) from signatures and near-duplicate edges (orders)."""
    srt = np.argsort(order, kind="stable")
    order, md5, has_sim = order[srt], md5[srt], has_sim[srt]
    n = len(order)
    reason = np.zeros(n, dtype=np.int8)
    rep = np.arange(n)  # each document's exact-duplicate representative (the first with its md5)
    if exact and n:
        by_md5 = np.lexsort((np.arange(n), md5))
        m = md5[by_md5]
        start = np.ones(n, dtype=bool)
        start[1:] = m[1:] != m[:-1]
        reason[by_md5[~start]] = EXACT
        rep[by_md5] = by_md5[np.flatnonzero(start)][np.cumsum(start) - 1]
    kept_for = EMPTY_PAIRS
    if near and n and len(pairs):
        # Orders -> positions (every order has a signature), then exact duplicates -> their
        # representative: an edge through a dropped exact duplicate still joins (MinHash's pairs are
        # chains of equal bucket signatures, so cutting them would depend on the task split).
        idx = rep[np.searchsorted(order, pairs)]
        cand = (reason == 0) & has_sim
        idx = idx[cand[idx[:, 0]] & cand[idx[:, 1]] & (idx[:, 0] != idx[:, 1])]
        roots = cluster_roots(n, idx)
        drop = np.flatnonzero(cand & (roots != np.arange(n)))
        reason[drop] = NEAR
        kept_for = np.stack([order[roots[drop]], order[drop]], axis=1) if len(drop) else EMPTY_PAIRS
    return {"order": order, "reason": reason, "near_pairs": kept_for}


class NearDupClusters(PipelineStep):
    """One task: exact groups + union-find over the pairs -> drop.npz and report.json."""

    name = "neardup_clusters"
    type = "WePrompt"

    def __init__(
        self,
        sig_dir: str,
        pairs_dir: str,
        out_dir: str,
        exact: bool,
        near: bool,
        minhash_dirs: tuple[str, str] | None = None,
    ):
        super().__init__()
        self.sig_dir, self.pairs_dir, self.out_dir = sig_dir, pairs_dir, out_dir
        self.exact, self.near = exact, near
        self.minhash_dirs = minhash_dirs  # (datatrove bucket output, orders): method minhash

    def load_pairs(self, n_docs: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Near-duplicate edges, and for MinHash "every document may pair" (its signatures decide)."""
        if not self.near:
            return EMPTY_PAIRS, None
        if self.minhash_dirs:
            from weprompt.pretrain.corpus.minhash import minhash_edges

            return minhash_edges(*self.minhash_dirs), np.ones(n_docs, dtype=bool)
        files = sorted(Path(self.pairs_dir).glob("*.npy"))
        return np.concatenate([EMPTY_PAIRS, *(np.load(f) for f in files)]), None

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        t0 = time.perf_counter()
        sigs = [np.load(f) for f in sorted(Path(self.sig_dir).glob("*.npz"))]
        cat = {
            k: np.concatenate([z[k] for z in sigs]) if sigs else np.zeros(0, dt)
            for k, dt in (("order", np.int64), ("md5", "S16"), ("has_simhash", bool))
        }
        pairs, may_pair = self.load_pairs(len(cat["order"]))
        has = cat["has_simhash"] if may_pair is None else may_pair
        res = decide_drops(cat["order"], cat["md5"], has, pairs, self.exact, self.near)
        drop = res["reason"] > 0
        with atomic_open(Path(self.out_dir) / DROP_FILE, "wb") as f:
            np.savez(f, order=res["order"][drop], reason=res["reason"][drop])
        report = {
            "documents": int(len(res["order"])),
            "with_simhash": int(cat["has_simhash"].sum()),
            "candidate_pairs": int(len(np.unique(pairs, axis=0))),
            "exact_duplicate": int((res["reason"] == EXACT).sum()),
            "near_duplicate": int((res["reason"] == NEAR).sum()),
            # (kept order, dropped order) of the first near-duplicate drops, for inspection.
            "near_pair_examples": res["near_pairs"][:50].tolist(),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        atomic_write_text(Path(self.out_dir) / REPORT_FILE, json.dumps(report, indent=1) + "\n")
