"""Fixtures for the pretrain tests: small slices of the real shared corpus (they skip without it), a
synthetic stand-in with the same layout (always present), and small tokenizers trained on each."""

from __future__ import annotations

import gzip
import json

import pytest
import synthdata
from testutil import SHARED_CORPUS


def read_docs(rel: str, n: int, skip: int = 0) -> list[dict]:
    """The first `n` documents (after `skip`) of one corpus file, e.g. rel='books/four_classic_novels'."""
    if SHARED_CORPUS is None:
        pytest.skip("../shared/corpus is not present")
    path = SHARED_CORPUS / f"{rel}.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"shared corpus file {path} is absent")
    out = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i < skip:
                continue
            if len(out) >= n:
                break
            out.append(json.loads(line))
    return out


@pytest.fixture(scope="session")
def corpus_docs():
    """`read_docs` as a fixture, for tests that need their own slice."""
    return read_docs


@pytest.fixture(scope="session")
def corpus_dir():
    if SHARED_CORPUS is None:
        pytest.skip("../shared/corpus is not present")
    return SHARED_CORPUS


@pytest.fixture(scope="session")
def mixed_texts() -> list[str]:
    """About 400 real documents: classical poetry, a novel, a forum, English news (Chinese-English mix)."""
    docs = (
        read_docs("books/chinese_poetry_classical", 200)
        + read_docs("books/four_classic_novels", 6)
        + read_docs("forums/medical_qa_forum", 120)
        + read_docs("news/english_bbc_news", 60)
    )
    return [d["text"] for d in docs]


@pytest.fixture(scope="session")
def synth_texts() -> list[str]:
    """386 synthetic documents laid out like `mixed_texts` ([0:200] short poems, [200:206] chapters of about
    4,000 characters, [206:326] forum posts, [326:] English news; tests/synthdata.py), for tests that need
    some Chinese-English text rather than the real corpus."""
    return synthdata.mixed_texts()


@pytest.fixture(scope="session")
def small_tokenizer(tmp_path_factory, synth_texts):
    """A 3,000-piece tokenizer trained on `synth_texts`."""
    from weprompt.pretrain.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("tok")
    return train_tokenizer(synth_texts, out, vocab_size=3000, seed=0, character_coverage=0.995)


@pytest.fixture(scope="session")
def corpus_tokenizer(tmp_path_factory, mixed_texts):
    """The same tokenizer trained on the real `mixed_texts`, for checks of how it encodes real text."""
    from weprompt.pretrain.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("corpus_tok")
    return train_tokenizer(mixed_texts, out, vocab_size=3000, seed=0, character_coverage=0.995)
