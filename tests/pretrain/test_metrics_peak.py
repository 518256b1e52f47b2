"""The MFU peak comes from the run (measured now, or configured), never from a file an earlier run left in HOME."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from weprompt.common.config import ConfigError
from weprompt.pretrain.engine import metrics
from weprompt.pretrain.engine.config import LoggingConfig, TrainerConfig

CPU = torch.device("cpu")


@pytest.fixture
def fresh_measurement(monkeypatch):
    """The matmul benchmark replaced by a known number (4 GFLOP/s); the per-process memo cleared around it."""
    calls: list[int] = []

    def fake_matmul_peak(precision: str, n: int, seconds: float) -> float:
        calls.append(n)
        return 4.0e9 if n == 1024 else 3.0e9

    monkeypatch.setattr(metrics, "_matmul_peak", fake_matmul_peak)
    metrics.measure_cpu_peak.cache_clear()
    yield calls
    metrics.measure_cpu_peak.cache_clear()


@pytest.fixture
def home_with_bogus_cache(tmp_path, monkeypatch):
    """HOME and XDG_CACHE_HOME in tmp_path, each holding a cpu_peak.json with a huge peak for this CPU."""
    key = f"{metrics._cpu_name()}|threads={torch.get_num_threads()}|fp32"
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    for cache in (home / ".cache", xdg):
        (cache / "weprompt").mkdir(parents=True)
        (cache / "weprompt" / "cpu_peak.json").write_text(json.dumps({key: 1e18}))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(xdg))
    return tmp_path


def _tree(root) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_cpu_peak_is_measured_in_the_run_and_no_cache_is_used(
    fresh_measurement, home_with_bogus_cache, caplog
):
    before = _tree(home_with_bogus_cache)
    with caplog.at_level(logging.INFO, logger=metrics.__name__):
        peak, source = metrics.peak_flops(CPU, "fp32")
    assert peak == 4.0e9  # what this run measured, not the 1e18 left in the cache files
    assert fresh_measurement == [512, 1024]
    assert source.startswith("measured: 4.0 GFLOP/s, best fp32 matmul on ")
    assert f"MFU peak: {source}" in caplog.text
    assert _tree(home_with_bogus_cache) == before  # nothing read into the result, nothing written


def test_configured_peak_is_used_as_is(fresh_measurement, home_with_bogus_cache):
    peak, source = metrics.peak_flops(CPU, "fp32", configured=2.5e12)
    assert (peak, source) == (2.5e12, "configured: train.logging.peak_flops = 2.5e+12 FLOP/s")
    assert fresh_measurement == []  # no measurement when the peak is given


@pytest.mark.parametrize("bad", [0.0, -1e12])
def test_configured_peak_must_be_positive(bad):
    with pytest.raises(ConfigError, match="train.logging.peak_flops must be > 0"):
        TrainerConfig(logging=LoggingConfig(peak_flops=bad))


def test_a_run_reports_the_configured_peak(tmp_path, fresh_measurement):
    """`train.logging.peak_flops` reaches the trainer: the run's summary names it as the source."""
    import tinyrun

    from weprompt.cli.main import main

    data = tinyrun.make_data(tmp_path / "data")
    sets = ("train.total_steps=2", "train.checkpoint.every=0", "train.logging.peak_flops=2.5e12")
    assert main(tinyrun.pretrain_args(data, tmp_path / "run", *sets)) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["peak_flops"] == 2.5e12
    assert summary["peak_source"] == "configured: train.logging.peak_flops = 2.5e+12 FLOP/s"
    assert fresh_measurement == []
