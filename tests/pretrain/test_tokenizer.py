"""The SentencePiece wrapper: exact round trip on any text, specials, batch, save/load, determinism."""

from __future__ import annotations

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from weprompt.pretrain.tokenizer import (
    BOS_ID,
    EOS_ID,
    MODEL_FILE,
    PAD_ID,
    VOCAB_FILE,
    Tokenizer,
    TokenizerError,
    required_chars,
    train_tokenizer,
)

# Characters that stress the round trip: whitespace runs, CR/LF, tabs, the SentencePiece meta space,
# emoji (astral, ZWJ sequences), rare CJK (Extension B), Japanese, Korean, combining marks, controls.
TRICKY = list(" \t\n\r\u3000\u00a0\u2581\u200b\ufeff\x00\x7f") + [
    "🙂",
    "👩‍👩‍👧",
    "𠀀",
    "𪚥",
    "龘",
    "あ",
    "カ",
    "ｶ",
    "한",
    "ㄱ",
    "é",
    "e\u0301",
    "Ω",
    "<s>",
    "</s>",
    "<pad>",
    "<unk>",
    "<0x41>",
]
text_strategy = st.lists(st.one_of(st.sampled_from(TRICKY), st.text(max_size=8)), max_size=30).map("".join)


def test_specials_distinct(small_tokenizer):
    tok = small_tokenizer
    assert (tok.bos_id, tok.eos_id, tok.pad_id) == (BOS_ID, EOS_ID, PAD_ID)
    assert len({tok.bos_id, tok.eos_id, tok.pad_id, tok.unk_id}) == 4
    assert tok.vocab_size == 3000


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=text_strategy)
def test_round_trip_any_text(small_tokenizer, text):
    ids = small_tokenizer.encode(text)
    assert small_tokenizer.decode(ids) == text
    assert small_tokenizer.unk_id not in ids  # byte fallback: nothing is ever unknown


@pytest.mark.parametrize(
    "text",
    [
        "a    b\t\t\tc\n\n\n  d  ",
        "line1\r\nline2\r\n",
        "\u2581lead and trail\u2581\u2581",
        "　　话说天下大势，分久必合。\n",
        "日本語のテキスト、カタカナ。한국어 문장입니다.",
        "𠀀𠀁𪚥 emoji 🙂👍🏽",
        "",
    ],
)
def test_round_trip_examples(small_tokenizer, text):
    assert small_tokenizer.decode(small_tokenizer.encode(text)) == text


def test_layout_symbols_are_single_pieces(small_tokenizer):
    tok = small_tokenizer
    for ch in ("\n", "\t", "\r"):
        ids = tok.encode(ch)
        assert len(ids) == 1 and tok.id_to_piece(ids[0]) == ch


def test_bos_eos_and_decode_drops_specials(small_tokenizer):
    tok = small_tokenizer
    ids = tok.encode("你好 world", add_bos=True, add_eos=True)
    assert ids[0] == tok.bos_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == "你好 world"
    assert tok.decode([tok.pad_id] + ids[1:-1] + [tok.pad_id]) == "你好 world"


def test_batch_matches_single(small_tokenizer, synth_texts):
    tok = small_tokenizer
    texts = synth_texts[:50] + ["x\u2581y", ""]
    batch = tok.encode_batch(texts, add_eos=True)
    assert batch == [tok.encode(t, add_eos=True) for t in texts]
    assert tok.decode_batch(batch) == texts


def test_kana_covered_without_japanese_training_text(small_tokenizer):
    # The shared corpus has no Japanese; the kana set is required, so kana are pieces, not bytes.
    tok = small_tokenizer
    for ch in "あカー":
        (i,) = tok.encode(ch)
        assert tok.id_to_piece(i) == ch


def test_compression_on_training_like_text(corpus_tokenizer, mixed_texts):
    # Tiny vocab (3000): Chinese stays near one token per character (rare characters fall back to three
    # bytes), English words still merge into multi-letter pieces. Real text: the ratios are the corpus's.
    tok = corpus_tokenizer
    zh = "".join(mixed_texts[200:300])[:20000]  # novel + medical forum
    en = "".join(mixed_texts[-60:])[:20000]  # BBC news
    assert len(tok.encode(zh)) / len(zh) < 1.1
    assert len(tok.encode(en)) / len(en) < 0.7


def test_save_load_fingerprint(small_tokenizer, tmp_path):
    small_tokenizer.save(tmp_path)
    assert (tmp_path / MODEL_FILE).is_file()
    vocab = (tmp_path / VOCAB_FILE).read_text(encoding="utf-8").split("\n")
    assert len(vocab) == small_tokenizer.vocab_size + 1 and vocab[1].startswith("<s>\t")
    assert "\\n\t0" in vocab and "\\t\t0" in vocab  # layout pieces escaped
    for path in (tmp_path, tmp_path / MODEL_FILE):
        loaded = Tokenizer.load(path)
        assert loaded.fingerprint() == small_tokenizer.fingerprint()
        assert loaded.encode("春眠不觉晓") == small_tokenizer.encode("春眠不觉晓")


def test_training_is_deterministic(synth_texts, tmp_path):
    a = train_tokenizer(synth_texts[::2], tmp_path / "a", vocab_size=2500, seed=3, character_coverage=0.98)
    b = train_tokenizer(synth_texts[::2], tmp_path / "b", vocab_size=2500, seed=3, character_coverage=0.98)
    assert a.fingerprint() == b.fingerprint()
    assert (tmp_path / "a" / MODEL_FILE).read_bytes() == (tmp_path / "b" / MODEL_FILE).read_bytes()


def test_load_errors(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer model"):
        Tokenizer.load(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"not a model")
    with pytest.raises(TokenizerError, match="not a SentencePiece model"):
        Tokenizer.load(tmp_path)


def test_train_errors(tmp_path):
    with pytest.raises(TokenizerError, match="no training text"):
        train_tokenizer(["", "  \n"], tmp_path, vocab_size=1000)
    with pytest.raises(TokenizerError, match="too small"):
        train_tokenizer(["abc"], tmp_path, vocab_size=100)
    with pytest.raises(TokenizerError, match="unknown character set"):
        required_chars(["klingon"])


def test_required_char_sets_sizes():
    assert len(required_chars(["hangul_ksx1001"])) == 2350
    assert len(required_chars(["gb2312_level1"])) == 3755
