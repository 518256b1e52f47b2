"""From the cleaned corpus to shards: train the tokenizer, tokenize (parallel), balance and write shards.

- `TokenizerTrainStep` (one task): a seeded sample of the cleaned corpus, drawn per source in proportion
  to the balance targets (so the vocabulary sees the training mix, not the raw one), then SentencePiece.
- `TokenizeStep` (parallel): each task encodes its documents once and keeps `<rank>.tokens.npy` (all ids
  back to back) and `<rank>.docs.npz` (order, length, source, lang): balancing needs only the lengths.
- `BalanceShardsStep` (one task): fits the sampling weights on the token counts, draws each document's
  number of copies, shuffles the copies (seeded) and writes the token shards in that order.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from weprompt.common.atomic import atomic_open, atomic_write_text
from weprompt.pretrain.corpus.balance import doc_uniform, fit_weights, normalized_targets, repeats_for
from weprompt.pretrain.corpus.base import CountedStep
from weprompt.pretrain.corpus.config import BalanceConfig, ShardsConfig, TokenizerConfig
from weprompt.pretrain.shards import ShardWriter, token_dtype
from weprompt.pretrain.tokenizer import Tokenizer, train_tokenizer

BALANCE_REPORT = "balance.json"


def iter_clean_docs(clean_dir: str | Path):
    """(order, source, lang, text) of every document in a datatrove JsonlWriter output folder."""
    import gzip

    import orjson

    for f in sorted(Path(clean_dir).glob("*.jsonl*")):
        opener = gzip.open if f.name.endswith(".gz") else open
        with opener(f, "rb") as fh:
            for line in fh:
                if line.strip():
                    row = orjson.loads(line)
                    m = row["metadata"]
                    yield m["order"], m["source"], m.get("lang", ""), row["text"]


class TokenizerTrainStep(PipelineStep):
    name = "tokenizer_train"
    type = "WePrompt"

    def __init__(self, clean_dir: str, out_dir: str, cfg: TokenizerConfig, balance: BalanceConfig):
        super().__init__()
        self.clean_dir, self.out_dir, self.cfg, self.balance = clean_dir, out_dir, cfg, balance

    def sample(self) -> tuple[list[str], dict[str, int]]:
        chars: Counter = Counter()
        for _, src, _, text in iter_clean_docs(self.clean_dir):
            chars[src] += len(text)
        targets = normalized_targets(self.balance, sorted(chars))
        # Keep-probability per source so that the sample's characters follow the targets.
        keep = {s: min(1.0, self.cfg.max_chars * targets.get(s, 0.0) / chars[s]) for s in chars if chars[s]}
        texts: list[str] = []
        taken: Counter[str] = Counter()
        for order, src, _, text in iter_clean_docs(self.clean_dir):
            if doc_uniform(np.array([order]), self.cfg.seed)[0] < keep.get(src, 0.0):
                texts.append(text)
                taken[src] += len(text)
        return texts, dict(taken)

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        t0 = time.perf_counter()
        texts, taken = self.sample()
        t1 = time.perf_counter()
        tok = train_tokenizer(
            texts,
            self.out_dir,
            vocab_size=self.cfg.vocab_size,
            seed=self.cfg.seed,
            model_type=self.cfg.model_type,
            character_coverage=self.cfg.character_coverage,
            char_sets=self.cfg.char_sets,
            max_chars=None,  # already sampled above
        )
        report = {
            "vocab_size": tok.vocab_size,
            "fingerprint": tok.fingerprint(),
            "sample_chars_by_source": taken,
            "sample_seconds": round(t1 - t0, 2),
            "train_seconds": round(time.perf_counter() - t1, 2),
        }
        atomic_write_text(Path(self.out_dir) / "train_report.json", json.dumps(report, indent=1) + "\n")


class TokenizeStep(CountedStep):
    """Terminal step of the tokenize stage: encodes documents in batches, one SentencePiece thread a task."""

    name = "tokenize"

    def __init__(self, tokenizer_dir: str, out_dir: str, batch: int = 512, stats_dir=None):
        super().__init__(stats_dir)
        self.tokenizer_dir, self.out_dir, self.batch = tokenizer_dir, out_dir, batch

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        tok = Tokenizer.load(self.tokenizer_dir, num_threads=1)
        dtype = token_dtype(tok.vocab_size)
        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        orders: list[int] = []
        lengths: list[int] = []
        sources: list[str] = []
        langs: list[str] = []
        tmp = out / f".{rank:05d}.tokens.bin.tmp"
        with open(tmp, "wb") as fh:
            buf = []
            for doc in _chain(data):
                buf.append(doc)
                if len(buf) >= self.batch:
                    self._flush(tok, buf, fh, dtype, orders, lengths, sources, langs)
                    buf = []
            self._flush(tok, buf, fh, dtype, orders, lengths, sources, langs)
        ids = np.fromfile(tmp, dtype=dtype)
        with atomic_open(out / f"{rank:05d}.tokens.npy", "wb") as f:
            np.save(f, ids)
        tmp.unlink()
        with atomic_open(out / f"{rank:05d}.docs.npz", "wb") as f:
            np.savez(
                f,
                order=np.asarray(orders, dtype=np.int64),
                length=np.asarray(lengths, dtype=np.int64),
                source=np.asarray(sources, dtype=str),
                lang=np.asarray(langs, dtype=str),
                fingerprint=np.asarray(tok.fingerprint()),
            )
        self.save_counts(rank)
        return
        yield  # a terminal step: nothing flows on

    def _flush(self, tok, buf, fh, dtype, orders, lengths, sources, langs) -> None:
        if not buf:
            return
        t0 = time.perf_counter()
        encoded = tok.encode_batch([d.text for d in buf])
        for doc, ids in zip(buf, encoded, strict=True):
            fh.write(np.asarray(ids, dtype=dtype).tobytes())
            orders.append(doc.metadata["order"])
            lengths.append(len(ids))
            sources.append(doc.metadata["source"])
            langs.append(doc.metadata.get("lang", ""))
            self.note("tokens", len(ids), source=doc.metadata["source"])
        self.seconds += time.perf_counter() - t0
        for doc in buf:
            self.record(doc, None)


def _chain(data):
    return data if data is not None else ()


class BalanceShardsStep(CountedStep):
    """One task. Drop reason: downsampled (a document that got zero copies in the balanced stream)."""

    name = "balance_shards"

    def __init__(
        self,
        tokens_dir: str,
        shards_dir: str,
        report_dir: str,
        tokenizer_dir: str,
        balance: BalanceConfig,
        shards: ShardsConfig,
        stats_dir=None,
    ):
        super().__init__(stats_dir)
        self.tokens_dir, self.shards_dir, self.report_dir = tokens_dir, shards_dir, report_dir
        self.tokenizer_dir, self.balance, self.shards = tokenizer_dir, balance, shards

    def _count(self, src: str, key: str, value: int) -> None:
        self.counts["_total"][key] += value
        self.counts[src][key] += value

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        t0 = time.perf_counter()
        tok = Tokenizer.load(self.tokenizer_dir)
        parts = sorted(Path(self.tokens_dir).glob("*.docs.npz"))
        docs = [np.load(p) for p in parts]
        for p, d in zip(parts, docs, strict=True):
            if str(d["fingerprint"]) != tok.fingerprint():
                raise RuntimeError(f"{p} was tokenized with another tokenizer; rerun the tokenize stage")
        ids = [np.load(str(p).replace(".docs.npz", ".tokens.npy"), mmap_mode="r") for p in parts]
        part = (
            np.concatenate([np.full(len(d["order"]), i) for i, d in enumerate(docs)])
            if docs
            else np.zeros(0, int)
        )
        start = (
            np.concatenate([np.cumsum(d["length"]) - d["length"] for d in docs]) if docs else np.zeros(0, int)
        )
        order = np.concatenate([d["order"] for d in docs]) if docs else np.zeros(0, np.int64)
        length = np.concatenate([d["length"] for d in docs]) if docs else np.zeros(0, np.int64)
        source = np.concatenate([d["source"] for d in docs]) if docs else np.zeros(0, str)
        lang = np.concatenate([d["lang"] for d in docs]) if docs else np.zeros(0, str)
        # Corpus order first, so the plan does not depend on how documents were split into tasks.
        srt = np.argsort(order, kind="stable")
        part, start, order, length, source, lang = (
            a[srt] for a in (part, start, order, length, source, lang)
        )
        group_tokens: Counter = Counter()
        for s, la, n in zip(source.tolist(), lang.tolist(), length.tolist(), strict=True):
            group_tokens[(s, "en" if la == "en" else "zh")] += n + 1  # + the EOS each document gets
        plan = fit_weights(dict(group_tokens), self.balance)
        w = np.array(
            [plan.weights[(s, "en" if la == "en" else "zh")] for s, la in zip(source, lang, strict=True)]
        )
        copies = repeats_for(order, w, self.balance.seed)
        stream = np.repeat(np.arange(len(order)), copies)
        np.random.default_rng(self.balance.seed).shuffle(stream)
        writer = ShardWriter(
            self.shards_dir, tok.vocab_size, tok.fingerprint(), tok.eos_id, self.shards.shard_tokens
        )
        for i in stream.tolist():
            a = start[i]
            writer.add_document(ids[part[i]][a : a + length[i]], str(source[i]))
        writer.close()
        after: dict[str, Counter] = defaultdict(Counter)
        for s, n, c in zip(source.tolist(), length.tolist(), copies.tolist(), strict=True):
            self._count(s, "docs_in", 1)
            self._count(s, "tokens_in", n + 1)
            self._count(s, "docs_kept" if c else "docs_dropped:downsampled", 1)
            self._count(s, "copies", c)
            after[s]["tokens"] += (n + 1) * c
        self.seconds = time.perf_counter() - t0
        self.save_counts(rank)
        total_after = sum(c["tokens"] for c in after.values()) or 1
        report = {
            "target_share": plan.target_share,
            "weights": {f"{s}/{la}": round(v, 4) for (s, la), v in sorted(plan.weights.items())},
            "tokens_before": {f"{s}/{la}": v for (s, la), v in sorted(group_tokens.items())},
            "tokens_after": {s: c["tokens"] for s, c in sorted(after.items())},
            "share_after": {s: round(c["tokens"] / total_after, 4) for s, c in sorted(after.items())},
            "english_share_before": round(
                sum(v for (_, la), v in group_tokens.items() if la == "en")
                / max(1, sum(group_tokens.values())),
                4,
            ),
            "english_share_after": round(
                sum(int(length[i]) + 1 for i in stream.tolist() if lang[i] == "en") / total_after, 4
            ),
            "documents_in_stream": int(len(stream)),
            "tokens_in_stream": int(total_after),
            "seconds": round(self.seconds, 2),
        }
        atomic_write_text(Path(self.report_dir) / BALANCE_REPORT, json.dumps(report, indent=1) + "\n")
