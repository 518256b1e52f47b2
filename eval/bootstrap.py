"""Paired bootstrap: is mode A better than mode B on the same examples, or is it noise?

Both modes are scored on the same examples (same ids, same prompts). Resampling examples with
replacement (seeded) gives the distribution of the mean difference; the two-sided p-value is
2 × the share of resamples on the other side of zero (clipped at 1).
"""

from __future__ import annotations

import numpy as np


def paired_bootstrap(a: list[float], b: list[float], samples: int = 2000, seed: int = 0) -> dict:
    if len(a) != len(b):
        raise ValueError(f"paired bootstrap needs the same examples: {len(a)} vs {len(b)} scores")
    if not a:
        return {"n": 0, "diff": None, "ci95": None, "p": None, "significant": False}
    x = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(samples, len(x)))
    means = x[idx].mean(axis=1)
    diff = float(x.mean())
    lo, hi = np.percentile(means, [2.5, 97.5])
    p = min(1.0, 2.0 * float(np.mean(means <= 0) if diff > 0 else np.mean(means >= 0)))
    return {"n": len(x), "diff": diff, "ci95": [float(lo), float(hi)], "p": p, "significant": p < 0.05}


def mean_interval(values: list[float], samples: int = 2000, seed: int = 0) -> dict:
    """The mean of per-example scores and its 95% percentile-bootstrap interval (examples resampled)."""
    if not values:
        return {"n": 0, "mean": None, "ci95": None}
    x = np.asarray(values, dtype=np.float64)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(samples, len(x)))
    lo, hi = np.percentile(x[idx].mean(axis=1), [2.5, 97.5])
    return {"n": len(x), "mean": float(x.mean()), "ci95": [float(lo), float(hi)]}
