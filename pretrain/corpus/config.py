"""Typed config of the corpus pipeline (loaded with `pretrain.config.load_config`).

Defaults follow the WeLM paper where it fixes a number (13 % English, p > 0.9 for the quality classifier,
17/34-gram decontamination, 62k pieces at paper scale); the rest are measured choices documented in
docs/corpus.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from weprompt.common import paths
from weprompt.common.errors import UserError


class CorpusConfigError(UserError):
    """A corpus config that cannot work (missing dirs, bad proportions)."""


@dataclass
class ReaderConfig:
    # Documents above this many characters are dropped ("too_long"): one runaway document must not take
    # a worker's memory or dominate a source. The largest real document is about 60k characters.
    max_doc_chars: int = 2_000_000
    # Show a per-task progress bar while reading.
    progress: bool = True


@dataclass
class LangIdConfig:
    keep: list[str] = field(default_factory=lambda: ["zh", "en"])
    # langdetect looks at this many characters, taken as up to three evenly spaced windows.
    sample_chars: int = 300
    seed: int = 0
    # langdetect's Korean and Japanese profiles also hold Han characters, so classical Chinese often comes
    # back as "ko": a sample of mostly Han letters with no Hangul or kana is labelled Chinese by script.
    script_guard: bool = True


@dataclass
class RulesConfig:
    min_chars: int = 20  # after stripping blanks
    min_cjk_ratio: float = 0.3  # for documents identified as Chinese: CJK chars / non-blank chars
    max_symbol_ratio: float = 0.25  # symbols (not letters, digits, CJK, punctuation) / non-blank chars
    max_punct_ratio: float = 0.35  # punctuation / non-blank chars
    max_boilerplate_line_ratio: float = 0.3  # lines matching a boilerplate pattern / lines
    max_dup_line_ratio: float = 0.3  # duplicated lines / lines (Gopher)
    max_dup_line_char_ratio: float = 0.2  # characters in duplicated lines / characters (Gopher)
    max_code_line_ratio: float = 0.2  # lines that look like source code / lines
    max_replacement_chars: int = 5  # U+FFFD and mojibake markers
    # Offensive words: one per line, UTF-8; a document with at least `offensive_min_hits` hits is dropped.
    # Empty = the small built-in list in pretrain/corpus/offensive_zh.txt.
    offensive_words_file: str = ""
    offensive_min_hits: int = 2


@dataclass
class QualityConfig:
    enabled: bool = True
    threshold: float = 0.9
    # "drop_noisy": drop when p(noisy) > threshold; "keep_clean": keep only when p(clean) > threshold.
    rule: Literal["drop_noisy", "keep_clean"] = "drop_noisy"
    # Labelled set: real rule-flagged negatives, topped up with synthetic corruptions to `per_class`.
    per_class: int = 4000
    heldout_fraction: float = 0.2
    epoch: int = 10
    lr: float = 0.5
    word_ngrams: int = 2
    dim: int = 32
    # fastText input: characters joined by spaces, cut to this many characters per document.
    max_chars: int = 2000


@dataclass
class DedupConfig:
    exact: bool = True
    near: bool = True
    shingle: int = (
        4  # characters per shingle, punctuation and blanks removed first (measured, docs/corpus.md)
    )
    hamming: int = 8  # max Hamming distance between 64-bit SimHashes (P 0.995 / R 0.89 on the eval set)
    min_chars: int = 40  # shorter normalized texts get no SimHash (too few shingles to mean anything)
    # The candidate-pair stage splits each of the hamming+1 bands into this many parts by band value:
    # bands x bucket_parts units of work shared by its tasks. The result does not depend on it.
    bucket_parts: int = 16
    # Near-dup method: "simhash" (ours, staged: pretrain/corpus/neardup.py) or "minhash" (datatrove's
    # MinHash dedup stages on character shingles: pretrain/corpus/minhash.py). P/R/F1 of both on the
    # labelled set: docs/corpus.md. The minhash_* keys apply to method: minhash only.
    method: Literal["simhash", "minhash"] = "minhash"
    minhash_ngram: int = 5  # characters per shingle
    minhash_buckets: int = 14  # bands; Jaccard threshold about (1/buckets)^(1/hashes_per_bucket)
    minhash_hashes_per_bucket: int = 8
    minhash_seed: int = 1


@dataclass
class DecontamConfig:
    enabled: bool = True
    data_dir: str = ""  # default: $WEPROMPT_DATA_DIR, else ../shared/data beside the repo
    splits: list[str] = field(default_factory=lambda: ["validation", "test"])
    n_small: int = 17
    min_small_hits: int = 2
    n_large: int = 34
    min_large_hits: int = 1


@dataclass
class BalanceConfig:
    # Target share of tokens per source (the folder name under corpus_dir). Normalized to sum to 1.
    targets: dict[str, float] = field(
        default_factory=lambda: {"books": 0.55, "news": 0.15, "forums": 0.15, "academic": 0.15}
    )
    english_max_share: float = 0.13
    max_repeat: float = 4.0  # no document is sampled more than this many times on average
    total_tokens: int = 0  # 0 = as many tokens as the cleaned corpus has
    # A source in the corpus but not in `targets`: "error" stops before any work, "drop" counts its
    # documents as dropped ("source_not_in_balance_config").
    unlisted: Literal["error", "drop"] = "error"
    seed: int = 0


@dataclass
class TokenizerConfig:
    vocab_size: int = 16000  # measured against 8k/12k: see docs/corpus.md
    # BPE: measured 40x faster to train than unigram on this corpus (2 s vs 81 CPU-s for 7 M chars).
    model_type: Literal["unigram", "bpe"] = "bpe"
    character_coverage: float = 0.9995
    char_sets: list[str] = field(default_factory=lambda: ["ascii", "cjk_punct", "kana", "hangul_jamo"])
    max_chars: int = 20_000_000  # training sample (characters), drawn per source by the balance targets
    seed: int = 0


@dataclass
class ShardsConfig:
    shard_tokens: int = 1 << 27
    encode_batch: int = 512


@dataclass
class SlurmConfig:
    """sbatch settings of every stage (one job array a stage, `tasks` array tasks, `workers` at once)."""

    partition: str = ""  # required with kind: slurm
    time: str = "24:00:00"
    cpus_per_task: int = 1
    mem_per_cpu_gb: int = 2
    qos: str = "normal"
    # Shell line run before the task, e.g. "source /path/venv/bin/activate" (the package must import there).
    env_command: str = ""
    job_name_prefix: str = "corpus"
    sbatch_args: dict[str, str] = field(default_factory=dict)  # extra #SBATCH --key=value lines


@dataclass
class RayConfig:
    # "" = start a local Ray on this machine (ray.init with num_cpus); "auto" or "ray://host:port" = join
    # a running cluster. Ray is never started when one is already initialised in this process.
    address: str = ""
    num_cpus: int = 0  # for a local Ray: CPUs it may use (0 = `workers`)
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0


@dataclass
class ExecutorConfig:
    """Where the stages run; the stages, their order and their outputs are the same for every kind.

    local: LocalPipelineExecutor, `workers` processes. ray: RayPipelineExecutor, each stage `depends=`
    on the one before. slurm: SlurmPipelineExecutor, one sbatch job array a stage chained with
    `depends=` (afterok), submitted at once; `weprompt corpus summary` reads the results afterwards.
    """

    kind: Literal["local", "ray", "slurm"] = "local"
    ray: RayConfig = field(default_factory=RayConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


@dataclass
class CorpusConfig:
    corpus_dir: str = ""  # default: $WEPROMPT_CORPUS_DIR, else ../shared/corpus beside the repo
    work_dir: str = "runs/corpus"
    tasks: int = 2  # datatrove tasks per parallel stage (each reads every input file: keep = workers here)
    workers: int = 2  # processes running them
    seed: int = 0
    reader: ReaderConfig = field(default_factory=ReaderConfig)
    langid: LangIdConfig = field(default_factory=LangIdConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    balance: BalanceConfig = field(default_factory=BalanceConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    shards: ShardsConfig = field(default_factory=ShardsConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def resolved_corpus_dir(self) -> Path:
        return _existing_dir(*paths.corpus_dir(self.corpus_dir), "corpus_dir", paths.CORPUS_ENV)

    def resolved_data_dir(self) -> Path:
        return _existing_dir(*paths.data_dir(self.decontam.data_dir), "decontam.data_dir", paths.DATA_ENV)

    def resolved_work_dir(self) -> Path:
        return paths.run_dir(self.work_dir)


def _existing_dir(p: Path, how: str, key: str, env: str) -> Path:
    if not p.is_dir():
        raise CorpusConfigError(f"{p} (from {how}) is not a directory; set {key} or ${env}")
    return p.resolve()
