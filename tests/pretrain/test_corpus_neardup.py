"""Staged near-dedup (signatures per shard -> bucket files -> pairs per bucket part -> union-find ->
filter): the drop list is the same with 1, 2 and 4 tasks, and equals the one-process reference."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datatrove.data import Document

from weprompt.pretrain.corpus.dedup import DROP_FILE, DedupSignatures, find_duplicates
from weprompt.pretrain.corpus.neardup import NearDupClusters, NearDupPairs
from weprompt.pretrain.corpus.neardup_eval import EDITS


@pytest.fixture(scope="module")
def slice_docs(corpus_docs) -> list[Document]:
    """Real documents (poems, novel chapters, forum posts, news) plus edited copies and exact repeats."""
    rows = (
        corpus_docs("books/chinese_poetry_classical", 300)
        + corpus_docs("books/four_classic_novels", 8)
        + corpus_docs("forums/medical_qa_forum", 80)
        + corpus_docs("news/sogou_news_samples", 40)
    )
    texts = [r["text"] for r in rows]
    rng = random.Random(0)
    long = [t for t in texts if len(t) > 300]
    for k, t in enumerate(long[:40]):  # near duplicates of known kinds, appended in corpus order
        texts.append(EDITS[sorted(EDITS)[k % len(EDITS)]](t, rng, 0.05))
    texts += texts[:5]  # exact repeats
    texts += long[:10]  # exact repeats of documents that also have an edited copy (chains through them)
    order = list(range(len(texts)))
    rng.shuffle(order)  # corpus order is not the list order: the first in corpus order must stay
    return [
        Document(text=t, id=f"d{i}", metadata={"order": o})
        for i, (t, o) in enumerate(zip(texts, order, strict=True))
    ]


def staged_drops(docs: list[Document], root, tasks: int) -> dict[int, int]:
    sigs, buckets, pairs = root / "sigs", root / "buckets", root / "pairs"
    for rank in range(tasks):  # documents are split by line, like the corpus reader
        mine = docs[rank::tasks]
        step = DedupSignatures(str(sigs), 4, 40, buckets_dir=str(buckets), hamming=8)
        assert len(list(step.run(iter(mine), rank=rank, world_size=tasks))) == len(mine)
    for rank in range(tasks):
        list(NearDupPairs(str(buckets), str(pairs), 8, bucket_parts=3).run(None, rank, tasks))
    list(NearDupClusters(str(sigs), str(pairs), str(root), True, True).run(None))
    z = np.load(root / DROP_FILE)
    return dict(zip(z["order"].tolist(), z["reason"].tolist(), strict=True))


def test_same_drops_for_1_2_4_tasks_and_the_reference(slice_docs, tmp_path):
    got = {n: staged_drops(slice_docs, tmp_path / f"n{n}", n) for n in (1, 2, 4)}
    assert got[1] == got[2] == got[4]
    reasons = list(got[1].values())
    assert reasons.count(1) >= 5 and reasons.count(2) >= 10  # exact and near drops both happen
    from weprompt.pretrain.corpus.dedup import doc_simhash, md5_key

    sims = [doc_simhash(d.text, 4, 40) for d in slice_docs]
    ref = find_duplicates(
        np.array([d.metadata["order"] for d in slice_docs], dtype=np.int64),
        np.array([md5_key(d.text) for d in slice_docs], dtype="S16"),
        np.array([s or 0 for s in sims], dtype=np.uint64),
        np.array([s is not None for s in sims]),
        hamming=8,
    )
    keep = ref["reason"] > 0
    assert got[1] == dict(zip(ref["order"][keep].tolist(), ref["reason"][keep].tolist(), strict=True))


def test_pairs_are_split_between_tasks(slice_docs, tmp_path):
    staged_drops(slice_docs, tmp_path, 2)
    a, b = (np.load(tmp_path / "pairs" / f"{r:05d}.npy") for r in (0, 1))
    assert len(a) and len(b)  # both tasks found work: the buckets are really shared out


def expected_edges(docs: list[Document], hamming: int = 8) -> set[tuple[int, int]]:
    """Brute force: every two distinct SimHashes within `hamming` bits (as the first document of each),
    and every later document tied to the first one with its SimHash."""
    from weprompt.pretrain.corpus.dedup import doc_simhash

    first: dict[int, int] = {}
    for d in docs:
        s = doc_simhash(d.text, 4, 40)
        if s is not None:
            first[s] = min(first.get(s, d.metadata["order"]), d.metadata["order"])
    edges = set()
    for d in docs:
        s = doc_simhash(d.text, 4, 40)
        if s is not None and first[s] != d.metadata["order"]:
            edges.add((first[s], d.metadata["order"]))
    uniq = np.array(sorted(first), dtype=np.uint64)
    close = np.bitwise_count(uniq[:, None] ^ uniq[None, :]) <= hamming
    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        a, b = first[int(uniq[i])], first[int(uniq[j])]
        edges.add((min(a, b), max(a, b)))
    return edges


@pytest.mark.parametrize("tasks", [1, 2, 4])
def test_pairs_equal_brute_force(slice_docs, tmp_path, tasks):
    staged_drops(slice_docs, tmp_path, tasks)
    got = np.concatenate([np.load(f) for f in sorted((tmp_path / "pairs").glob("*.npy"))])
    assert {tuple(p) for p in got.tolist()} == expected_edges(slice_docs)


def test_identical_simhashes_are_linked_to_the_first():
    from weprompt.pretrain.corpus.neardup import unit_pairs

    sims = np.array([5, 5, 7, 5], dtype=np.uint64)
    order = np.array([10, 3, 8, 1], dtype=np.int64)
    got = {tuple(p) for p in unit_pairs(sims, order, 8, 0xFF, 1, links=True).tolist()}
    assert got == {(1, 10), (1, 3), (1, 8)}  # 5 and 7: same band (bits 8-15), one bit apart


def minhash_drops(docs: list[Document], root, tasks: int) -> dict[int, int]:
    """datatrove's MinHash signatures (per task) and buckets (one task a bucket), our union-find."""
    from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

    from weprompt.pretrain.corpus.config import DedupConfig
    from weprompt.pretrain.corpus.minhash import ZhMinhashSignature, minhash_config

    cfg = minhash_config(DedupConfig())
    sigs, mh = root / "sigs", root / "minhash"
    for rank in range(tasks):
        mine = docs[rank::tasks]
        list(DedupSignatures(str(sigs), 4, 40, near=False).run(iter(mine), rank=rank, world_size=tasks))
        step = ZhMinhashSignature(str(mh / "sigs"), cfg, 40, str(mh / "orders"))
        list(step.run(iter(mine), rank, tasks))
    for bucket in range(cfg.num_buckets):
        MinhashDedupBuckets(str(mh / "sigs"), str(mh / "buckets"), config=cfg).run(
            None, bucket, cfg.num_buckets
        )
    dirs = (str(mh / "buckets"), str(mh / "orders"))
    list(NearDupClusters(str(sigs), "", str(root), True, True, minhash_dirs=dirs).run(None))
    z = np.load(root / DROP_FILE)
    return dict(zip(z["order"].tolist(), z["reason"].tolist(), strict=True))


def test_minhash_same_drops_for_1_2_4_tasks(slice_docs, tmp_path):
    got = {n: minhash_drops(slice_docs, tmp_path / f"n{n}", n) for n in (1, 2, 4)}
    assert got[1] == got[2] == got[4]
    reasons = list(got[1].values())
    assert reasons.count(1) >= 5 and reasons.count(2) >= 10
    # every kept document is the first of its cluster in corpus order: no dropped one comes before it
    simhash_drops = staged_drops(slice_docs, tmp_path / "simhash", 1)
    assert {o for o, r in got[1].items() if r == 1} == {o for o, r in simhash_drops.items() if r == 1}
