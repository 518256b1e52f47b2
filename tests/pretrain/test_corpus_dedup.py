"""Dedup: md5 over text without blanks/punctuation, SimHash clusters over character shingles, first
occurrence kept, exact drop reasons; SimHash precision/recall on the constructed near-dup set."""

from __future__ import annotations

import json

import numpy as np
from datatrove.data import Document

from weprompt.pretrain.corpus.dedup import (
    DedupFilter,
    DedupSignatures,
    band_masks,
    find_duplicates,
    md5_key,
    near_pairs,
)
from weprompt.pretrain.corpus.neardup import NearDupClusters, NearDupPairs
from weprompt.pretrain.corpus.neardup_eval import build_eval_set, evaluate
from weprompt.pretrain.corpus.text import hamming, simhash


def test_md5_ignores_blanks_and_punctuation():
    a = "话说天下大势，分久必合，合久必分。"
    assert md5_key(a) == md5_key("话说 天下大势 分久必合\n合久必分!!")
    assert md5_key(a) != md5_key("话说天下大势，分久必合。")


def test_simhash_is_near_for_edits_far_for_others(synth_texts):
    text = synth_texts[200]  # a chapter of about 4,000 characters
    edited = text[:1000] + "这是新插入的一句话。" + text[1000:]
    assert hamming(simhash(text, 4), simhash(edited, 4)) <= 8
    assert hamming(simhash(text, 4), simhash(synth_texts[201], 4)) > 16


def test_band_masks_cover_64_bits():
    masks = band_masks(8)
    assert len(masks) == 9 and sum(bin(m).count("1") for _, m in masks) == 64


def test_near_pairs_matches_brute_force():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, size=50, dtype=np.uint64)
    flips = np.array([1 << int(b) for b in rng.integers(0, 64, size=50)], dtype=np.uint64)
    sims = np.concatenate([base, base ^ flips, base ^ flips ^ np.uint64(0b111)])
    got = {tuple(p) for p in near_pairs(sims, 3).tolist()}
    want = {(i, j) for i in range(150) for j in range(i + 1, 150) if hamming(int(sims[i]), int(sims[j])) <= 3}
    assert got == want


def test_finder_keeps_first_occurrence(synth_texts):
    a = synth_texts[200][:2000]  # chapter text
    near = a[:500] + "之" + a[500:]
    other = synth_texts[201][:2000]
    texts = {3: a, 1: near, 2: other, 0: a + "。"}  # order -> text; order 0 comes first
    order = np.array(list(texts))
    md5 = np.array([md5_key(t) for t in texts.values()], dtype="S16")
    sims = np.array([simhash(t, 4) for t in texts.values()], dtype=np.uint64)
    res = find_duplicates(order, md5, sims, np.ones(4, bool), hamming=8)
    reasons = dict(zip(res["order"].tolist(), res["reason"].tolist(), strict=True))
    assert reasons == {0: 0, 1: 2, 2: 0, 3: 1}  # 3 exact dup of 0; 1 near dup of 0
    assert res["near_pairs"].tolist() == [[0, 1]]


def test_steps_end_to_end(tmp_path, synth_texts):
    docs = [
        Document(text=t, id=f"d{i}", metadata={"order": i, "source": "books"})
        for i, t in enumerate(synth_texts[200:230])
    ]
    docs.append(
        Document(text=docs[0].text.replace("，", ","), id="dup", metadata={"order": 100, "source": "books"})
    )
    docs.append(Document(text=docs[1].text[:-30], id="near", metadata={"order": 101, "source": "books"}))
    sig = DedupSignatures(str(tmp_path / "sigs"), 4, 40, buckets_dir=str(tmp_path / "buckets"), hamming=8)
    assert len(list(sig.run(iter(docs), rank=0))) == len(docs)
    list(NearDupPairs(str(tmp_path / "buckets"), str(tmp_path / "pairs"), 8, 4).run(None))
    list(
        NearDupClusters(str(tmp_path / "sigs"), str(tmp_path / "pairs"), str(tmp_path), True, True).run(None)
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["exact_duplicate"] == 1 and report["near_duplicate"] == 1
    f = DedupFilter(str(tmp_path / "drop.npz"))
    kept = list(f.run(iter(docs)))
    assert {d.id for d in docs} - {d.id for d in kept} == {"dup", "near"}
    assert f.counts["_total"]["docs_dropped:exact_duplicate"] == 1
    assert f.counts["_total"]["docs_dropped:near_duplicate"] == 1


def test_simhash_precision_recall_on_constructed_set(mixed_texts):
    es = build_eval_set(mixed_texts, n_originals=60, n_distractors=300, seed=0)
    assert es.kind.count("original") == 60 and "punct" in es.kind and "swap" in es.kind
    res = evaluate(es, shingle=4, hamming=8)
    assert res["precision"] >= 0.95 and res["recall"] >= 0.75
    assert res["recall_by_kind"]["punct"] == 1.0  # punctuation is removed before hashing
    strict = evaluate(es, shingle=4, hamming=2)
    assert strict["recall"] < res["recall"]  # the threshold matters (the test can fail)
