"""Decontamination against the evaluation data (WeLM §2): the paper's 17/34-gram rule.

A document is removed ("contaminated") when it shares at least 2 distinct 17-grams, or at least one
34-gram, with any validation or test example of the tasks in the data dir. Every string value of an
example counts (found recursively); n-grams never cross two strings.

The n-gram unit is a character for Chinese, as in the paper, but a whole word for runs of ASCII letters
and digits (`text.units`): 17 *letters* of English are shared by unrelated texts everywhere (measured:
a letter-level rule removed 79 unrelated English news and book documents of a 2,400-document slice for
one English exam task), while 17 words is close to GPT-3's 13-word rule. Blanks and punctuation are
ignored on both sides, so layout and punctuation differences do not hide an overlap.

`build_index` hashes every n-gram once (64-bit, sorted, de-duplicated, with one task that holds it) into
.npy files plus a 2^28-bit membership bitmap; filter workers memory-map them (shared between processes)
and look up only the n-grams the bitmap lets through, which saves most random reads of the index.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from weprompt.common.atomic import atomic_open, atomic_write_text
from weprompt.common.gzfile import open_maybe_gzip
from weprompt.pretrain.corpus.base import DocFilter
from weprompt.pretrain.corpus.reader import CorpusInputError
from weprompt.pretrain.corpus.text import ngram_hashes, units

INDEX_META = "index.json"
BITMAP_BITS = 28


def iter_strings(value) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from iter_strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from iter_strings(v)


def task_files(data_dir: str | Path, splits: list[str]) -> list[tuple[str, str, Path]]:
    """(task, split, file) for every task folder holding one of `splits` (.jsonl.gz or .jsonl)."""
    out = []
    for task_dir in sorted(p for p in Path(data_dir).iterdir() if p.is_dir()):
        for split in splits:
            for name in (f"{split}.jsonl.gz", f"{split}.jsonl"):
                f = task_dir / name
                if f.is_file():
                    out.append((task_dir.name, split, f))
                    break
    return out


def _read_examples(path: Path) -> Iterator[dict]:
    with open_maybe_gzip(path, CorpusInputError) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
                raise CorpusInputError(f"{path}:{line_no}: not a JSON line ({e})") from None
            yield example


def _hash_batch(batch: list[str], sizes, tid: int, chunks: dict, owners: dict) -> None:
    if not batch:
        return
    us = units("\0".join(batch), keep_nul=True)
    seps = np.concatenate([[0], np.cumsum(us == 0)])
    for n in sizes:
        h = ngram_hashes(us, n)
        if len(h):
            h = h[seps[n:] - seps[: len(h)] == 0]
            chunks[n].append(h)
            owners[n].append(np.full(len(h), tid, dtype=np.int16))


def build_index(data_dir: str | Path, splits: list[str], sizes: tuple[int, ...], out_dir: str | Path) -> dict:
    """Hash the n-grams of every evaluation string; writes ngrams_<n>.npy, tasks_<n>.npy, index.json."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    files = task_files(data_dir, splits)
    tasks = sorted({t for t, _, _ in files})
    task_id = {t: i for i, t in enumerate(tasks)}
    chunks: dict[int, list[np.ndarray]] = {n: [] for n in sizes}
    owners: dict[int, list[np.ndarray]] = {n: [] for n in sizes}
    n_examples = n_chars = 0
    for task, _split, path in files:
        # Strings are joined with NUL (never a unit otherwise) and hashed in one numpy pass per batch;
        # windows that contain a NUL are discarded, so n-grams never cross two strings.
        batch: list[str] = []
        size = 0
        for example in _read_examples(path):
            n_examples += 1
            for s in iter_strings(example):
                if len(s) >= min(sizes):
                    batch.append(s.replace("\0", ""))
                    size += len(s)
                n_chars += len(s)
            if size > 1 << 22:
                _hash_batch(batch, sizes, task_id[task], chunks, owners)
                batch, size = [], 0
        _hash_batch(batch, sizes, task_id[task], chunks, owners)
    meta = {
        "tasks": tasks,
        "files": len(files),
        "examples": n_examples,
        "chars": n_chars,
        "sizes": list(sizes),
    }
    for n in sizes:
        h = np.concatenate(chunks[n]) if chunks[n] else np.empty(0, dtype=np.uint64)
        o = np.concatenate(owners[n]) if owners[n] else np.empty(0, dtype=np.int16)
        uniq, first = np.unique(h, return_index=True)
        bitmap = np.zeros(1 << (BITMAP_BITS - 3), dtype=np.uint8)
        bit = uniq & np.uint64((1 << BITMAP_BITS) - 1)
        np.bitwise_or.at(
            bitmap, (bit >> np.uint64(3)).astype(np.int64), (1 << (bit & np.uint64(7))).astype(np.uint8)
        )
        for name, arr in (
            (f"ngrams_{n}.npy", uniq),
            (f"tasks_{n}.npy", o[first]),
            (f"bitmap_{n}.npy", bitmap),
        ):
            with atomic_open(out_dir / name, "wb") as f:
                np.save(f, arr)
        meta[f"ngrams_{n}"] = int(len(uniq))
    meta["seconds"] = round(time.perf_counter() - t0, 2)
    atomic_write_text(out_dir / INDEX_META, json.dumps(meta, indent=1) + "\n")
    return meta


class DecontamIndexStep(PipelineStep):
    """One task: build the n-gram index (a separate stage so that reruns reuse it)."""

    name = "decontam_index"
    type = "WePrompt"

    def __init__(self, data_dir: str, splits: list[str], sizes: tuple[int, ...], out_dir: str):
        super().__init__()
        self.data_dir, self.splits, self.sizes, self.out_dir = data_dir, splits, sizes, out_dir

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        build_index(self.data_dir, self.splits, self.sizes, self.out_dir)


class NgramIndex:
    def __init__(self, index_dir: str | Path, n: int):
        d = Path(index_dir)
        self.n = n
        self.hashes = np.load(d / f"ngrams_{n}.npy", mmap_mode="r")
        self.owners = np.load(d / f"tasks_{n}.npy", mmap_mode="r")
        self.bitmap = np.load(d / f"bitmap_{n}.npy", mmap_mode="r")
        self.mask = np.uint64((1 << BITMAP_BITS) - 1)

    def matches(self, hashes: np.ndarray) -> np.ndarray:
        """Indices into the index of the distinct query hashes it holds."""
        if len(self.hashes) == 0 or len(hashes) == 0:
            return np.empty(0, dtype=np.int64)
        bit = hashes & self.mask
        maybe = (
            self.bitmap[(bit >> np.uint64(3)).astype(np.int64)] >> (bit & np.uint64(7)).astype(np.uint8)
        ) & 1
        q = np.unique(hashes[maybe.astype(bool)])
        if len(q) == 0:
            return np.empty(0, dtype=np.int64)
        pos = np.searchsorted(self.hashes, q)
        pos[pos == len(self.hashes)] = 0
        return pos[self.hashes[pos] == q]


class DecontamFilter(DocFilter):
    """Drop reason: contaminated. Notes `contaminated_by:<task>` for each task that matched."""

    name = "decontam"

    def __init__(
        self,
        index_dir: str,
        n_small: int = 17,
        min_small_hits: int = 2,
        n_large: int = 34,
        min_large_hits: int = 1,
        stats_dir=None,
    ):
        super().__init__(stats_dir)
        self.index_dir = index_dir
        self.n_small, self.min_small_hits = n_small, min_small_hits
        self.n_large, self.min_large_hits = n_large, min_large_hits
        self._small: NgramIndex | None = None
        self._large: NgramIndex | None = None
        self._tasks: list[str] = []

    def _load(self) -> None:
        self._small = NgramIndex(self.index_dir, self.n_small)
        self._large = NgramIndex(self.index_dir, self.n_large)
        self._tasks = json.loads((Path(self.index_dir) / INDEX_META).read_text())["tasks"]

    def decide(self, doc: Document) -> str | None:
        if self._small is None or self._large is None:
            self._load()
        assert self._small is not None and self._large is not None  # set by _load
        us = units(doc.text)
        if len(us) < self.n_small:
            return None
        small = self._small.matches(ngram_hashes(us, self.n_small))
        # Every 34-gram holds 17-grams, so without a 17-gram hit there is no 34-gram hit to look for.
        large = self._large.matches(ngram_hashes(us, self.n_large)) if len(small) else small
        if len(small) >= self.min_small_hits or len(large) >= self.min_large_hits:
            owners = set(self._small.owners[small].tolist()) | set(self._large.owners[large].tolist())
            for t in sorted(owners):
                self.note(f"contaminated_by:{self._tasks[t]}", source=doc.metadata.get("source"))
            doc.metadata["contaminated_by"] = sorted(self._tasks[t] for t in owners)
            return "contaminated"
        return None
