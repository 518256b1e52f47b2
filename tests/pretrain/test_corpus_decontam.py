"""Decontamination: the paper's rule (>= 2 shared 17-grams or one 34-gram with an evaluation example),
characters for Chinese, words for runs of Latin letters; real evaluation examples from ../shared/data, and
the same rule on synthetic ones (tests/synthdata.py), which need no shared data."""

from __future__ import annotations

import gzip
import json
import re
import shutil

import pytest
from datatrove.data import Document

from weprompt.pretrain.corpus.decontam import DecontamFilter, build_index, iter_strings
from weprompt.pretrain.corpus.text import units


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


@pytest.fixture(scope="module")
def synth_small_data(tmp_path_factory, synth_data_dir):
    """`small_data` from synthetic rows: the validation splits of cmrc2018 and ocnli (60 each) indexed,
    their train splits present but not indexed."""
    out = tmp_path_factory.mktemp("synth_data")
    examples = {}
    for task in ("cmrc2018", "ocnli"):
        shutil.copytree(synth_data_dir / task, out / task)
        for split in ("validation", "train"):
            with gzip.open(out / task / f"{split}.jsonl.gz", "rt", encoding="utf-8") as f:
                examples[task if split == "validation" else f"{task}/train"] = [json.loads(x) for x in f]
    idx = tmp_path_factory.mktemp("synth_idx")
    meta = build_index(out, ["validation", "test"], (17, 34), idx)
    return idx, examples, meta


def test_rule_on_synthetic_examples(synth_small_data, synth_texts):
    idx, examples, meta = synth_small_data
    assert meta["tasks"] == ["cmrc2018", "ocnli"] and meta["examples"] == 120
    f = DecontamFilter(str(idx))
    filler = "".join(synth_texts[200:203])[:3000]  # unrelated text

    # Runs of Han characters and punctuation: without the punctuation, their characters are consecutive
    # units of the example (Latin words and numbers are units too, so runs stop there).
    def han_runs(rows):
        runs = [
            re.sub("[，。！？]", "", m.group())
            for ex in rows
            for m in re.finditer("[\u4e00-\u9fff，。！？]{50,}", ex["context"])
        ]
        return [r for r in runs if len(r) >= 40]

    runs = han_runs(examples["cmrc2018"])
    assert len(runs) >= 2
    # 34 consecutive units of an evaluation example inside an unrelated document: contaminated.
    doc = _doc(filler[:1500] + runs[0][:34] + filler[1500:])
    assert f.decide(doc) == "contaminated"
    assert doc.metadata["contaminated_by"] == ["cmrc2018"]
    # Two separate 17-unit passages are two 17-grams: contaminated; one alone is not.
    two = _doc(filler[:1000] + runs[0][:17] + filler[1000:2000] + runs[1][:17] + filler[2000:])
    one = _doc(filler[:1000] + runs[1][:17] + filler[1000:])
    assert f.decide(two) == "contaminated"
    assert f.decide(one) is None
    # Punctuation and blanks do not hide an overlap.
    assert f.decide(_doc(filler[:500] + " ".join(runs[1][:40]))) == "contaminated"
    # Unrelated text is clean; train splits are not in the index.
    assert f.decide(_doc(filler)) is None
    assert f.decide(_doc(filler[:1500] + han_runs(examples["cmrc2018/train"])[0] + filler[1500:])) is None
    assert f.counts["_total"]["contaminated_by:cmrc2018"] == 3


def test_english_units_are_words():
    # 17 letters of a common phrase are no evidence; 17 words are.
    assert len(units("in the middle of the night")) == 6
    assert len(units("春眠不觉晓 ABC def")) == 7
    assert (units("Hello, World") == units("hello world")).all()


def test_iter_strings_recursive():
    ex = {"a": "x", "b": [{"c": "y"}, 3, ["z"]], "d": None}
    assert list(iter_strings(ex)) == ["x", "y", "z"]
