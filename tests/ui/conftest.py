"""Fixtures for the annotation UI tests: a private prompt bank in a temp dir (never the real one,
which other annotators are editing) seeded with two known ocnli prompts."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest
from testutil import REPO
from ui_seed import SEED

from weprompt.bank import bank_catalog
from weprompt.bank_health import task_examples
from weprompt.templates import TemplateCollection


@pytest.fixture(scope="session")
def catalog_copy(tmp_path_factory) -> Path:
    """One copy of the catalog per session: parsing it costs ~0.5 s, and load_catalog caches per
    resolved path, so every test's bank links to this one file instead of copying it."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.yaml"
    shutil.copy(REPO / "prompt_bank" / "catalog.yaml", path)
    return path


@pytest.fixture
def bank(tmp_path: Path, catalog_copy: Path) -> Path:
    root = tmp_path / "bank"
    (root / "templates").mkdir(parents=True)
    (root / "catalog.yaml").symlink_to(catalog_copy)
    TemplateCollection("ocnli", copy.deepcopy(SEED), root / "templates" / "ocnli.yaml").save()
    return root


@pytest.fixture
def ctx(bank, synth_data_dir):
    """The OCNLI task of the seeded bank with 10 synthetic examples and their fields."""
    cat = bank_catalog(bank)
    task = cat.task("ocnli")
    examples, fields = task_examples(cat, task, 10, synth_data_dir)
    return task, examples, fields
