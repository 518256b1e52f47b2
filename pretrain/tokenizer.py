"""SentencePiece tokenizer: exact round trip for any text, byte fallback, BOS/EOS/PAD.

`decode(encode(x)) == x` for every Python string without surrogates: the model is trained with identity
normalization, no dummy prefix, no whitespace collapsing and byte fallback, and "\\n" / "\\t" are
user-defined pieces so that layout survives. One character needs help from this wrapper: SentencePiece
writes a space as U+2581 ("▁") and decodes every "▁" back to a space, so a literal "▁" in the input is
encoded here as its three UTF-8 byte pieces, which decode to "▁" itself.

Ids: 0 <unk>, 1 <s> (BOS), 2 </s> (EOS), 3 <pad> (PAD, distinct from EOS), then the byte pieces.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import sentencepiece as spm

from weprompt.common.atomic import atomic_write_bytes, atomic_write_text
from weprompt.common.errors import UserError

MODEL_FILE = "tokenizer.model"
VOCAB_FILE = "tokenizer.vocab"
META_FILE = "tokenizer.json"
UNK_ID, BOS_ID, EOS_ID, PAD_ID = 0, 1, 2, 3
META_SPACE = "\u2581"
# Layout characters kept as single pieces, so newlines, tabs and CRs never fall back to bytes.
LAYOUT_SYMBOLS = ["\n", "\t", "\r"]
# Training "sentences" longer than this are cut: SentencePiece skips over-long sentences silently.
TRAIN_CHUNK_CHARS = 1000


class TokenizerError(UserError):
    """A tokenizer file that is missing or unreadable, or a bad training request."""


def _char_range(lo: int, hi: int) -> str:
    return "".join(chr(c) for c in range(lo, hi + 1))


def _hangul_ksx1001() -> str:
    # The 2,350 Hangul syllables of KS X 1001 are exactly those EUC-KR can encode: a fixed, data-free
    # list of the common syllables (all 11,172 would not fit a small vocabulary).
    out = []
    for c in range(0xAC00, 0xD7A4):
        # Python's codec spells the other syllables as 8-byte jamo sequences; KS X 1001 ones take 2 bytes.
        if len(chr(c).encode("euc_kr")) == 2:
            out.append(chr(c))
    return "".join(out)


def _gb2312_level1() -> str:
    # GB2312 level 1: the 3,755 most common simplified characters (rows 16-55).
    out = []
    for row in range(0xB0, 0xD8):
        for col in range(0xA1, 0xFF):
            try:
                out.append(bytes([row, col]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return "".join(out)


# Named character sets that are always in the vocabulary, whatever the corpus holds (WeLM covers Chinese,
# English, Japanese and Korean; the shared corpus has no Japanese or Korean text).
CHAR_SETS = {
    "ascii": lambda: _char_range(0x21, 0x7E),
    "cjk_punct": lambda: _char_range(0x3001, 0x3011) + _char_range(0xFF01, 0xFF5E),
    "kana": lambda: _char_range(0x3041, 0x3096) + _char_range(0x30A1, 0x30FA) + "ー",
    "hangul_jamo": lambda: _char_range(0x3131, 0x318E),
    "hangul_ksx1001": _hangul_ksx1001,
    "gb2312_level1": _gb2312_level1,
}


def required_chars(sets: Iterable[str]) -> str:
    chars: dict[str, None] = {}
    for name in sets:
        if name not in CHAR_SETS:
            raise TokenizerError(f"unknown character set '{name}'; choose from {sorted(CHAR_SETS)}")
        chars.update(dict.fromkeys(CHAR_SETS[name]()))
    return "".join(chars)


_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"})


def _escape(piece: str) -> str:
    return piece.translate(_ESCAPES)


class Tokenizer:
    """A loaded SentencePiece model plus the conventions above."""

    def __init__(self, model_proto: bytes, num_threads: int = 2):
        self._proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.num_threads = num_threads
        self.vocab_size: int = self.sp.get_piece_size()
        self.unk_id: int = self.sp.unk_id()
        self.bos_id: int = self.sp.bos_id()
        self.eos_id: int = self.sp.eos_id()
        self.pad_id: int = self.sp.pad_id()
        if min(self.bos_id, self.eos_id, self.pad_id) < 0 or self.pad_id == self.eos_id:
            raise TokenizerError("tokenizer model lacks BOS/EOS/PAD ids or has PAD == EOS; retrain it")
        self._meta_bytes = [self.sp.piece_to_id(f"<0x{b:02X}>") for b in META_SPACE.encode("utf-8")]
        if any(i == self.unk_id for i in self._meta_bytes):
            raise TokenizerError("tokenizer model was trained without byte fallback; retrain it")

    # -- files ---------------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path, num_threads: int = 2) -> Tokenizer:
        """`path` is a directory holding tokenizer.model, or the .model file itself."""
        path = Path(path)
        model = path / MODEL_FILE if path.is_dir() else path
        try:
            proto = model.read_bytes()
        except FileNotFoundError as e:
            raise TokenizerError(f"no tokenizer model at {model}") from e
        try:
            return cls(proto, num_threads=num_threads)
        except RuntimeError as e:
            raise TokenizerError(f"{model}: not a SentencePiece model ({e})") from e

    def save(self, out_dir: str | Path) -> Path:
        """Write tokenizer.model, tokenizer.vocab and tokenizer.json beside it.

        tokenizer.vocab has one line per id: `piece<TAB>score`, with backslash, newline, tab and CR in a
        piece written as \\\\, \\n, \\t, \\r (the layout pieces would otherwise break the line format).
        """
        out_dir = Path(out_dir)
        atomic_write_bytes(out_dir / MODEL_FILE, self._proto)
        vocab = "".join(
            f"{_escape(self.sp.id_to_piece(i))}\t{self.sp.get_score(i):g}\n" for i in range(self.vocab_size)
        )
        atomic_write_text(out_dir / VOCAB_FILE, vocab)
        meta = {
            "vocab_size": self.vocab_size,
            "unk_id": self.unk_id,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "pad_id": self.pad_id,
            "fingerprint": self.fingerprint(),
        }
        atomic_write_text(out_dir / META_FILE, json.dumps(meta, indent=1) + "\n")
        return out_dir / MODEL_FILE

    def fingerprint(self) -> str:
        """sha256 of the model bytes: shards and checkpoints record it and refuse a different tokenizer."""
        return hashlib.sha256(self._proto).hexdigest()

    # -- encode / decode -----------------------------------------------------------------------------

    def _wrap(self, ids: list[int], add_bos: bool, add_eos: bool) -> list[int]:
        if add_bos:
            ids.insert(0, self.bos_id)
        if add_eos:
            ids.append(self.eos_id)
        return ids

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        return self.encode_batch([text], add_bos=add_bos, add_eos=add_eos)[0]

    def encode_batch(self, texts: list[str], add_bos: bool = False, add_eos: bool = False) -> list[list[int]]:
        """Encode many texts with SentencePiece's thread pool (one C++ call for the whole batch)."""
        if not texts:
            return []
        # Texts with a literal "▁" are split on it; the parts go through the same batch call.
        parts: list[str] = []
        plan: list[int] = []  # per text: number of parts (1 for the common case)
        for t in texts:
            if META_SPACE in t:
                pieces = t.split(META_SPACE)
                parts.extend(pieces)
                plan.append(len(pieces))
            else:
                parts.append(t)
                plan.append(1)
        encoded = self.sp.encode(parts, num_threads=self.num_threads)
        out: list[list[int]] = []
        k = 0
        for n in plan:
            ids = encoded[k]
            for j in range(1, n):
                ids = ids + self._meta_bytes + encoded[k + j]
            k += n
            out.append(self._wrap(list(ids), add_bos, add_eos))
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Decode ids; BOS/EOS/PAD are dropped. Accepts lists or numpy arrays."""
        return self.sp.decode([int(i) for i in ids])

    def decode_batch(self, batch: list[list[int]]) -> list[str]:
        return self.sp.decode([[int(i) for i in ids] for ids in batch], num_threads=self.num_threads)

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(int(i))

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, fingerprint={self.fingerprint()[:12]})"


def training_sentences(texts: Iterable[str], max_chars: int | None, seed: int) -> list[str]:
    """Cut documents into lines (chunked to TRAIN_CHUNK_CHARS), then a seeded sample up to `max_chars`.

    SentencePiece learns pieces inside sentences; "\\n" is a user-defined piece, so splitting on newlines
    loses nothing, and sampling here (not with SentencePiece's own shuffle) keeps training deterministic.
    """
    lines: list[str] = []
    for text in texts:
        for line in text.split("\n"):
            for i in range(0, len(line), TRAIN_CHUNK_CHARS):
                chunk = line[i : i + TRAIN_CHUNK_CHARS]
                if chunk.strip():
                    lines.append(chunk)
    total = sum(len(x) for x in lines)
    if max_chars is None or total <= max_chars:
        return lines
    rng = random.Random(seed)
    order = list(range(len(lines)))
    rng.shuffle(order)
    keep, used = [], 0
    for i in order:
        if used >= max_chars:
            break
        keep.append(i)
        used += len(lines[i])
    return [lines[i] for i in sorted(keep)]


def _iter(lines: list[str]) -> Iterator[str]:
    yield from lines


def train_tokenizer(
    texts: Iterable[str],
    out_dir: str | Path,
    vocab_size: int,
    seed: int = 0,
    model_type: str = "bpe",
    character_coverage: float = 0.9995,
    char_sets: Iterable[str] = ("ascii", "cjk_punct", "kana", "hangul_jamo"),
    max_chars: int | None = 50_000_000,
    num_threads: int = 2,
    split_digits: bool = True,
    max_piece_length: int = 16,
) -> Tokenizer:
    """Train SentencePiece on `texts` and save it into `out_dir` (tokenizer.model + vocab + json)."""
    if vocab_size < 300:
        raise TokenizerError(f"vocab_size {vocab_size} is too small (needs 4 specials + 256 bytes + pieces)")
    if not 0.98 <= character_coverage <= 1.0:
        raise TokenizerError(
            f"character_coverage must be in [0.98, 1.0] (SentencePiece), got {character_coverage}"
        )
    if model_type not in ("unigram", "bpe"):
        raise TokenizerError(f"model_type must be 'unigram' or 'bpe', got {model_type!r}")
    sentences = training_sentences(texts, max_chars, seed)
    if not sentences:
        raise TokenizerError("no training text for the tokenizer (empty corpus?)")
    spm.set_random_generator_seed(seed)
    model = _ModelBuffer()
    t0 = time.perf_counter()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=_iter(sentences),
            model_writer=model,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=character_coverage,
            required_chars=required_chars(char_sets),
            normalization_rule_name="identity",
            add_dummy_prefix=False,
            remove_extra_whitespaces=False,
            allow_whitespace_only_pieces=True,
            split_digits=split_digits,
            byte_fallback=True,
            user_defined_symbols=LAYOUT_SYMBOLS,
            unk_id=UNK_ID,
            bos_id=BOS_ID,
            eos_id=EOS_ID,
            pad_id=PAD_ID,
            input_sentence_size=0,
            max_sentence_length=4 * TRAIN_CHUNK_CHARS + 16,
            max_sentencepiece_length=max_piece_length,
            num_threads=num_threads,
            hard_vocab_limit=True,
            minloglevel=2,
        )
    except RuntimeError as e:
        raise TokenizerError(f"SentencePiece training failed: {e}") from e
    tok = Tokenizer(model.getvalue(), num_threads=num_threads)
    tok.train_seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    tok.save(out_dir)
    return tok


class _ModelBuffer:
    """The file-like `model_writer` SentencePiece wants (it calls write() once with the proto bytes)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> None:
        self._chunks.append(bytes(data))

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)
