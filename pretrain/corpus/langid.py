"""Language identification with langdetect (WeLM §2): keep Chinese, and English for the balancing step.

langdetect is slow (about 2 ms a call) and random; it sees a bounded sample of each document (up to three
evenly spaced windows, `sample_chars` in all) and runs seeded (`DetectorFactory.seed`), so the same
document always gets the same answer.

Script guard (measured on this corpus, see docs/corpus.md): langdetect's Korean and Japanese profiles
also hold Han characters, so about half of the classical poems come back as "ko", and short Chinese
titles with a formula in Latin letters as "vi" or "pl". A sample with more Han characters than Latin words
and no Hangul or kana is Chinese by its script; with the guard on, such samples are labelled "zh"
without asking langdetect (whose answer would be overridden anyway), and everything else goes to
langdetect. `script_guard: false` gives plain langdetect. The English share cap (13 % of tokens) needs token counts of the
whole cleaned corpus, so it is applied by the balancing step, not here.

Drop reasons: `lang_<code>` (e.g. lang_ja, lang_fr) for a language not kept, `lang_unknown` when langdetect
finds no features (digits or symbols only).
"""

from __future__ import annotations

from datatrove.data import Document

from weprompt.pretrain.corpus.base import DocFilter
from weprompt.pretrain.corpus.text import HAN_RE, HANGUL_RE, KANA_RE, LATIN_WORD_RE


def sample_text(text: str, sample_chars: int) -> str:
    if len(text) <= sample_chars:
        return text
    w = sample_chars // 3
    mid = (len(text) - w) // 2
    return "\n".join((text[:w], text[mid : mid + w], text[len(text) - w :]))


def normalize_code(code: str) -> str:
    return "zh" if code.startswith("zh") else code


def is_han_script(sample: str) -> bool:
    """More Han characters than Latin words (a Han character carries about a word), no Hangul or kana."""
    han = len(HAN_RE.findall(sample))
    if not han or HANGUL_RE.search(sample) or KANA_RE.search(sample):
        return False
    return han >= len(LATIN_WORD_RE.findall(sample))


class LanguageFilter(DocFilter):
    name = "lang_id"

    def __init__(
        self,
        keep: list[str],
        sample_chars: int = 300,
        seed: int = 0,
        script_guard: bool = True,
        stats_dir=None,
    ):
        super().__init__(stats_dir)
        self.keep = set(keep)
        self.sample_chars = sample_chars
        self.seed = seed
        self.script_guard = script_guard
        self._factory = None

    def _detector_factory(self):
        if self._factory is None:
            import langdetect.detector_factory as df

            df.DetectorFactory.seed = self.seed
            df.init_factory()
            self._factory = df._factory
        return self._factory

    def detect(self, text: str) -> str:
        from langdetect.lang_detect_exception import LangDetectException

        sample = sample_text(text, self.sample_chars)
        if self.script_guard and is_han_script(sample):
            self.note("zh_by_script")
            return "zh"
        det = self._detector_factory().create()
        det.append(sample)
        try:
            code = normalize_code(det.detect())
        except LangDetectException:
            return "unknown"
        self.note("langdetect_calls")
        return code

    def decide(self, doc: Document) -> str | None:
        lang = self.detect(doc.text)
        doc.metadata["lang"] = lang
        return None if lang in self.keep else f"lang_{lang}"
