"""Token shards: stream layout with EOS, index, dtype, straddling shard files, split, refusal of bad dirs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weprompt.pretrain.shards import INDEX_FILE, META_FILE, ShardError, ShardWriter, TokenShards, token_dtype


def _write(tmp_path, docs, vocab_size=8000, shard_tokens=1 << 20):
    with ShardWriter(tmp_path, vocab_size, "f" * 64, eos_id=2, shard_tokens=shard_tokens) as w:
        for ids, src in docs:
            w.add_document(ids, src)
    return TokenShards(tmp_path)


def test_real_documents_round_trip(tmp_path, small_tokenizer, synth_texts):
    tok = small_tokenizer
    texts = synth_texts[190:260]
    sources = ["books" if i < 16 else "forums" for i in range(len(texts))]
    # A small shard size forces documents to straddle shard files.
    with ShardWriter(tmp_path, tok.vocab_size, tok.fingerprint(), tok.eos_id, shard_tokens=997) as w:
        for ids, src in zip(tok.encode_batch(texts), sources, strict=True):
            w.add_document(ids, src)
    shards = TokenShards(tmp_path, expect_fingerprint=tok.fingerprint())
    assert len(shards.meta["shards"]) > 3
    assert shards.dtype == np.uint16 and shards.vocab_size == tok.vocab_size
    assert len(shards) == len(texts)
    for i, text in enumerate(texts):
        doc = shards.document(i, with_eos=True)
        assert doc[-1] == tok.eos_id
        assert tok.decode(doc[:-1]) == text
        assert shards.document_source(i) == sources[i]
    # The stream is doc EOS doc EOS ...: EOS count equals document count.
    stream = shards.tokens(0, shards.num_tokens)
    assert int((stream == tok.eos_id).sum()) == len(texts)
    assert shards.num_tokens == int(shards.documents["length"].sum()) + len(texts)
    assert sum(shards.meta["tokens_by_source"].values()) == shards.num_tokens


def test_layout_and_offsets(tmp_path):
    shards = _write(tmp_path, [([5, 6, 7], "a"), ([], "b"), ([9], "a")], shard_tokens=4)
    assert shards.tokens(0, shards.num_tokens).tolist() == [5, 6, 7, 2, 2, 9, 2]
    assert shards.documents["offset"].tolist() == [0, 4, 5]
    assert shards.documents["length"].tolist() == [3, 0, 1]
    assert shards.source_names == ["a", "b"]
    assert shards.tokens(3, 3).tolist() == [2, 2, 9]  # across the file boundary at 4
    with pytest.raises(IndexError):
        shards.tokens(5, 3)


def test_uint32_for_large_vocab(tmp_path):
    assert token_dtype(65535) == np.uint16 and token_dtype(65536) == np.uint32
    shards = _write(tmp_path, [([70000, 1], "a")], vocab_size=80000)
    assert shards.dtype == np.uint32
    assert shards.tokens(0, 3).tolist() == [70000, 1, 2]


def test_split_is_seeded_and_disjoint(tmp_path):
    rng = np.random.default_rng(0)
    docs = [(rng.integers(4, 100, size=int(rng.integers(1, 50))).tolist(), "s") for _ in range(200)]
    shards = _write(tmp_path, docs)
    a, b = shards.split(0.1, seed=1), shards.split(0.1, seed=1)
    assert np.array_equal(a.val, b.val) and np.array_equal(a.train, b.train)
    assert not set(a.val) & set(a.train) and len(a.val) + len(a.train) == 200
    val_tokens = int((shards.documents["length"][a.val] + 1).sum())
    assert 0.1 * shards.num_tokens <= val_tokens < 0.1 * shards.num_tokens + 51
    assert not np.array_equal(shards.split(0.1, seed=2).val, a.val)


def test_bad_ids_and_mismatch(tmp_path):
    w = ShardWriter(tmp_path, 100, "abc")
    with pytest.raises(ShardError, match="outside"):
        w.add_document([1, 100], "s")
    w.add_document([1, 2], "s")
    w.close()
    with pytest.raises(ShardError, match="made with tokenizer abc"):
        TokenShards(tmp_path, expect_fingerprint="def")


def test_unfinished_write_is_refused(tmp_path):
    w = ShardWriter(tmp_path, 100, "abc")
    w.add_document([1, 2, 3], "s")
    # no close(): a crash here leaves no meta.json, so readers refuse the directory
    with pytest.raises(ShardError, match="unfinished"):
        TokenShards(tmp_path)
    w.close()
    assert TokenShards(tmp_path).num_tokens == 4


def test_tampered_dir_is_refused(tmp_path):
    _write(tmp_path, [([5, 6], "a")])
    meta = json.loads((tmp_path / META_FILE).read_text())
    meta["num_tokens"] = 99
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ShardError, match="hold 3 tokens"):
        TokenShards(tmp_path)
    assert (tmp_path / INDEX_FILE).is_file()
