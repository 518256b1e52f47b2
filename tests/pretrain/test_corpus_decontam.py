"""Decontamination: the paper's rule (>= 2 shared 17-grams or one 34-gram with an evaluation example),
characters for Chinese, words for runs of Latin letters; real evaluation examples from ../shared/data."""

from __future__ import annotations

import gzip
import json
import re

import pytest
from datatrove.data import Document

from pretrain.corpus.decontam import DecontamFilter, build_index, iter_strings
from pretrain.corpus.text import units


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, data_dir):
    """A data dir with the first 30 validation examples of two real tasks (cmrc2018, ocnli)."""
    out = tmp_path_factory.mktemp("data")
    examples = {}
    for task in ("cmrc2018", "ocnli"):
        src = data_dir / task / "validation.jsonl.gz"
        if not src.is_file():
            pytest.skip(f"{src} is absent")
        with gzip.open(src, "rt", encoding="utf-8") as f:
            rows = [json.loads(next(f)) for _ in range(30)]
        (out / task).mkdir()
        with gzip.open(out / task / "validation.jsonl.gz", "wt", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        examples[task] = rows
    (out / "ocnli" / "train.jsonl").write_text('{"premise": "训练集不算"}\n', encoding="utf-8")
    idx = tmp_path_factory.mktemp("idx")
    meta = build_index(out, ["validation", "test"], (17, 34), idx)
    return idx, examples, meta


def _doc(text):
    return Document(text=text, id="d", metadata={"source": "news"})


def test_index_covers_real_examples(small_data):
    idx, examples, meta = small_data
    assert meta["tasks"] == ["cmrc2018", "ocnli"] and meta["examples"] == 60
    assert meta["ngrams_17"] > 1000


def test_rule_on_real_examples(small_data, mixed_texts):
    idx, examples, _ = small_data
    f = DecontamFilter(str(idx))
    context = examples["cmrc2018"][0]["context"]
    filler = "".join(mixed_texts[200:203])[:3000]  # unrelated real text
    # One 34-character passage of an evaluation example inside an unrelated document: contaminated.
    doc = _doc(filler[:1500] + context[:34] + filler[1500:])
    assert f.decide(doc) == "contaminated"
    assert doc.metadata["contaminated_by"] == ["cmrc2018"]
    # Exactly-17-character Han runs of one example's context (each holds exactly one 17-gram).
    runs = []
    for ex in examples["cmrc2018"]:
        runs = [m.group()[:17] for m in re.finditer("[\u4e00-\u9fff]{17,}", ex["context"])]
        if len(runs) >= 2:
            break
    assert len(runs) >= 2
    two = _doc(filler[:1000] + runs[0] + filler[1000:2000] + runs[1] + filler[2000:])
    one = _doc(filler[:1000] + runs[0] + filler[1000:])
    assert f.decide(two) == "contaminated"
    assert f.decide(one) is None
    # Punctuation and blanks do not hide an overlap.
    spaced = " ".join(context[:40])
    assert f.decide(_doc(filler[:500] + spaced)) == "contaminated"
    # Unrelated real text is clean; train splits are not in the index.
    assert f.decide(_doc(filler)) is None
    assert f.counts["_total"]["contaminated_by:cmrc2018"] == 3


def test_english_units_are_words():
    # 17 letters of a common phrase are no evidence; 17 words are.
    assert len(units("in the middle of the night")) == 6
    assert len(units("春眠不觉晓 ABC def")) == 7
    assert (units("Hello, World") == units("hello world")).all()


def test_iter_strings_recursive():
    ex = {"a": "x", "b": [{"c": "y"}, 3, ["z"]], "d": None}
    assert list(iter_strings(ex)) == ["x", "y", "z"]
