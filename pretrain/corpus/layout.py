"""Every path the corpus pipeline writes under its work dir, named once (a typo is an AttributeError)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path


@dataclass(frozen=True)
class Layout:
    """Named paths of one build; `Layout.under(root)` is the only way to make one."""

    root: Path
    filtered: Path  # documents that passed language id and the rule filters (one file a task)
    rejected: Path  # documents the rule filters dropped, per step and task
    quality: Path  # the quality classifier and its report
    scored: Path  # documents that passed the quality filter
    dedup: Path  # dedup reports and the drop list
    sigs: Path  # per-task md5 + SimHash signatures
    buckets: Path  # SimHash band files: buckets/<band>/<task>.npz
    pairs: Path  # near-duplicate pairs found per bucket part: pairs/<task>.npy
    minhash: Path  # datatrove MinHash dedup (method: minhash): signatures, buckets, clusters
    decontam: Path  # n-gram index of the evaluation data
    clean: Path  # the cleaned corpus
    tokenizer: Path
    tokens: Path  # per-task token ids and document tables
    shards: Path  # token shards (pretrain/shards.py format)
    logs: Path  # datatrove logging dirs, one per stage
    stats: Path  # our per-step counters

    @classmethod
    def under(cls, root: Path) -> Layout:
        root = Path(root)
        dedup = root / "dedup"
        named = {f.name: root / f.name for f in fields(cls) if f.name != "root"}
        named |= {
            "sigs": dedup / "sigs",
            "buckets": dedup / "buckets",
            "pairs": dedup / "pairs",
            "minhash": dedup / "minhash",
        }
        return cls(root=root, **named)

    def path(self, name: str) -> Path:
        """The path named `name` (a stage's declared output); an unknown name is an error, not a new dir."""
        if name == "root" or name not in {f.name for f in fields(self)}:
            raise KeyError(f"no layout entry named {name!r}")
        return getattr(self, name)
