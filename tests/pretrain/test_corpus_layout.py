"""The corpus work-dir layout is a fixed set of named paths: a typo fails and creates nothing."""

from __future__ import annotations

import dataclasses

import pytest

from weprompt.pretrain.corpus.layout import Layout


def test_named_paths_under_root(tmp_path):
    w = Layout.under(tmp_path)
    assert w.filtered == tmp_path / "filtered"
    assert w.sigs == tmp_path / "dedup" / "sigs"
    assert w.buckets == tmp_path / "dedup" / "buckets"
    assert w.path("clean") == tmp_path / "clean"


def test_typo_is_an_error_and_creates_nothing(tmp_path):
    w = Layout.under(tmp_path)
    with pytest.raises(AttributeError):
        w.filterd  # noqa: B018 - the typo under test
    with pytest.raises(KeyError, match="filterd"):
        w.path("filterd")
    with pytest.raises(KeyError):
        w.path("root")  # a stage may never clear the whole work dir
    assert list(tmp_path.iterdir()) == []


def test_frozen(tmp_path):
    w = Layout.under(tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.clean = tmp_path / "elsewhere"  # type: ignore[misc]


def test_every_stage_output_is_a_layout_entry(tmp_path, corpus_dir):
    from weprompt.pretrain.corpus.config import CorpusConfig
    from weprompt.pretrain.corpus.pipeline import CorpusPipeline

    pipe = CorpusPipeline(CorpusConfig(corpus_dir=str(corpus_dir), work_dir=str(tmp_path / "w")))
    names = {f.name for f in dataclasses.fields(Layout)}
    for stage in pipe.stages:
        assert set(stage.outputs) <= names, stage.name
