"""Fixtures for the pretrain tests: small slices of the real shared corpus and a small trained tokenizer."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = Path(os.environ.get("WEPROMPT_CORPUS_DIR", REPO.parent / "shared" / "corpus"))
DATA_DIR = Path(os.environ.get("WEPROMPT_DATA_DIR", REPO.parent / "shared" / "data"))


def read_docs(rel: str, n: int, skip: int = 0) -> list[dict]:
    """The first `n` documents (after `skip`) of one corpus file, e.g. rel='books/four_classic_novels'."""
    path = CORPUS_DIR / f"{rel}.jsonl.gz"
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
def corpus_dir() -> Path:
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"shared corpus dir {CORPUS_DIR} is absent")
    return CORPUS_DIR


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared data dir {DATA_DIR} is absent")
    return DATA_DIR


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
def small_tokenizer(tmp_path_factory, mixed_texts):
    from pretrain.tokenizer import train_tokenizer

    out = tmp_path_factory.mktemp("tok")
    return train_tokenizer(mixed_texts, out, vocab_size=3000, seed=0, character_coverage=0.995)
