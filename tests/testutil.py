"""Shared test helpers (importable as `testutil`: pyproject puts tests/ on the path).

`requires_data` / `requires_corpus` mark the tests that check the real shared data (../shared/data,
../shared/corpus, or $WEPROMPT_DATA_DIR / $WEPROMPT_CORPUS_DIR); a test that needs only *some* task rows,
text or tokenizer uses the synthetic fixtures of tests/conftest.py (tests/synthdata.py) and runs anywhere.
"""

from pathlib import Path

import pytest

from weprompt.common import paths

REPO = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    p = paths.data_dir()[0]  # as the code under test resolves it
    return p if p.is_dir() else None


def _shared_corpus() -> Path | None:
    p = paths.corpus_dir()[0]  # as the corpus config resolves it
    return p if p.is_dir() else None


SHARED_DATA = _shared_data()
SHARED_CORPUS = _shared_corpus()
requires_data = pytest.mark.skipif(SHARED_DATA is None, reason="../shared/data is not present")
requires_corpus = pytest.mark.skipif(SHARED_CORPUS is None, reason="../shared/corpus is not present")


def tiny_finetune_config(base, bank, run_dir, *, test_tasks=("ocnli",), split="strong", steps=3, batch=2,
                         max_lr=1e-4, warmup=1, **kw):  # fmt: skip
    """A FinetuneConfig for the session's tiny base: small blocks, one validation batch, quiet logging."""
    from weprompt.finetune import FinetuneConfig
    from weprompt.pretrain.engine.config import CheckpointConfig, LoggingConfig, OptimConfig, TrainerConfig
    from weprompt.sampler import SamplerConfig

    return FinetuneConfig(
        base=str(base),
        test_tasks=list(test_tasks),
        split=split,
        bank_dir=str(bank),
        val_batches=1,
        sampler=SamplerConfig(block=32),
        train=TrainerConfig(
            run_dir=str(run_dir),
            total_steps=steps,
            micro_batch_size=batch,
            optim=OptimConfig(max_lr=max_lr, warmup_steps=warmup),
            checkpoint=CheckpointConfig(every=0),
            logging=LoggingConfig(every=1, progress=False, plot=False),
        ),
        **kw,
    )
