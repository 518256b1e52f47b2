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
