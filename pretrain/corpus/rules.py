"""Rule filters in the spirit of C4 and Gopher, adapted to unsegmented Chinese (WeLM §2).

One small filter per rule, so each one's counts and drop reason stand alone in the summary. Ratios are
over non-blank characters or over lines, never over whitespace words (Chinese has none).

Drop reasons, one per filter: too_short, too_few_cjk, mojibake, boilerplate, repeated_lines,
too_many_symbols, too_much_punctuation, source_code, offensive.
"""

from __future__ import annotations

import re
from collections import Counter
from importlib import resources
from pathlib import Path

from datatrove.data import Document

from weprompt.pretrain.corpus.base import DocFilter
from weprompt.pretrain.corpus.config import RulesConfig
from weprompt.pretrain.corpus.text import BLANK, HAN, MOJIBAKE_RE, PUNCT, SYMBOL, class_counts, count_nonblank

# Package data (pyproject declares it), found the same way in a checkout and in an installed wheel.
DEFAULT_OFFENSIVE = Path(str(resources.files("weprompt.pretrain.corpus").joinpath("offensive_words.txt")))

# Boilerplate and placeholder lines of web pages and e-book sites (C4 drops "lorem ipsum" pages and lines
# about cookies/JavaScript; the Chinese ones are their usual counterparts).
BOILERPLATE_RE = re.compile(
    "|".join(
        [
            r"版权所有",
            r"all rights reserved",
            r"copyright\s*(©|\(c\)|\d{4})",
            r"点击(这里|此处|查看|进入|下载|阅读)",
            r"(扫描|扫一扫|长按).{0,6}二维码",
            r"关注(我们|公众号|微信)",
            r"(免费|立即|注册|登录|登陆)(下载|注册|登录|账号)",
            r"(上一[篇页章]|下一[篇页章])\s*[:：]?",
            r"返回(首页|顶部|目录)",
            r"本站(声明|提示|地址|域名)",
            r"(免责声明|隐私政策|使用条款|联系我们)",
            r"(更多|最新)(精彩|资讯|内容).{0,4}(请|敬请|访问)",
            r"javascript",
            r"cookies?\s+(policy|settings|to\s)",
            r"lorem ipsum",
            r"(此处|以下)省略",
            r"(暂无|待补充|待完善)(内容|简介|数据)",
            r"\[(图片|视频|广告)\]",
            r"www\.[a-z0-9-]+\.(com|net|cn|org)",
        ]
    ),
    re.IGNORECASE,
)

# Substrings one of which every boilerplate pattern contains (checked with `in`, at C speed, before the
# regex runs: almost no document has any, and the regex costs 10x more).
BOILERPLATE_TRIGGERS = (
    "版权", "rights", "copyright", "点击", "二维码", "关注", "下载", "注册", "登录", "登陆", "上一", "下一",
    "返回", "本站", "免责", "隐私", "条款", "联系我们", "更多", "最新", "javascript", "cookie", "lorem",
    "省略", "暂无", "待补充", "待完善", "[图片]", "[视频]", "[广告]", "www.",
)  # fmt: skip
# Characters one of which every code-line pattern needs (ASCII ; { } < > $ = or an opening parenthesis),
# except bare "import x" / "class X:" lines, which alone never reach the code-line ratio.
CODE_TRIGGERS = (";", "{", "}", "<", ">", "$", "=", "(")

# A line that looks like source code: statement endings, braces, keywords, tags.
CODE_LINE_RE = re.compile(
    r"(^\s*(#include|import\s+\w|from\s+\w+\s+import|def\s+\w+\(|class\s+\w+[:(]|public\s|private\s|"
    r"function\s*\w*\(|var\s+\w+\s*=|let\s+\w+\s*=|const\s+\w+\s*=|return\b.*;|if\s*\(.*\)\s*\{|"
    r"for\s*\(.*;.*\)|<\/?(div|span|script|html|body|td|tr|p)\b|\}\s*else|SELECT\s.+\sFROM\s))"
    r"|([{};]\s*$)|(\w+\.\w+\(.*\);)|(=>|===|!==|\+\+;|\$[A-Za-z_]\w*\s*=)"
)


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


class MinLengthFilter(DocFilter):
    name = "rule_length"

    def __init__(self, min_chars: int, stats_dir=None):
        super().__init__(stats_dir)
        self.min_chars = min_chars

    def decide(self, doc: Document) -> str | None:
        return "too_short" if count_nonblank(doc.text) < self.min_chars else None


class CjkRatioFilter(DocFilter):
    """Only for documents identified as Chinese: too few Han characters means markup, lists, or noise."""

    name = "rule_cjk"

    def __init__(self, min_ratio: float, stats_dir=None):
        super().__init__(stats_dir)
        self.min_ratio = min_ratio

    def decide(self, doc: Document) -> str | None:
        if doc.metadata.get("lang") != "zh":
            return None
        c = class_counts(doc.text)
        n = len(doc.text) - int(c[BLANK])
        return "too_few_cjk" if n and c[HAN] / n < self.min_ratio else None


class MojibakeFilter(DocFilter):
    """Replacement characters, private-use characters, or Latin-1 runs from text decoded as the wrong codec."""

    name = "rule_mojibake"

    def __init__(self, max_hits: int, stats_dir=None):
        super().__init__(stats_dir)
        self.max_hits = max_hits

    def decide(self, doc: Document) -> str | None:
        hits = 0
        for _ in MOJIBAKE_RE.finditer(doc.text):
            hits += 1
            if hits > self.max_hits:
                return "mojibake"
        return None


class BoilerplateFilter(DocFilter):
    name = "rule_boilerplate"

    def __init__(self, max_line_ratio: float, stats_dir=None):
        super().__init__(stats_dir)
        self.max_line_ratio = max_line_ratio

    def decide(self, doc: Document) -> str | None:
        low = doc.text.lower()
        if not any(t in low for t in BOILERPLATE_TRIGGERS):
            return None
        # One regex pass over the whole text (a pass per line costs 10x more); hits map to line numbers.
        hit_lines = {doc.text.count("\n", 0, m.start()) for m in BOILERPLATE_RE.finditer(doc.text)}
        if not hit_lines:
            return None
        n_lines = sum(1 for ln in doc.text.split("\n") if ln.strip())
        return "boilerplate" if n_lines and len(hit_lines) / n_lines > self.max_line_ratio else None


class RepetitionFilter(DocFilter):
    """Gopher's duplicate-line rules: share of lines that repeat, share of characters in repeated lines."""

    name = "rule_repetition"

    def __init__(self, max_line_ratio: float, max_char_ratio: float, stats_dir=None):
        super().__init__(stats_dir)
        self.max_line_ratio = max_line_ratio
        self.max_char_ratio = max_char_ratio

    def decide(self, doc: Document) -> str | None:
        lines = _lines(doc.text)
        if len(lines) < 3:
            return None
        counts = Counter(lines)
        dup_lines = sum(c - 1 for c in counts.values() if c > 1)
        dup_chars = sum(len(ln) * (c - 1) for ln, c in counts.items() if c > 1)
        total_chars = sum(len(ln) for ln in lines)
        if dup_lines / len(lines) > self.max_line_ratio or dup_chars / total_chars > self.max_char_ratio:
            return "repeated_lines"
        return None


class SymbolRatioFilter(DocFilter):
    """Symbols (Unicode S*: emoji, math, box drawing, currency) and punctuation (P*) per non-blank char."""

    name = "rule_symbols"

    def __init__(self, max_symbol_ratio: float, max_punct_ratio: float, stats_dir=None):
        super().__init__(stats_dir)
        self.max_symbol_ratio = max_symbol_ratio
        self.max_punct_ratio = max_punct_ratio

    def decide(self, doc: Document) -> str | None:
        c = class_counts(doc.text)
        n = len(doc.text) - int(c[BLANK])
        if not n:
            return None
        if c[SYMBOL] / n > self.max_symbol_ratio:
            return "too_many_symbols"
        if c[PUNCT] / n > self.max_punct_ratio:
            return "too_much_punctuation"
        return None


class CodeFilter(DocFilter):
    name = "rule_code"

    def __init__(self, max_line_ratio: float, stats_dir=None):
        super().__init__(stats_dir)
        self.max_line_ratio = max_line_ratio

    def decide(self, doc: Document) -> str | None:
        if not any(t in doc.text for t in CODE_TRIGGERS):
            return None
        lines = _lines(doc.text)
        if len(lines) < 2:
            return None
        code = sum(1 for ln in lines if CODE_LINE_RE.search(ln))
        return "source_code" if code / len(lines) > self.max_line_ratio else None


def load_word_list(path: str | Path | None) -> list[str]:
    path = Path(path) if path else DEFAULT_OFFENSIVE
    words = []
    for line in path.read_text(encoding="utf-8").splitlines():
        w = line.strip()
        if w and not w.startswith("#"):
            words.append(w)
    return words


def count_word_hits(text: str, words: list[str], min_hits: int) -> int:
    """Hits of the listed words (stops counting at `min_hits`).

    A plain substring test per word first (C speed; almost every document has no hit at all); Latin
    words then count whole words only ("shit" must not hit "shittim"), CJK entries count anywhere.
    """
    low = text.lower()
    hits = 0
    for w in words:
        if w in low:
            hits += len(re.findall(rf"\b{re.escape(w)}\b", low)) if w.isascii() else low.count(w)
            if hits >= min_hits:
                break
    return hits


class OffensiveFilter(DocFilter):
    name = "rule_offensive"

    def __init__(self, words_file: str = "", min_hits: int = 2, stats_dir=None):
        super().__init__(stats_dir)
        self.words_file = words_file
        self.min_hits = min_hits
        self.words = [w.lower() for w in load_word_list(words_file or None)]

    def decide(self, doc: Document) -> str | None:
        return "offensive" if count_word_hits(doc.text, self.words, self.min_hits) >= self.min_hits else None


def rule_filters(cfg: RulesConfig, stats_dir=None) -> list[DocFilter]:
    """The rule filters in pipeline order (cheapest and most decisive first)."""
    return [
        MinLengthFilter(cfg.min_chars, stats_dir),
        MojibakeFilter(cfg.max_replacement_chars, stats_dir),
        CjkRatioFilter(cfg.min_cjk_ratio, stats_dir),
        SymbolRatioFilter(cfg.max_symbol_ratio, cfg.max_punct_ratio, stats_dir),
        BoilerplateFilter(cfg.max_boilerplate_line_ratio, stats_dir),
        RepetitionFilter(cfg.max_dup_line_ratio, cfg.max_dup_line_char_ratio, stats_dir),
        CodeFilter(cfg.max_code_line_ratio, stats_dir),
        OffensiveFilter(cfg.offensive_words_file, cfg.offensive_min_hits, stats_dir),
    ]
