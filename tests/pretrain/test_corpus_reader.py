"""Reader: real documents become Documents with stable ids; every bad input is a counted drop with a reason."""

from __future__ import annotations

import gzip
import json

import pytest
import synthdata

from weprompt.pretrain.corpus.balance import normalized_targets
from weprompt.pretrain.corpus.config import BalanceConfig, CorpusConfigError
from weprompt.pretrain.corpus.reader import CorpusInputError, CorpusReader, list_sources


def _run(reader, world_size=1):
    docs = []
    for rank in range(world_size):
        docs += list(reader.run(None, rank=rank, world_size=world_size))
    return docs


def _write_gz(path, lines: list[bytes]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        for line in lines:
            f.write(line + b"\n")


@pytest.fixture
def bad_corpus(tmp_path):
    """A corpus dir with one good source (documents in the corpus files' schema, synthetic) and one of
    every kind of bad input."""
    real = synthdata.corpus_docs(5)
    good = [json.dumps(d, ensure_ascii=False).encode() for d in real]
    _write_gz(tmp_path / "forums" / "medical.jsonl.gz", good)
    bad = [
        b'{"text": "\xff\xfe broken bytes", "source": "x"}',  # invalid_utf8
        b'{"text": "unterminated',  # invalid_json
        b'["a", "list"]',  # invalid_json (not an object)
        b'{"title": "no text field"}',  # missing_text
        b'{"text": 42}',  # missing_text (not a string)
        b'{"text": "   \\n  "}',  # empty_text
        b'{"text": "lone \\ud800 surrogate"}',  # invalid_unicode
        json.dumps({"text": "x" * 5000}).encode(),  # too_long (max_doc_chars=1000 below)
        b"",  # blank line: not a document
        json.dumps({"text": real[0]["text"]}, ensure_ascii=False).encode(),  # fine
    ]
    _write_gz(tmp_path / "news" / "bad.jsonl.gz", bad)
    (tmp_path / "news" / "empty.jsonl").write_bytes(b"")
    # A truncated or mislabelled file is an error, not a drop: tests/pretrain/test_corpus_reader_bad.py.
    return tmp_path, real


def test_bad_inputs_are_counted_drops(bad_corpus):
    corpus, real = bad_corpus
    reader = CorpusReader(corpus, max_doc_chars=1000)
    docs = _run(reader)
    news = reader.counts["news"]
    assert news["docs_dropped:invalid_utf8"] == 1
    assert news["docs_dropped:invalid_json"] == 2
    assert news["docs_dropped:missing_text"] == 2
    assert news["docs_dropped:empty_text"] == 1
    assert news["docs_dropped:invalid_unicode"] == 1
    assert news["docs_dropped:too_long"] == 1
    assert news["empty_file"] == 1
    assert [d.text for d in docs if d.metadata["source"] == "forums"] == [d["text"] for d in real]
    total = reader.counts["_total"]
    assert total["docs_in"] == total["docs_kept"] + sum(
        v for k, v in total.items() if k.startswith("docs_dropped:")
    )


def test_gigantic_line_costs_no_memory(tmp_path):
    big = json.dumps({"text": "字" * 3_000_000}, ensure_ascii=False).encode()
    _write_gz(tmp_path / "books" / "big.jsonl.gz", [big, b'{"text": "after the giant"}'])
    reader = CorpusReader(tmp_path, max_doc_chars=10_000)
    docs = _run(reader)
    assert [d.text for d in docs] == ["after the giant"]
    assert reader.counts["books"]["docs_dropped:too_long"] == 1


def test_real_slice_ids_metadata_and_rank_split(corpus_dir):
    one = CorpusReader(corpus_dir)
    # Only the first lines of each file matter here: stop early.
    docs = []
    for d in one.run(None, 0, 1):
        docs.append(d)
        if len(docs) >= 300:
            break
    d = docs[0]
    assert d.metadata["source"] in list_sources(corpus_dir)
    assert d.id == f"{d.metadata['source']}/{d.metadata['dataset']}/0"
    assert d.metadata["order"] == 0  # file 0, line 0
    # Ranks split by line: rank 1 of 2 starts at line 1 of the first file.
    second = next(iter(CorpusReader(corpus_dir).run(None, 1, 2)))
    assert second.id == docs[1].id and second.text == docs[1].text


def test_source_missing_from_balance_config(tmp_path):
    _write_gz(tmp_path / "books" / "a.jsonl.gz", [b'{"text": "abc"}'])
    _write_gz(tmp_path / "web" / "b.jsonl.gz", [b'{"text": "def"}'])
    with pytest.raises(CorpusConfigError, match=r"\['web'\] have no target"):
        normalized_targets(BalanceConfig(targets={"books": 1.0}), list_sources(tmp_path))
    # With unlisted=drop the reader counts them instead.
    reader = CorpusReader(tmp_path, drop_sources=["web"])
    assert [d.text for d in _run(reader)] == ["abc"]
    assert reader.counts["web"]["docs_dropped:source_not_in_balance_config"] == 1


def test_empty_corpus_dir_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusInputError, match="no <source>/"):
        list_sources(tmp_path)
