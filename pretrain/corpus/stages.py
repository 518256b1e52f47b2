"""The corpus pipeline's stages: each a datatrove step list, its inputs, config keys and outputs.

Stages (parallel ones run `tasks` tasks on `workers` processes; the others are one task):

    filter          read -> lang_id -> rule_* filters             -> filtered/   (+ rejected/)
    quality_train   labelled set + fastText + held-out P/R        -> quality/
    score           quality -> dedup_signatures                   -> scored/     (+ dedup/sigs, buckets)
    dedup_pairs     SimHash candidate pairs per bucket part       -> dedup/pairs/
    minhash_sigs    (method minhash) datatrove MinHash signatures -> dedup/minhash/sigs, orders
    minhash_buckets (method minhash) datatrove buckets, a task each -> dedup/minhash/buckets/*.dups
    dedup_clusters  exact md5 groups + union-find over the pairs  -> dedup/drop.npz
    decontam_index  17/34-gram index of the evaluation data       -> decontam/
    final           dedup -> decontam                             -> clean/      (the cleaned corpus)
    tokenizer       SentencePiece on a target-weighted sample     -> tokenizer/
    tokenize        encode every cleaned document once            -> tokens/
    shards          balance weights -> copies -> shuffled shards  -> shards/
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from weprompt.pretrain.corpus.config import CorpusConfig
from weprompt.pretrain.corpus.layout import Layout
from weprompt.pretrain.corpus.runtime import Stage


def build_stages(
    cfg: CorpusConfig, work: Layout, corpus_dir: Path, drop_sources: list[str], data_dir: Callable[[], Path]
) -> list[Stage]:
    """The pipeline's stages. `data_dir` is called only when the decontamination index is built, so a
    corpus problem is reported first and a build that never reaches that stage needs no task data."""
    c, w = cfg, work
    stats = str(w.stats)

    def jsonl_reader(folder: Path):
        from datatrove.pipeline.readers import JsonlReader

        return JsonlReader(
            str(folder), glob_pattern="*.jsonl*", recursive=False, doc_progress=c.reader.progress
        )

    def jsonl_writer(folder: Path, gzip: bool = False):
        from datatrove.pipeline.writers import JsonlWriter

        name = "${rank}.jsonl.gz" if gzip else "${rank}.jsonl"
        return JsonlWriter(str(folder), output_filename=name, compression="gzip" if gzip else None)

    def filter_steps():
        from weprompt.pretrain.corpus.langid import LanguageFilter
        from weprompt.pretrain.corpus.reader import CorpusReader
        from weprompt.pretrain.corpus.rules import rule_filters

        rules = rule_filters(c.rules, stats)
        for r in rules:
            r.rejected_dir = str(w.rejected)
        lang = LanguageFilter(
            c.langid.keep, c.langid.sample_chars, c.langid.seed, c.langid.script_guard, stats
        )
        reader = CorpusReader(corpus_dir, stats, c.reader.max_doc_chars, drop_sources, c.reader.progress)
        return [reader, lang, *rules, jsonl_writer(w.filtered)]

    def quality_train_steps():
        from weprompt.pretrain.corpus.quality import QualityTrainStep

        return [QualityTrainStep(str(w.filtered), str(w.rejected), str(w.quality), c.quality, c.seed)]

    def score_steps():
        from weprompt.pretrain.corpus.dedup import DedupSignatures
        from weprompt.pretrain.corpus.quality import MODEL_FILE, QualityFilter

        steps = [jsonl_reader(w.filtered)]
        if c.quality.enabled:
            q = c.quality
            steps.append(QualityFilter(str(w.quality / MODEL_FILE), q.threshold, q.rule, q.max_chars, stats))
        d = c.dedup
        simhash = d.near and d.method == "simhash"  # md5 always; SimHash + band files for simhash only
        steps.append(
            DedupSignatures(str(w.sigs), d.shingle, d.min_chars, simhash, stats, str(w.buckets), d.hamming)
        )
        return [*steps, jsonl_writer(w.scored)]

    def dedup_pairs_steps():
        from weprompt.pretrain.corpus.neardup import NearDupPairs

        return [NearDupPairs(str(w.buckets), str(w.pairs), c.dedup.hamming, c.dedup.bucket_parts)]

    def minhash_sigs_steps():
        from weprompt.pretrain.corpus.minhash import ZhMinhashSignature, minhash_config

        m = w.minhash
        sig = ZhMinhashSignature(
            str(m / "sigs"), minhash_config(c.dedup), c.dedup.min_chars, str(m / "orders")
        )
        return [jsonl_reader(w.scored), sig]

    def minhash_buckets_steps():
        from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

        from weprompt.pretrain.corpus.minhash import minhash_config

        m = w.minhash
        return [MinhashDedupBuckets(str(m / "sigs"), str(m / "buckets"), config=minhash_config(c.dedup))]

    def dedup_clusters_steps():
        from weprompt.pretrain.corpus.neardup import NearDupClusters

        d, m = c.dedup, w.minhash
        mh = (str(m / "buckets"), str(m / "orders")) if d.method == "minhash" else None
        return [NearDupClusters(str(w.sigs), str(w.pairs), str(w.dedup), d.exact, d.near, mh)]

    def decontam_index_steps():
        from weprompt.pretrain.corpus.decontam import DecontamIndexStep

        d = c.decontam
        return [DecontamIndexStep(str(data_dir()), d.splits, (d.n_small, d.n_large), str(w.decontam))]

    def final_steps():
        from weprompt.pretrain.corpus.decontam import DecontamFilter
        from weprompt.pretrain.corpus.dedup import DROP_FILE, DedupFilter

        steps = [jsonl_reader(w.scored), DedupFilter(str(w.dedup / DROP_FILE), stats)]
        if c.decontam.enabled:
            d = c.decontam
            steps.append(
                DecontamFilter(
                    str(w.decontam), d.n_small, d.min_small_hits, d.n_large, d.min_large_hits, stats
                )
            )
        return [*steps, jsonl_writer(w.clean, gzip=True)]

    def tokenizer_steps():
        from weprompt.pretrain.corpus.tokenize_stage import TokenizerTrainStep

        return [TokenizerTrainStep(str(w.clean), str(w.tokenizer), c.tokenizer, c.balance)]

    def tokenize_steps():
        from weprompt.pretrain.corpus.tokenize_stage import TokenizeStep

        return [
            jsonl_reader(w.clean),
            TokenizeStep(str(w.tokenizer), str(w.tokens), c.shards.encode_batch, stats),
        ]

    def shards_steps():
        from weprompt.pretrain.corpus.tokenize_stage import BalanceShardsStep

        return [
            BalanceShardsStep(
                str(w.tokens), str(w.shards), str(w.root), str(w.tokenizer), c.balance, c.shards, stats
            )
        ]

    root_keys = ("corpus_dir", "tasks", "reader", "langid", "rules", "balance.unlisted")
    stages = [
        Stage("filter", (), root_keys, ("filtered", "rejected"), filter_steps, True),
        Stage("quality_train", ("filter",), ("quality", "seed"), ("quality",), quality_train_steps, False),
        Stage(
            "score",
            ("filter", "quality_train"),
            ("quality", "dedup"),
            ("scored", "dedup"),
            score_steps,
            True,
        ),
        Stage("dedup_pairs", ("score",), ("dedup",), ("pairs",), dedup_pairs_steps, True),
        Stage("minhash_sigs", ("score",), ("dedup",), ("minhash",), minhash_sigs_steps, True),
        Stage(
            "minhash_buckets",
            ("minhash_sigs",),
            ("dedup",),
            (),
            minhash_buckets_steps,
            True,
            tasks=c.dedup.minhash_buckets,
        ),
        Stage(
            "dedup_clusters",
            ("score", "dedup_pairs", "minhash_buckets"),
            ("dedup",),
            (),
            dedup_clusters_steps,
            False,
        ),
        Stage("decontam_index", (), ("decontam",), ("decontam",), decontam_index_steps, False),
        Stage("final", ("dedup_clusters", "decontam_index"), ("decontam",), ("clean",), final_steps, True),
        Stage(
            "tokenizer",
            ("final",),
            ("tokenizer", "balance.targets"),
            ("tokenizer",),
            tokenizer_steps,
            False,
        ),
        Stage("tokenize", ("tokenizer",), ("shards.encode_batch",), ("tokens",), tokenize_steps, True),
        Stage("shards", ("tokenize",), ("balance", "shards"), ("shards",), shards_steps, False),
    ]
    skip = set()
    if not c.decontam.enabled:
        skip.add("decontam_index")
    if not c.quality.enabled:
        skip.add("quality_train")
    if not c.dedup.near or c.dedup.method != "simhash":
        skip.add("dedup_pairs")
    if not c.dedup.near or c.dedup.method != "minhash":
        skip |= {"minhash_sigs", "minhash_buckets"}
    return [s for s in stages if s.name not in skip]
