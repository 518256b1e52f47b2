"""Quality classifier: the pinned fastText build trains and predicts under NumPy 2, the labelled set is
built honestly (no document on both sides, kinds recorded), and the filter drops with 'low_quality'."""

from __future__ import annotations

import random

import numpy as np
import pytest
from datatrove.data import Document

from weprompt.pretrain.corpus import quality
from weprompt.pretrain.corpus.config import QualityConfig
from weprompt.pretrain.corpus.labelled import CORRUPTIONS, Example, build_labelled_set, corrupt, split_heldout
from weprompt.pretrain.corpus.quality import (
    MIN_DISTINCT_PER_CLASS,
    MODEL_FILE,
    QualityError,
    QualityFilter,
    evaluate,
    featurize,
    predict_p_noisy,
    train_fasttext,
)


def test_fasttext_build_works_under_numpy2(tmp_path, synth_texts):
    # Trains (in a fresh process, see quality.py) and predicts here, under NumPy 2, deterministically.
    assert int(np.__version__.split(".")[0]) >= 2
    examples = [
        Example(t, "clean" if i < 326 else "noisy", "positive", "x", str(i))
        for i, t in enumerate(synth_texts)
    ]
    cfg = QualityConfig(epoch=5)
    model = train_fasttext(examples, tmp_path / "a", cfg, seed=0)
    labels, probs = model.predict(
        [featurize("春眠不觉晓，处处闻啼鸟。", 500), "the government said on monday"], k=1
    )
    assert labels == [["__label__clean"], ["__label__noisy"]]
    assert all(np.isfinite(p).all() for p in probs)
    train_fasttext(examples, tmp_path / "b", cfg, seed=0)
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()


class _NoTraining:
    """Stands in for the process pool that runs fastText: any training attempt fails the test."""

    def __init__(self, *args, **kwargs):
        raise AssertionError("fastText training was started")


def _distinct(n_clean: int, n_noisy: int, copies: int = 1) -> list[Example]:
    clean = [Example(f"春眠不觉晓第{i}首", "clean", "positive", "books", f"c{i}") for i in range(n_clean)]
    noisy = [Example(f"click here {i}", "noisy", "synthetic:x", "books", f"n{i}") for i in range(n_noisy)]
    return (clean + noisy) * copies


def test_tiny_training_set_is_a_clear_error(tmp_path, monkeypatch):
    # 100 examples but one distinct text per class: fastText gives NaN or a different model from run to
    # run on this (module doc), so it is refused before fastText is started, the same way every time.
    monkeypatch.setattr(quality, "ProcessPoolExecutor", _NoTraining)
    tiny = _distinct(1, 1, copies=50)
    with pytest.raises(
        QualityError, match="training set is too small: 1 distinct clean and 1 distinct noisy"
    ):
        train_fasttext(tiny, tmp_path, QualityConfig(dim=100, lr=0.1, word_ngrams=1, epoch=5), seed=0)
    assert not (tmp_path / "train.txt").exists()


@pytest.mark.parametrize(
    "n_clean, n_noisy", [(MIN_DISTINCT_PER_CLASS - 1, 50), (50, MIN_DISTINCT_PER_CLASS - 1)]
)
def test_one_class_below_the_minimum_is_refused(tmp_path, monkeypatch, n_clean, n_noisy):
    monkeypatch.setattr(quality, "ProcessPoolExecutor", _NoTraining)
    with pytest.raises(QualityError, match=f"at least {MIN_DISTINCT_PER_CLASS} of each"):
        train_fasttext(_distinct(n_clean, n_noisy, copies=3), tmp_path, QualityConfig(), seed=0)


def test_the_minimum_itself_is_trained(tmp_path, monkeypatch):
    monkeypatch.setattr(quality, "ProcessPoolExecutor", _NoTraining)
    with pytest.raises(AssertionError, match="training was started"):
        train_fasttext(
            _distinct(MIN_DISTINCT_PER_CLASS, MIN_DISTINCT_PER_CLASS), tmp_path, QualityConfig(), 0
        )


@pytest.fixture(scope="module")
def labelled(synth_texts):
    pools: dict[str, list] = {}
    names = ["books/poetry"] * 200 + ["books/novels"] * 6 + ["forums/medical"] * 120 + ["news/bbc"] * 60
    for i, (t, ds) in enumerate(zip(synth_texts, names, strict=True)):
        pools.setdefault(ds, []).append((f"{ds}/{i}", t, ds.split("/")[0]))
    rejected = [
        ("news/x/1", "★☆◆◇■□▲△●○" * 20, "news", "too_many_symbols"),
        ("forums/y/2", "短", "forums", "too_short"),
    ]
    return build_labelled_set(pools, rejected, per_class=100, seed=0)


def test_labelled_set_is_balanced_and_honest(labelled):
    pos = [e for e in labelled if e.label == "clean"]
    neg = [e for e in labelled if e.label == "noisy"]
    assert len(pos) == len(neg) == 100
    # Corrupted documents are never also positives; real negatives keep their rule reason; too_short is
    # not a quality signal and is left out.
    assert not {e.doc_id for e in pos} & {e.doc_id for e in neg}
    kinds = {e.kind for e in neg}
    assert "real:too_many_symbols" in kinds and "real:too_short" not in kinds
    assert {k.split(":")[1] for k in kinds if k.startswith("synthetic:")} == set(CORRUPTIONS)
    # Every dataset contributes positives (equal half), the big one most (proportional half).
    by_ds = {
        ds: sum(e.doc_id.startswith(ds) for e in pos)
        for ds in ("books/poetry", "books/novels", "forums/medical", "news/bbc")
    }
    assert min(by_ds.values()) > 0 and by_ds["books/poetry"] == max(by_ds.values())
    train, held = split_heldout(labelled, 0.2, seed=0)
    assert not {e.doc_id for e in train} & {e.doc_id for e in held}
    assert sum(e.label == "clean" for e in held) == 20


def test_corruptions_change_the_text():
    rng = random.Random(0)
    text = "话说天下大势，分久必合，合久必分。\n周末七国分争，并入于秦。"
    for kind in CORRUPTIONS:
        assert corrupt(text, kind, rng) != text


def test_train_evaluate_filter(labelled, tmp_path):
    cfg = QualityConfig(epoch=30)  # 160 training examples: more epochs than the 6,400 of the real set need
    train, held = split_heldout(labelled, 0.2, seed=0)
    model = train_fasttext(train, tmp_path, cfg, seed=0)
    report = evaluate(model, held, cfg)
    assert report["at_0.5"]["f1"] > 0.8  # separable by construction; the real numbers are in bench/README
    f = QualityFilter(str(tmp_path / MODEL_FILE), 0.9, "drop_noisy", cfg.max_chars)
    noisy = "版权所有 © 2012 本站保留所有权利\n点击这里免费下载全文\n" * 5 + "★☆◆◇■□▲△" * 30
    doc = Document(text=noisy, id="n", metadata={"source": "news"})
    assert f.decide(doc) == "low_quality" and doc.metadata["p_noisy"] > 0.9
    clean = Document(text=labelled[0].text, id="c", metadata={"source": "books"})
    p = predict_p_noisy(model, [clean.text], cfg.max_chars)[0]
    assert f.decide(clean) == ("low_quality" if p > 0.9 else None)


def test_featurize_is_per_character_for_chinese():
    assert featurize("春眠 sleep\n42", 100) == "春 眠 sleep <nl> 42"
