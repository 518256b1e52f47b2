import os

import pytest
from testutil import SHARED_DATA

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    # Tests never reach the Hub: a missing local file must fail fast, not retry for 23 s.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    yield


@pytest.fixture
def data_dir():
    if SHARED_DATA is None:
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def task_tokenizer(tmp_path_factory):
    """A small real SentencePiece tokenizer trained on real task text (about 5 s, once per session)."""
    if SHARED_DATA is None:
        pytest.skip("../shared/data is not present")
    from pretrain.tokenizer import train_tokenizer
    from weprompt.data import load_split
    from weprompt.leakage import example_text

    texts = []
    for task in ("ocnli", "c3", "tnews", "chnsenticorp", "afqmc", "cmrc2018"):
        ds = load_split(task, "train")
        texts += [example_text(r) for r in ds.select(range(min(800, len(ds))))]
    out = tmp_path_factory.mktemp("task_tokenizer")
    return train_tokenizer(texts, out, vocab_size=6000, char_sets=("ascii",), character_coverage=0.999)
