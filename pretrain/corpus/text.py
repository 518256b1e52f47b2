"""Character classes and hashing shared by the filters, dedup and decontamination.

Chinese is unsegmented, so every measure here is per character, never per whitespace word. Counting is
done with compiled regexes / str.translate (C speed) and n-gram hashing with numpy, because per-character
Python loops would dominate the pipeline's run time.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache

import numpy as np

# Han ideographs: CJK Unified (+ Ext A), compatibility ideographs, Ext B-H (astral).
HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
HANGUL_RE = re.compile("[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
# Kana proper: not U+30FB "・" (katakana middle dot), which Chinese text uses as a separator.
KANA_RE = re.compile("[\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
LATIN_WORD_RE = re.compile("[A-Za-z\u00c0-\u024f]+")
# Mojibake: U+FFFD; runs of private-use characters (one isolated PUA character is a common paragraph
# mark in GBK-era news, not damage); UTF-8 read as Latin-1 (a lead byte U+00C2-U+00F4 followed by a
# continuation byte U+0080-U+00BF, as in "Ã©"); runs of 4+ Latin-1 high characters (GBK read as Latin-1).
MOJIBAKE_RE = re.compile("\ufffd|[\ue000-\uf8ff]{2,}|[\u00c2-\u00f4][\u0080-\u00bf]|[\u0080-\u00ff]{4,}")

# Character classes, one byte per code point, so that counting is a numpy gather + bincount.
OTHER, BLANK, PUNCT, SYMBOL, HAN, LATIN, DIGIT = range(7)
N_CLASSES = 7


@lru_cache(maxsize=1)
def class_table() -> np.ndarray:
    """uint8 class of every code point (built once per process, about 0.5 s; forked workers inherit it)."""
    table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        if cat[0] == "Z" or cat == "Cc" or ch.isspace():
            table[cp] = BLANK
        elif cat[0] == "P":
            table[cp] = PUNCT
        elif cat[0] == "S":
            table[cp] = SYMBOL
    for lo, hi in ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F)):
        table[lo : hi + 1] = HAN
    table[ord("A") : ord("Z") + 1] = LATIN
    table[ord("a") : ord("z") + 1] = LATIN
    table[ord("0") : ord("9") + 1] = DIGIT
    return table


def codepoints32(text: str) -> np.ndarray:
    """Code points as uint32 ('surrogatepass' keeps a lone surrogate instead of raising)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def class_counts(text: str) -> np.ndarray:
    """How many characters of each class (index with BLANK, PUNCT, SYMBOL, HAN, LATIN, DIGIT, OTHER)."""
    return np.bincount(class_table()[codepoints32(text)], minlength=N_CLASSES)


def strip_blank_punct(text: str) -> str:
    """The text with every blank, control and punctuation character removed (the dedup/decontam key)."""
    cps = codepoints32(text)
    cls = class_table()[cps]
    return cps[(cls != BLANK) & (cls != PUNCT)].tobytes().decode("utf-32-le", "surrogatepass")


def count_han(text: str) -> int:
    return int(class_counts(text)[HAN])


def count_nonblank(text: str) -> int:
    return len(text) - int(class_counts(text)[BLANK])


# -- n-gram hashing ------------------------------------------------------------------------------------

_BASE = np.uint64(0x100000001B3)  # FNV prime as the polynomial base
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def codepoints(text: str) -> np.ndarray:
    return codepoints32(text).astype(np.uint64)


def mix64(h: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: spreads a hash over all 64 bits (SimHash needs every bit)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint64(30))
        h = h * _M1
        h = h ^ (h >> np.uint64(27))
        h = h * _M2
        return h ^ (h >> np.uint64(31))


def ngram_hashes(text_or_cps: str | np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every character n-gram (uint64, one per start position; empty if too short)."""
    cps = codepoints(text_or_cps) if isinstance(text_or_cps, str) else text_or_cps
    m = len(cps) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):  # arithmetic wraps modulo 2**64, which is what a hash wants
            h = h * _BASE + cps[k : k + m]
        return mix64(h)


_RUN_FLAG = np.uint64(1 << 63)


def units(text: str, keep_nul: bool = False) -> np.ndarray:
    """Decontamination units (uint64): every non-blank, non-punctuation character is one unit (its code
    point), except that a run of ASCII letters/digits is one unit (a hash of the lowercased run, top bit
    set). So a Chinese character and an English word weigh the same, and 17 units of English are 17
    words, not 17 letters (which common phrases would share everywhere). NUL separators stay if asked.
    """
    cps = codepoints32(text)
    cls = class_table()[cps]
    keep = (cls != BLANK) & (cls != PUNCT)
    if keep_nul:
        keep |= cps == 0
    alnum = (cls == LATIN) | (cls == DIGIT)
    out = cps.astype(np.uint64)
    if alnum.any():
        low = np.where(cls == LATIN, cps | 0x20, cps).astype(np.uint64)  # ASCII lowercase
        start = alnum & ~np.concatenate([[False], alnum[:-1]])
        run_id = np.cumsum(start) - 1
        idx = np.flatnonzero(alnum)
        starts = np.flatnonzero(start)
        pos = idx - starts[run_id[idx]]  # position inside its run
        with np.errstate(over="ignore"):
            powers = np.ones(int(pos.max()) + 1, dtype=np.uint64)
            for k in range(1, len(powers)):
                powers[k] = powers[k - 1] * _BASE
            # Runs are contiguous in `idx`, so one reduceat sums each run's terms.
            run_hash = np.add.reduceat(low[idx] * powers[pos], np.flatnonzero(pos == 0))
        out[starts] = mix64(run_hash) | _RUN_FLAG
        keep &= ~alnum | start
    return out[keep]


_BYTE_BITS = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
    np.int64
)


def simhash(text_or_cps: str | np.ndarray, shingle: int) -> int | None:
    """64-bit SimHash over the set of character shingles; None if there are none.

    Each distinct shingle counts once: with occurrence counts, a run of placeholder characters
    ("□□□□□" for lost characters in old poems) outweighed the text and gave unrelated poems one
    fingerprint (a 33-document false cluster in the near-dup evaluation).

    Bit counts come from a 256-bin histogram of each of the 8 bytes of the shingle hashes times a
    byte->bits table: 8 bincounts instead of a (shingles x 64) bit matrix.
    """
    hs = np.unique(ngram_hashes(text_or_cps, shingle))
    if len(hs) == 0:
        return None
    as_bytes = hs.view(np.uint8).reshape(-1, 8)
    ones = np.concatenate([np.bincount(as_bytes[:, k], minlength=256) @ _BYTE_BITS for k in range(8)])
    fingerprint = (2 * ones > len(hs)).astype(np.uint8)
    return int(np.packbits(fingerprint, bitorder="little").view("<u8")[0])


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()
