"""The paper's defaults (and the few measured ones the design card fixes), pinned twice: where each
default is defined, and where it is wired into the run that uses it. Changing either fails here."""

import gzip
import json

import pytest
from testutil import tiny_finetune_config

from weprompt.finetune import FinetuneConfig, LeakageConfig
from weprompt.pretrain.corpus.config import CorpusConfig, DecontamConfig, DedupConfig, QualityConfig
from weprompt.pretrain.engine.config import OptimConfig, SpikeConfig
from weprompt.sampler import SamplerConfig

# -- where they are defined ---------------------------------------------------------------------------


def test_sampler_defaults():
    assert SamplerConfig().max_examples_per_task == 50_000  # paper §4.3: each task's pool capped at 50k
    assert SamplerConfig().mixing == "uniform"  # paper: a task is drawn uniformly
    assert FinetuneConfig().sampler == SamplerConfig()


def test_finetune_optimizer_defaults():
    o = FinetuneConfig().train.optim
    assert (o.max_lr, o.beta1, o.beta2, o.eps, o.min_lr_ratio) == (1e-4, 0.9, 0.95, 1e-8, 0.1)
    assert (OptimConfig().beta1, OptimConfig().beta2, OptimConfig().eps) == (0.9, 0.95, 1e-8)


def test_leakage_defaults():
    assert (LeakageConfig().n, LeakageConfig().threshold) == (13, 0.01)
    assert FinetuneConfig().leakage == LeakageConfig()


def test_spike_rule_defaults():
    s = SpikeConfig()
    # DESIGN §8: restart ~100 steps before the spike, skip the next 200 batches, lower the lr.
    assert (s.enabled, s.rollback_steps, s.skip_batches, s.lr_factor) == (True, 100, 200, 0.5)
    assert (s.threshold, s.min_sigmas, s.window, s.min_history) == (1.5, 4.0, 50, 20)
    # A pretraining rule: fine-tuning turns it off by default (noisy target-only loss; see finetune.py).
    assert FinetuneConfig().train.spike == SpikeConfig(enabled=False)


def test_corpus_defaults():
    assert DedupConfig().hamming == 8 and DedupConfig().near and DedupConfig().exact
    assert QualityConfig().threshold == 0.9  # paper: keep documents the classifier scores above 0.9
    d = DecontamConfig()  # paper: >= 2 shared 17-grams or one shared 34-gram removes a document
    assert (d.n_small, d.min_small_hits, d.n_large, d.min_large_hits) == (17, 2, 34, 1)


# -- where they are wired in --------------------------------------------------------------------------


def test_corpus_pipeline_builds_its_steps_from_the_defaults(tmp_path):
    from weprompt.pretrain.corpus.pipeline import CorpusPipeline

    src = tmp_path / "corpus" / "news"
    src.mkdir(parents=True)
    with gzip.open(src / "a.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"text": "一篇新闻。", "source": "news", "lang": "zh"}, ensure_ascii=False) + "\n")
    cfg = CorpusConfig(corpus_dir=str(tmp_path / "corpus"), work_dir=str(tmp_path / "work"))
    cfg.balance.targets = {"news": 1.0}
    cfg.decontam.data_dir = str(tmp_path)
    stages = {s.name: s for s in CorpusPipeline(cfg).stages}
    (_, minhash) = stages["minhash_sigs"].build()  # near-dedup default: MinHash, 5-char shingles, 14 x 8
    assert (minhash.config.n_grams, minhash.config.num_buckets, minhash.config.hashes_per_bucket) == (
        5,
        14,
        8,
    )
    assert "dedup_pairs" not in stages and cfg.dedup.hamming == 8  # SimHash only with method: simhash
    decontam = next(s for s in stages["final"].build() if type(s).__name__ == "DecontamFilter")
    assert (decontam.n_small, decontam.min_small_hits, decontam.n_large, decontam.min_large_hits) == (
        17,
        2,
        34,
        1,
    )
    quality = next(s for s in stages["score"].build() if type(s).__name__ == "QualityFilter")
    assert quality.threshold == 0.9


def test_finetune_wires_cap_leakage_and_spike_rule(tiny_base, tmp_path, monkeypatch):
    """A real fine-tune with default sampler, leakage and spike settings: spy on what reaches each part."""
    import weprompt.finetune as ft
    import weprompt.pretrain.engine.trainer as trainer_mod

    seen: dict = {}
    real_pools, real_leak, real_detector = ft.build_pools, ft.leakage_report, trainer_mod.spk.SpikeDetector

    def pools(tasks, bank, load_rows, cap, seed, **kw):
        seen.setdefault("cap", cap)
        return real_pools(tasks, bank, load_rows, cap, seed, **kw)

    def leak(catalog, tests, train, n, sample, threshold, *rest):
        seen["leakage"] = (n, threshold)
        return real_leak(catalog, tests, train, n, sample, threshold, *rest)

    def detector(cfg):
        seen["spike"] = cfg
        return real_detector(cfg)

    monkeypatch.setattr(ft, "build_pools", pools)
    monkeypatch.setattr(ft, "leakage_report", leak)
    monkeypatch.setattr(trainer_mod.spk, "SpikeDetector", detector)
    base, bank = tiny_base
    cfg = tiny_finetune_config(base, bank, tmp_path / "run", steps=1)
    cfg.sampler = SamplerConfig(block=cfg.sampler.block)  # the default cap, whatever the helper sets
    cfg.leakage = LeakageConfig(sample=50)
    cfg.train.spike = SpikeConfig()
    ft.run_finetune(cfg)
    assert seen["cap"] == 50_000
    assert seen["leakage"] == (13, 0.01)
    assert seen["spike"] == SpikeConfig()


@pytest.mark.parametrize("name", ["cpu.yaml", "quickstart.yaml"])
def test_shipped_pretrain_configs_keep_the_spike_rule(name):
    from testutil import REPO

    from weprompt.pretrain.engine.pretrain import load_pretrain_config

    cfg, _ = load_pretrain_config(REPO / "configs" / "pretrain" / name)
    s = cfg.train.spike
    assert (s.rollback_steps, s.skip_batches, s.lr_factor) == (100, 200, 0.5)
