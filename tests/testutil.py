"""Shared test helpers (importable as `testutil`: pyproject puts tests/ on the path)."""

from pathlib import Path

import pytest

from weprompt.data import data_dir_candidates

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    for p in data_dir_candidates():
        if p.is_dir():
            return p
    return None


SHARED_DATA = _shared_data()
requires_data = pytest.mark.skipif(SHARED_DATA is None, reason="../shared/data is not present")
