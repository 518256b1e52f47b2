"""Our SentencePiece model as a Hugging Face fast tokenizer that encodes and decodes exactly like `Tokenizer`.

transformers' own SentencePiece conversion (LlamaConverter / SpmConverter) changes whitespace for our
models: it prepends a "▁" (dummy prefix) unless told otherwise, maps a literal "▁" in the text to a space,
matches the text "<s>" / "</s>" as control tokens, and (Unigram) lets the text "<0x41>" match a byte
piece. None of that is what `Tokenizer.encode` does. So the tokenizer.json is built here from the proto,
with `tokenizers` objects only (configuration, no custom code):

- pieces are stored with real spaces instead of "▁" and there is no normalizer or pre-tokenizer: the
  text is matched as it is. A literal "▁" is then in no piece and falls back to its three UTF-8 bytes,
  exactly the wrapper's rule (pretrain/tokenizer.py);
- byte fallback on; decoder = ByteFallback + Fuse (no Strip, no Replace);
- user-defined pieces ("\\n", "\\t", "\\r") are non-special added tokens (SentencePiece never merges
  across them either); control pieces are special added tokens, and `split_special_tokens=True` makes
  the text "<s>" plain text, as in SentencePiece;
- BPE: merges are every split (l, r) of a piece into two pieces, ranked by the piece's score, so the
  merge order is SentencePiece's; Unigram: same scores, except that control / byte / unknown pieces
  (which SentencePiece never matches against text) get a score no segmentation of their own text can lose
  to, so the lattice never picks them.

`check_representable` refuses models whose behaviour these settings cannot reproduce (normalization
rules, a dummy prefix, unused pieces, ...), and the exporter verifies the written files by encoding a
probe set with `AutoTokenizer` (`parity_mismatches`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from weprompt.pretrain.hf import InteropError

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE = 1, 2
META_SPACE = "\u2581"
TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
# Unigram: reserved pieces sit this far below the best segmentation of their own text.
_RESERVED_MARGIN = 1000.0

# Strings whose encoding is checked at export and import: layout, whitespace runs, byte fallback,
# control-token look-alikes, the literal "▁", mixed scripts.
PROBES = [
    "",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    " \t \n  \n\n\t\t  x",
    "a" + " " * 9 + "b" + " " * 17 + "c",
    "\u2581",
    "a\u2581b \u2581\u2581 c\u2581",
    "<s></s><pad><unk> <s>x</s>",
    "<0x41><0xE2> <0x0A>",
    "今天天气不错，我们去公园散步吧。\n问题：答案是什么？\n答案：",
    "WeLM is a Chinese LM. It's 10,000,000 tokens; 3.14159!",
    "emoji 😀🤖, rare 𠀀𪚥 龘, Hangul 한국어, kana かなカナ, ε=mc²",
    "\u00a0\u3000\u200b\ufeff zero-width and odd spaces",
    "mixed\ttabs\tand  spaces  \n\n  indented\n\t- item",
]


def parse_proto(data: bytes):
    from sentencepiece import sentencepiece_model_pb2 as pb

    # protobuf builds the message classes at import time, so the module has no static ModelProto.
    m = pb.ModelProto()  # type: ignore[attr-defined]
    try:
        m.ParseFromString(data)
    except Exception as e:  # protobuf DecodeError
        raise InteropError(f"not a SentencePiece model: {e}") from e
    return m


def check_representable(m, where: str) -> None:
    """Raise InteropError naming each setting of proto `m` that the fast tokenizer cannot reproduce."""
    problems = []
    ts, ns = m.trainer_spec, m.normalizer_spec
    if ts.model_type not in (UNIGRAM, BPE):
        problems.append(f"model type {ts.model_type} (only Unigram and BPE have a tokenizers equivalent)")
    if not ts.byte_fallback:
        problems.append("no byte fallback")
    if ns.precompiled_charsmap or ns.name not in ("identity", ""):
        problems.append(f"normalization rule '{ns.name}' (only 'identity' is supported)")
    if ns.add_dummy_prefix:
        problems.append("add_dummy_prefix=true")
    if ns.remove_extra_whitespaces:
        problems.append("remove_extra_whitespaces=true")
    if not ns.escape_whitespaces:
        problems.append("escape_whitespaces=false")
    types = [p.type for p in m.pieces]
    if UNUSED in types:
        problems.append(f"{types.count(UNUSED)} unused pieces")
    if types.count(UNKNOWN) != 1:
        problems.append(f"{types.count(UNKNOWN)} unknown pieces (need exactly one)")
    for i, p in enumerate(m.pieces):
        if p.type in (NORMAL, USER_DEFINED) and " " in p.piece:
            problems.append(f"piece {i} {p.piece!r} holds a literal space")
    have = {p.piece for p in m.pieces if p.type in (NORMAL, USER_DEFINED)}
    if ts.model_type == UNIGRAM:
        # Every character of a piece must be a piece itself: then the unknown-token score, which
        # tokenizers derives differently from SentencePiece, never decides between two segmentations.
        missing = sorted({c for p in have for c in p if c not in have})
        if missing:
            problems.append(f"characters inside pieces that are not pieces themselves: {missing[:10]}")
        reserved_chars = {c for p in m.pieces if p.type in (CONTROL, BYTE, UNKNOWN) for c in p.piece}
        absent = sorted(c for c in reserved_chars if c not in have)
        if absent:
            problems.append(f"characters of control/byte piece names missing from the vocabulary: {absent}")
    if problems:
        raise InteropError(
            f"{where}: the tokenizer cannot be represented faithfully as a Hugging Face fast tokenizer: "
            + "; ".join(problems)
        )


def _hf_piece(p) -> str:
    return p.piece.replace(META_SPACE, " ") if p.type in (NORMAL, USER_DEFINED) else p.piece


def _bpe_merges(m, pieces: list[str]) -> list[tuple[str, str]]:
    """Every (left, right) whose concatenation is a piece, best score first (SentencePiece's BPE order).

    Ties between splits of one piece go to the longer left part: SentencePiece merges the leftmost of
    equal-score pairs, which leaves runs of one character packed to the left ([▁▁][▁][▁▁] → [▁▁▁][▁▁])."""
    mergeable = {pieces[i]: i for i, p in enumerate(m.pieces) if p.type == NORMAL}
    ranked = []
    for piece, i in mergeable.items():
        score = m.pieces[i].score
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in mergeable and right in mergeable:
                ranked.append((-score, i, -cut, left, right))
    ranked.sort()
    return [(left, right) for *_, left, right in ranked]


def _unigram_vocab(m, pieces: list[str]) -> list[tuple[str, float]]:
    scores = {pieces[i]: p.score for i, p in enumerate(m.pieces) if p.type == NORMAL}
    worst_alternative = 0.0
    for p in m.pieces:
        if p.type in (CONTROL, BYTE, UNKNOWN):
            # Char-by-char segmentation of the reserved name bounds its best segmentation from below.
            worst_alternative = min(worst_alternative, sum(scores.get(c, 0.0) for c in p.piece))
    reserved = worst_alternative - _RESERVED_MARGIN
    return [
        (pieces[i], float(p.score) if p.type in (NORMAL, USER_DEFINED) else reserved)
        for i, p in enumerate(m.pieces)
    ]


def build_fast_tokenizer(proto: bytes, where: str = "tokenizer"):
    """A `tokenizers.Tokenizer` equivalent to `pretrain.tokenizer.Tokenizer(proto)` (see module doc)."""
    from tokenizers import AddedToken, decoders
    from tokenizers import Tokenizer as FastTokenizer
    from tokenizers.models import BPE as BPEModel
    from tokenizers.models import Model, Unigram

    m = parse_proto(proto)
    check_representable(m, where)
    pieces = [_hf_piece(p) for p in m.pieces]
    unk_id = next(i for i, p in enumerate(m.pieces) if p.type == UNKNOWN)
    model: Model
    if m.trainer_spec.model_type == BPE:
        model = BPEModel(
            vocab={p: i for i, p in enumerate(pieces)},
            merges=_bpe_merges(m, pieces),
            unk_token=pieces[unk_id],
            byte_fallback=True,
            fuse_unk=False,
            ignore_merges=False,
        )
    else:
        model = Unigram(_unigram_vocab(m, pieces), unk_id=unk_id, byte_fallback=True)
    tok = FastTokenizer(model)
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    added = []
    for i, p in enumerate(m.pieces):
        if p.type in (CONTROL, UNKNOWN, USER_DEFINED):
            special = p.type != USER_DEFINED
            added.append((i, AddedToken(pieces[i], special=special, normalized=False)))
    tok.add_tokens([t for _, t in added if not t.special])
    tok.add_special_tokens([t for _, t in added if t.special])
    tok.encode_special_tokens = True  # the text "<s>" is text, as in SentencePiece
    for i, t in added:
        if tok.token_to_id(t.content) != i:
            raise InteropError(f"{where}: added token {t.content!r} did not keep its id {i}")
    return tok


def _special(m, piece_id: int) -> str | None:
    return m.pieces[piece_id].piece if 0 <= piece_id < len(m.pieces) else None


def tokenizer_files(proto: bytes, model_max_length: int, where: str = "tokenizer") -> dict[str, str]:
    """File name → text of the transformers tokenizer files (tokenizer.json, config, special tokens)."""
    m = parse_proto(proto)
    fast = build_fast_tokenizer(proto, where)
    ts = m.trainer_spec
    specials = {
        "bos_token": _special(m, ts.bos_id),
        "eos_token": _special(m, ts.eos_id),
        "unk_token": _special(m, ts.unk_id),
        "pad_token": _special(m, ts.pad_id),
    }
    specials = {k: v for k, v in specials.items() if v is not None}
    added_decoder = {
        str(i): {
            "content": _hf_piece(p),
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "single_word": False,
            "special": p.type != USER_DEFINED,
        }
        for i, p in enumerate(m.pieces)
        if p.type in (CONTROL, UNKNOWN, USER_DEFINED)
    }
    config = {
        # TokenizersBackend in transformers 5 (PreTrainedTokenizerFast is its alias there and the class in
        # transformers 4): loads tokenizer.json as it is, unlike the gpt_neox default (a byte-level BPE).
        "tokenizer_class": "PreTrainedTokenizerFast",
        **specials,
        "add_bos_token": False,
        "add_eos_token": False,
        "add_prefix_space": False,
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": True,
        "model_max_length": model_max_length,
        "padding_side": "right",
        "added_tokens_decoder": added_decoder,
    }
    return {
        TOKENIZER_JSON: fast.to_str(pretty=True) + "\n",
        TOKENIZER_CONFIG: json.dumps(config, ensure_ascii=False, indent=2) + "\n",
        SPECIAL_TOKENS_MAP: json.dumps(specials, ensure_ascii=False, indent=2) + "\n",
    }


def parity_mismatches(ours, hf, texts: Iterable[str], limit: int = 5) -> tuple[int, list[str]]:
    """Encode / decode `texts` with our Tokenizer and a transformers tokenizer; (checked, first differences).

    Encode: `hf(text)["input_ids"]` with default arguments must equal `ours.encode(text)`.
    Decode: `hf.decode(ids, skip_special_tokens=True)` must equal `ours.decode(ids)` and the text."""
    n, bad = 0, []
    for text in texts:
        n += 1
        want = ours.encode(text)
        got = hf(text)["input_ids"]
        if got != want:
            k = next(
                (j for j, (a, b) in enumerate(zip(got, want, strict=False)) if a != b),
                min(len(got), len(want)),
            )
            bad.append(
                f"encode {text[max(0, k - 10) : k + 30]!r}…: ours {want[k : k + 6]} vs transformers {got[k : k + 6]}"
            )
        else:
            back = hf.decode(want, skip_special_tokens=True)
            if back != ours.decode(want) or back != text:
                bad.append(f"decode {text[:40]!r}…: transformers gives {back[:40]!r}")
        if len(bad) >= limit:
            break
    return n, bad
