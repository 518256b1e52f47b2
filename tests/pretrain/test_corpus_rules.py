"""Rule filters: real clean documents pass; hand-made bad ones are dropped with the exact reason."""

from __future__ import annotations

import pytest
from datatrove.data import Document

from weprompt.pretrain.corpus.config import RulesConfig
from weprompt.pretrain.corpus.rules import (
    BoilerplateFilter,
    CjkRatioFilter,
    CodeFilter,
    MinLengthFilter,
    MojibakeFilter,
    OffensiveFilter,
    RepetitionFilter,
    SymbolRatioFilter,
    rule_filters,
)

CFG = RulesConfig()


def _doc(text: str, lang: str = "zh") -> Document:
    return Document(text=text, id="t", metadata={"source": "news", "lang": lang})


def test_real_documents_mostly_pass(mixed_texts):
    filters = rule_filters(CFG)
    dropped = {}
    for i, text in enumerate(mixed_texts):
        doc = _doc(text, "en" if i >= 326 else "zh")
        for f in filters:
            reason = f.decide(doc)
            if reason:
                dropped[i] = reason
                break
    # A few short poems are "too_short"; nothing else in this clean slice trips a rule.
    assert set(dropped.values()) <= {"too_short"}
    assert len(dropped) < 0.05 * len(mixed_texts)


POEM = "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。\n"
CLEAN = "话说天下大势，分久必合，合久必分。\n周末七国分争，并入于秦。\n及秦灭之后，楚、汉分争，又并入于汉。\n"


@pytest.mark.parametrize(
    "flt, text, lang, reason",
    [
        (MinLengthFilter(CFG.min_chars), "短文本。", "zh", "too_short"),
        (CjkRatioFilter(CFG.min_cjk_ratio), "ID: 12345-ABCDE-67890 | ref 998877 | 中", "zh", "too_few_cjk"),
        (
            MojibakeFilter(CFG.max_replacement_chars),
            "鏂囩珷��瀛��楀��鎬ц兘��浼樺寲��" + POEM,
            "zh",
            "mojibake",
        ),
        (MojibakeFilter(CFG.max_replacement_chars), "Ã©Ã¨Ã Ã¢Ã§ " * 3 + POEM, "zh", "mojibake"),
        (
            BoilerplateFilter(CFG.max_boilerplate_line_ratio),
            "版权所有 © 2020 某某网\n点击这里下载\n扫一扫二维码关注我们\n" + POEM,
            "zh",
            "boilerplate",
        ),
        (
            RepetitionFilter(CFG.max_dup_line_ratio, CFG.max_dup_line_char_ratio),
            "买一送一大促销\n" * 6 + POEM,
            "zh",
            "repeated_lines",
        ),
        (
            SymbolRatioFilter(CFG.max_symbol_ratio, CFG.max_punct_ratio),
            "★☆◆◇■□▲△●○" * 3 + "好文章",
            "zh",
            "too_many_symbols",
        ),
        (
            SymbolRatioFilter(CFG.max_symbol_ratio, CFG.max_punct_ratio),
            "！！！？？？……。。。，，，好",
            "zh",
            "too_much_punctuation",
        ),
        (
            CodeFilter(CFG.max_code_line_ratio),
            "def main():\n    x = load();\n    for (i = 0; i < n; i++) {\n    }\n好的代码",
            "zh",
            "source_code",
        ),
        (
            OffensiveFilter("", CFG.offensive_min_hits),
            "这个傻逼说话真难听，傻逼一个。" + POEM,
            "zh",
            "offensive",
        ),
        (
            OffensiveFilter("", CFG.offensive_min_hits),
            "What the fuck, this shit is broken again.",
            "en",
            "offensive",
        ),
    ],
)
def test_exact_drop_reasons(flt, text, lang, reason):
    assert flt.decide(_doc(text, lang)) == reason
    assert flt.decide(_doc(CLEAN, "zh")) is None


def test_false_friends_are_kept():
    # Dollar amounts are not PHP variables; "shittim" is not profanity; one isolated private-use
    # paragraph mark (common in GBK-era news) is not mojibake; cjk ratio applies to Chinese only.
    assert (
        CodeFilter(CFG.max_code_line_ratio).decide(
            _doc("Profits rose to $1.13bn from $639m.\nSales rose 2%.", "en")
        )
        is None
    )
    assert OffensiveFilter("", 1).decide(_doc("boards of shittim wood", "en")) is None
    assert (
        MojibakeFilter(CFG.max_replacement_chars).decide(_doc("第一段。\ue40c第二段。\ue40c" + POEM)) is None
    )
    assert CjkRatioFilter(CFG.min_cjk_ratio).decide(_doc("An English text without any Han.", "en")) is None


def test_configurable_word_list(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# my list\n西红柿\n", encoding="utf-8")
    f = OffensiveFilter(str(words), min_hits=2)
    assert f.decide(_doc("西红柿炒鸡蛋，西红柿汤。")) == "offensive"
    assert f.decide(_doc("这个傻逼说话真难听，傻逼一个。")) is None


def test_filter_step_counts_and_rejected_file(tmp_path):
    import json

    f = MinLengthFilter(CFG.min_chars, stats_dir=tmp_path / "stats")
    f.rejected_dir = str(tmp_path / "rejected")
    docs = [_doc(POEM), _doc("短。")]
    kept = list(f.run(iter(docs), rank=0))
    assert [d.text for d in kept] == [POEM]
    counts = json.loads((tmp_path / "stats" / "rule_length" / "00000.json").read_text())["counts"]["_total"]
    assert counts["docs_in"] == 2 and counts["docs_kept"] == 1 and counts["docs_dropped:too_short"] == 1
    (row,) = [
        json.loads(x)
        for x in (tmp_path / "rejected" / "rule_length" / "00000.jsonl").read_text().splitlines()
    ]
    assert row["reason"] == "too_short" and row["text"] == "短。"


def test_step_error_is_a_counted_drop():
    class Broken(MinLengthFilter):
        name = "broken"

        def decide(self, doc):
            if "boom" in doc.text:
                raise ValueError("boom")
            return None

    f = Broken(1)
    kept = list(f.run(iter([_doc("boom"), _doc(POEM)])))
    assert [d.text for d in kept] == [POEM]
    assert f.counts["_total"]["docs_dropped:error:ValueError"] == 1
