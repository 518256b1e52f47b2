"""Token shards for tests, benchmarks and smoke runs, without a corpus or a tokenizer.

`write_markov_shards` draws documents from a seeded order-1 Markov chain with a sparse transition table:
a model can learn it (losses fall well below log V within tens of steps, which the golden-curve and spike
tests need), and numpy's PCG64 makes the tokens identical on every machine and numpy version.
`write_text_shards` tokenizes real texts with a real tokenizer (what the corpus pipeline does at scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weprompt.pretrain.shards import ShardWriter

SYNTHETIC_FINGERPRINT = "synthetic-markov-v1"


def write_markov_shards(
    out_dir: str | Path,
    vocab_size: int = 256,
    num_docs: int = 400,
    doc_len: tuple[int, int] = (20, 400),
    branching: int = 4,
    seed: int = 0,
    eos_id: int = 2,
) -> Path:
    rng = np.random.default_rng(seed)
    first = 4  # ids 0..3 are specials (unk, bos, eos, pad) as in our tokenizer
    succ = rng.integers(first, vocab_size, size=(vocab_size, branching))  # each token has few successors
    with ShardWriter(out_dir, vocab_size, SYNTHETIC_FINGERPRINT, eos_id=eos_id) as w:
        for d in range(num_docs):
            n = int(rng.integers(*doc_len))
            toks = np.empty(n, dtype=np.int64)
            toks[0] = rng.integers(first, vocab_size)
            choice = rng.integers(0, branching, size=n)
            for t in range(1, n):
                toks[t] = succ[toks[t - 1], choice[t]]
            w.add_document(toks, source=f"markov{d % 3}")
    return Path(out_dir)


def write_text_shards(out_dir: str | Path, tokenizer, texts: list[str], source: str = "text") -> Path:
    with ShardWriter(out_dir, tokenizer.vocab_size, tokenizer.fingerprint(), eos_id=tokenizer.eos_id) as w:
        for ids in tokenizer.encode_batch(texts):
            w.add_document(ids, source=source)
    return Path(out_dir)
