"""Read `<corpus_dir>/<source>/*.jsonl[.gz]` into datatrove Documents, counting every bad line by reason.

The folder name is the document's source (books, news, forums, academic, ...): the unit of Table 1 and
of re-balancing. Tasks split the corpus by line (line i goes to rank i mod world_size in every file), so
two workers stay busy even though one file holds most of the text.

Bad lines never stop a run: undecodable lines, invalid JSON, a missing or empty `text` and a runaway
document (read in bounded chunks, so a multi-GB line costs no memory) are counted as drops with their
reason. A bad *file* stops it with a CorpusInputError naming the file: one that is not what its name says
(a `.jsonl.gz` that is not gzip, a `.jsonl` that is; pretrain/gzfile.py), a truncated or corrupt gzip
file (a partial corpus must not pass for a whole one), and one whose first record is not a JSON object
(binary data, plain text: counting every line of it as a drop would hide that the source is missing).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline

from weprompt.common.errors import UserError
from weprompt.common.gzfile import BinaryReader, maybe_gunzip, open_maybe_gzip
from weprompt.pretrain.corpus.base import CountedStep

READ_CHUNK = 1 << 20
# Bytes JSON text never holds unescaped (all ASCII controls but tab, LF, CR): binary data, not JSON Lines.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class CorpusInputError(UserError):
    """The corpus directory has no source files, or a file in it is not (readable) JSON Lines."""


def list_corpus_files(corpus_dir: str | Path) -> list[tuple[str, Path]]:
    """(source, file) pairs, sorted: the order that defines 'first occurrence' for deduplication."""
    corpus_dir = Path(corpus_dir)
    files = []
    for sub in sorted(p for p in corpus_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(sub.iterdir()):
            if f.is_file() and (f.name.endswith(".jsonl") or f.name.endswith(".jsonl.gz")):
                files.append((sub.name, f))
    if not files:
        raise CorpusInputError(f"{corpus_dir}: no <source>/*.jsonl[.gz] files")
    return files


def list_sources(corpus_dir: str | Path) -> list[str]:
    return sorted({s for s, _ in list_corpus_files(corpus_dir)})


def _file_stem(f: Path) -> str:
    return f.name.removesuffix(".gz").removesuffix(".jsonl")


def _lines(fh, max_bytes: int):
    """Yield (line_bytes | None, too_long) with bounded memory: an over-long line is skipped in chunks."""
    while True:
        line = fh.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while True:  # drain the rest of the runaway line
                rest = fh.readline(READ_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None, True
        else:
            yield line, False


def check_first_record(fh: BinaryReader, path: Path) -> None:
    """Refuse a file whose first non-blank line is not the start of a JSON object (binary or plain text).

    Only the buffered head is looked at (`peek`: nothing is consumed), so every rank decides alike."""
    head = fh.peek(READ_CHUNK)[:READ_CHUNK]
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if not body:
        return  # empty (or all blank so far): nothing to judge
    line_no = head[: len(head) - len(body)].count(b"\n") + 1
    first = body.split(b"\n", 1)[0]
    control = _CONTROL.search(first)
    if control:
        why = (
            f"holds the control byte {control.group()[0]:#04x}, which JSON text never contains (binary data?)"
        )
    elif not first.startswith(b"{"):
        why = f"does not start with '{{' but with {first[:24]!r} (plain text?)"
    else:
        return
    raise CorpusInputError(
        f"{path}:{line_no}: not JSON Lines: the first record {why}; "
        'each line must be a JSON object like {"text": "..."}'
    )


def check_corpus_files(corpus_dir: str | Path) -> None:
    """Before any work: every corpus file is what its name says and starts with a JSON object.

    Reads each file's first buffer only; truncation further in is found when the file is read."""
    for _, path in list_corpus_files(corpus_dir):
        with open_maybe_gzip(path, CorpusInputError) as fh:
            check_first_record(fh, path)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class CorpusReader(CountedStep):
    """Reader step. Drop reasons: invalid_utf8, invalid_json, missing_text, empty_text, invalid_unicode,
    too_long, source_not_in_balance_config; an empty file is an empty_file note, a bad file a CorpusInputError."""

    name = "read"

    def __init__(
        self,
        corpus_dir: str | Path,
        stats_dir: str | Path | None = None,
        max_doc_chars: int = 2_000_000,
        drop_sources: list[str] | None = None,
        progress: bool = False,
    ):
        super().__init__(stats_dir)
        self.corpus_dir = str(corpus_dir)
        self.max_doc_chars = max_doc_chars
        self.drop_sources = set(drop_sources or [])
        self.progress = progress

    def _bad(self, source: str, dataset: str, line_no: int, reason: str, raw: bytes | str = "") -> None:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        doc = Document(text=text, id=f"{source}/{dataset}/{line_no}", metadata={"source": source})
        self.record(doc, reason, nbytes=len(raw) if isinstance(raw, bytes) else None)

    def _parse(self, raw: bytes, source: str, dataset: str, line_no: int, order: int) -> Document | None:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._bad(source, dataset, line_no, "invalid_utf8", raw)
            return None
        if not line.strip():
            return None  # blank lines between records are not documents
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            self._bad(source, dataset, line_no, "invalid_json", line)
            return None
        if not isinstance(obj, dict):
            self._bad(source, dataset, line_no, "invalid_json", line)
            return None
        text = obj.get("text")
        if not isinstance(text, str):
            self._bad(source, dataset, line_no, "missing_text", line)
            return None
        meta = {
            "source": source,
            "dataset": dataset,
            "declared_lang": obj.get("lang", ""),
            "order": order,
        }
        doc = Document(text=text, id=f"{source}/{dataset}/{line_no}", metadata=meta)
        if not text.strip():
            reason = "empty_text"
        elif _has_lone_surrogate(text):
            reason = "invalid_unicode"  # a JSON \\ud800 escape without its pair: not encodable text
        elif len(text) > self.max_doc_chars:
            reason = "too_long"
        elif source in self.drop_sources:
            reason = "source_not_in_balance_config"
        else:
            reason = None
        self.record(doc, reason, nbytes=len(raw))
        return doc if reason is None else None

    def _read_file(self, file_idx: int, source: str, path: Path, rank: int, world_size: int, bar):
        """This rank's documents of one file (line i goes to rank i mod world_size); counts the rest."""
        dataset = _file_stem(path)
        max_bytes = 4 * self.max_doc_chars + 1024
        t0 = time.perf_counter()
        n_lines = shown = 0
        with open(path, "rb") as raw, maybe_gunzip(raw, path, CorpusInputError) as fh:
            check_first_record(fh, path)
            for line_no, (line, too_long) in enumerate(_lines(fh, max_bytes)):
                n_lines += 1
                if bar is not None and line_no % 4096 == 0:  # compressed bytes consumed so far
                    bar.update(raw.tell() - shown)
                    shown = raw.tell()
                if line_no % world_size != rank:
                    continue
                if too_long:
                    self._bad(source, dataset, line_no, "too_long", "")
                    continue
                doc = self._parse(line, source, dataset, line_no, (file_idx << 32) | line_no)
                if doc is not None:
                    self.seconds += time.perf_counter() - t0
                    yield doc
                    t0 = time.perf_counter()
        self.seconds += time.perf_counter() - t0
        if n_lines == 0 and rank == 0:
            self.note("empty_file", source=source)
        if bar is not None:
            bar.update(path.stat().st_size - shown)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        files = list_corpus_files(self.corpus_dir)
        bar = None
        if self.progress:
            from tqdm import tqdm

            total = sum(f.stat().st_size for _, f in files)
            bar = tqdm(
                total=total, unit="B", unit_scale=True, desc=f"read[{rank}]", position=rank, leave=False
            )
        try:
            for file_idx, (source, path) in enumerate(files):
                yield from self._read_file(file_idx, source, path, rank, world_size, bar)
        finally:
            if bar is not None:
                bar.close()  # also on a bad file: its error then starts on a line of its own
        self.save_counts(rank)
