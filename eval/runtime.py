"""Threads and batch size for an evaluation run (neither changes a score).

- Threads, `auto`: the cores this process may use minus the ones already busy (1-minute load average),
  at least 1. On a shared, loaded host, more threads than free cores made both our evaluator and the
  harness 10–20× slower (oversubscription: threads wait on each other at every matmul).
- Batch size, `auto`: on a GPU, the largest power of two up to `MAX_BATCH` whose worst-case batch (the
  longest prompts, every choice a row) runs without running out of memory; on the CPU, the largest
  power of two whose estimated KV cache and logits fit in a quarter of the available memory (beyond a
  few dozen examples a CPU batch gains nothing).
"""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)

MAX_BATCH = 64
ROWS_PER_EXAMPLE = 8  # choices (and content-free rows) per example in the estimate


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def auto_threads() -> int:
    cores = cpu_count()
    try:
        busy = int(os.getloadavg()[0] + 0.5)
    except OSError:
        busy = 0
    return max(1, min(cores, cores - busy))


def set_threads(spec: int | str) -> int:
    n = auto_threads() if spec == "auto" else int(spec)
    torch.set_num_threads(n)
    return n


def _available_bytes() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def _kv_bytes_per_token(model) -> int:
    dev = next(model.parameters()).device
    with torch.no_grad():
        out = model(torch.zeros((1, 1), dtype=torch.long, device=dev), use_cache=True)
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in out.past_key_values)


def _fits_on_gpu(lm, batch: int) -> bool:
    from weprompt.eval.batching import score_batch

    ctx = lm.config.context_length
    half = max(1, ctx // 2)
    requests = [([1] * half, [[1] * (ctx - half)] * 4) for _ in range(batch)]
    try:
        score_batch(lm.model, requests, lm.tokenizer.pad_id)
        return True
    except torch.OutOfMemoryError:
        return False
    finally:
        torch.cuda.empty_cache()


def auto_batch_size(lm) -> int:
    """The batch size `auto` stands for on this machine (logged)."""
    if next(lm.model.parameters()).device.type == "cuda":
        batch = MAX_BATCH
        while batch > 1 and not _fits_on_gpu(lm, batch):
            batch //= 2
    else:
        ctx = lm.config.context_length
        per_example = ROWS_PER_EXAMPLE * ctx * (_kv_bytes_per_token(lm.model) + 4 * lm.config.vocab_size)
        batch = MAX_BATCH
        while batch > 1 and batch * per_example > _available_bytes() // 4:
            batch //= 2
    log.info("batch size auto: %d", batch)
    return batch
