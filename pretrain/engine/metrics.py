"""Throughput, model FLOPs utilisation (MFU) and peak memory.

MFU = (training FLOPs per token × tokens per second) / peak FLOP/s of the hardware, with FLOPs per token
= 6·N + 12·L·d·T (PaLM, appendix B; N = parameters in matmuls). Peaks come from a table of dense
tensor-core numbers per GPU and dtype; a CPU has no datasheet number we can trust (cores, clocks, AVX-512
and AMX vary per host and per VM), so its peak is *measured* in the run: the best of a few large matmuls
in the run's dtype on the run's threads. An MFU on CPU is therefore "fraction of what this CPU's BLAS
reaches on a big square matmul", which is what the training loop could reach at best. No earlier run's
number is reused (no cache file): a reported MFU depends on this run alone. Where one measurement is not
trusted (a busy shared host), `train.logging.peak_flops` gives the peak explicitly. The source of the
number ("table: ...", "measured: ...", "configured: ...") is logged and stored in the run's summary.
"""

from __future__ import annotations

import functools
import logging
import platform
import resource
import sys
import time

import torch

log = logging.getLogger(__name__)

# Dense peak FLOP/s (no sparsity) per device name fragment and precision. fp32 on Ampere+ counts TF32.
PEAK_FLOPS: dict[str, dict[str, float]] = {
    "H200": {"bf16": 989e12, "fp16": 989e12, "fp32": 494e12},
    "H100 PCIe": {"bf16": 756e12, "fp16": 756e12, "fp32": 378e12},
    "H100": {"bf16": 989e12, "fp16": 989e12, "fp32": 494e12},  # SXM
    "A100": {"bf16": 312e12, "fp16": 312e12, "fp32": 156e12},
    "A10G": {"bf16": 70e12, "fp16": 70e12, "fp32": 35e12},
    "L40S": {"bf16": 362e12, "fp16": 362e12, "fp32": 183e12},
    "L4": {"bf16": 121e12, "fp16": 121e12, "fp32": 60e12},
    "RTX 4090": {"bf16": 165e12, "fp16": 165e12, "fp32": 83e12},
    "RTX 3090": {"bf16": 71e12, "fp16": 71e12, "fp32": 36e12},
    "V100": {"bf16": 0.0, "fp16": 125e12, "fp32": 15.7e12},
    "T4": {"bf16": 0.0, "fp16": 65e12, "fp32": 8.1e12},
}

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _matmul_peak(precision: str, n: int, seconds: float) -> float:
    dtype = _DTYPES[precision]
    g = torch.Generator().manual_seed(0)  # never the global RNG: that would break bit-exact resume
    a = torch.randn(n, n, generator=g).to(dtype)
    b = torch.randn(n, n, generator=g).to(dtype)
    a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t0))
    return best


def _cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "cpu"


@functools.cache  # measured once per process (and dtype): never read from an earlier run
def measure_cpu_peak(precision: str = "fp32", seconds: float = 0.6) -> float:
    """Best FLOP/s of square matmuls (n = 512, 1024) in `precision` on the current threads, measured now."""
    return max(_matmul_peak(precision, n, seconds / 2) for n in (512, 1024))


def _peak_and_source(device: torch.device, precision: str, configured: float | None) -> tuple[float, str]:
    if configured is not None:
        return configured, f"configured: train.logging.peak_flops = {configured:.4g} FLOP/s"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, table in PEAK_FLOPS.items():
            if key in name and table.get(precision):
                return table[precision], f"table: {key} {precision}"
        return 0.0, f"unknown GPU '{name}' (add it to PEAK_FLOPS or set train.logging.peak_flops)"
    peak = measure_cpu_peak(precision)
    threads = torch.get_num_threads()
    return peak, (
        f"measured: {peak / 1e9:.1f} GFLOP/s, best {precision} matmul on {threads} threads of "
        f"{_cpu_name()}, in this process"
    )


def peak_flops(device: torch.device, precision: str, configured: float | None = None) -> tuple[float, str]:
    """(peak FLOP/s per device, where the number comes from): `configured` when given, else the GPU table,
    else measured on this CPU now. The source is logged; the trainer stores it in summary.json."""
    peak, source = _peak_and_source(device, precision, configured)
    log.info("MFU peak: %s", source)
    return peak, source


def mfu(flops_per_token: float, tokens_per_s_per_device: float, peak: float) -> float:
    return flops_per_token * tokens_per_s_per_device / peak if peak > 0 else float("nan")


def peak_memory_mib(device: torch.device) -> float:
    """Peak memory of this process: GPU memory allocated on CUDA, resident set size on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
