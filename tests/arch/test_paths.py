"""weprompt.common.paths: option → environment → default, relative paths against the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from weprompt.catalog import load_catalog
from weprompt.common import paths
from weprompt.data import DataError, resolve_data_dir
from weprompt.pretrain.corpus.config import CorpusConfig


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from an empty directory with none of the variables set."""
    for var in (paths.DATA_ENV, paths.CORPUS_ENV, paths.BANK_ENV, paths.TOKENIZER_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_option_beats_environment_beats_default(elsewhere, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, "/from/env")
    assert paths.data_dir("/from/option") == (Path("/from/option"), "the option")
    assert paths.data_dir() == (Path("/from/env"), "$WEPROMPT_DATA_DIR")
    monkeypatch.setenv(paths.DATA_ENV, "  ")  # blank counts as unset
    assert paths.data_dir() == (elsewhere / ".." / "shared" / "data", "the default")


def test_relative_paths_are_taken_against_the_working_directory(elsewhere, monkeypatch):
    monkeypatch.setenv(paths.CORPUS_ENV, "rel/corpus")
    assert paths.corpus_dir()[0] == elsewhere / "rel" / "corpus"
    assert paths.data_dir("rel/data")[0] == elsewhere / "rel" / "data"
    assert paths.bank_dir("my_bank") == elsewhere / "my_bank"
    assert paths.run_dir("runs/x") == elsewhere / "runs" / "x"
    assert paths.tokenizer_dir() is None
    monkeypatch.setenv(paths.TOKENIZER_ENV, "tok")
    assert paths.tokenizer_dir() == elsewhere / "tok"


def test_the_default_bank_is_the_one_shipped_in_the_package(elsewhere):
    assert paths.bank_dir() == paths.PACKAGE_BANK_DIR
    assert (paths.PACKAGE_BANK_DIR / "catalog.yaml").is_file()
    assert (paths.PACKAGE_BANK_DIR / "templates" / "ocnli.yaml").is_file()


def test_catalog_default_follows_the_bank_variable(elsewhere, monkeypatch):
    bank = elsewhere / "bank"
    bank.mkdir()
    (bank / "catalog.yaml").write_bytes((paths.PACKAGE_BANK_DIR / "catalog.yaml").read_bytes())
    monkeypatch.setenv(paths.BANK_ENV, "bank")
    assert load_catalog().path == (bank / "catalog.yaml").resolve()


def test_corpus_work_dir_is_relative_to_the_working_directory_not_the_source_tree(elsewhere, monkeypatch):
    assert CorpusConfig(work_dir="runs/corpus").resolved_work_dir() == elsewhere / "runs" / "corpus"
    (elsewhere / "c").mkdir()
    assert CorpusConfig(corpus_dir="c").resolved_corpus_dir() == (elsewhere / "c").resolve()
    with pytest.raises(Exception, match=r"nope \(from the option\) is not a directory; set corpus_dir"):
        CorpusConfig(corpus_dir="nope").resolved_corpus_dir()


def test_missing_data_dir_names_what_was_tried(elsewhere, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, "no_such_data")
    with pytest.raises(DataError, match="no_such_data.*--data-dir or set \\$WEPROMPT_DATA_DIR"):
        resolve_data_dir()
    (elsewhere / "d").mkdir()
    assert resolve_data_dir("d") == (elsewhere / "d").resolve()
