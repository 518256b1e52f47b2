"""Language ID: Chinese kept (including classical poetry that plain langdetect calls Korean), English kept,
other languages dropped with lang_<code>, featureless text lang_unknown, deterministic."""

from __future__ import annotations

from datatrove.data import Document

from weprompt.pretrain.corpus.langid import LanguageFilter, is_han_script, sample_text


def _doc(text: str, source: str = "books") -> Document:
    return Document(text=text, id="t", metadata={"source": source})


def test_real_chinese_and_english_are_kept(mixed_texts):
    f = LanguageFilter(["zh", "en"])
    langs = [f.detect(t) for t in mixed_texts]
    assert langs[:206].count("zh") == 206  # poetry + novels
    assert set(langs[206:326]) == {"zh"}  # medical forum
    assert set(langs[326:]) == {"en"}  # BBC news


def test_plain_langdetect_misreads_classical_poetry(corpus_docs):
    # Why the script guard exists: without it most Quan Tang Shi poems come back as Korean.
    poems = [d["text"] for d in corpus_docs("books/chinese_poetry_classical", 100, skip=60000)]
    plain = LanguageFilter(["zh", "en"], script_guard=False)
    langs = [plain.detect(t) for t in poems]
    assert langs.count("ko") > 30
    guarded = LanguageFilter(["zh", "en"])
    assert all(guarded.decide(_doc(t)) is None for t in poems)


def test_drop_reasons():
    f = LanguageFilter(["zh", "en"])
    fr = "Le gouvernement français a annoncé hier une nouvelle réforme des retraites qui suscite la colère des syndicats."
    de = "Die Bundesregierung hat gestern ein neues Gesetz zur Förderung erneuerbarer Energien im Bundestag vorgestellt."
    ja = "東京都は昨日、新しい公園の建設計画を発表しました。市民の皆さんからの意見を募集しています。"
    ko = "서울시는 어제 새로운 공원 건설 계획을 발표했습니다. 시민들의 의견을 모집하고 있습니다."
    assert f.decide(_doc(fr)) == "lang_fr"
    assert f.decide(_doc(de)) == "lang_de"
    assert f.decide(_doc(ja)) == "lang_ja"  # kana present: not Chinese by script
    assert f.decide(_doc(ko)) == "lang_ko"  # Hangul present
    assert f.decide(_doc("1234 5678 !!! ???")) == "lang_unknown"
    doc = _doc(fr)
    f.decide(doc)
    assert doc.metadata["lang"] == "fr"


def test_deterministic_and_bounded_sample(synth_texts):
    a, b = LanguageFilter(["zh", "en"], seed=0), LanguageFilter(["zh", "en"], seed=0)
    texts = synth_texts[326:360]
    assert [a.detect(t) for t in texts] == [b.detect(t) for t in texts]
    long = "x" * 10_000
    assert len(sample_text(long, 300)) <= 302
    assert is_han_script("带有p-Laplacian算子的Dirichlet边值问题")  # Chinese title with Latin terms
    assert not is_han_script("The word 中国 means China in this English sentence about words")
