"""Fixtures for the eval tests: a tiny random-init WeLM with a real small tokenizer, and tmp prompt banks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from evalbank import write_checkpoint

from weprompt.catalog import DEFAULT_CATALOG
from weprompt.templates import Template, dump_templates

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiny model's matmuls are too small to gain from threads; one thread is faster and steadier
    on a busy machine. Restored afterwards for the other test directories."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_lm(task_tokenizer):
    from weprompt.eval.modelio import wrap
    from weprompt.pretrain.model import ModelConfig, WeLM

    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=task_tokenizer.vocab_size, n_layer=2, n_head=2, d_model=64, context_length=256
    )
    model = WeLM(cfg)
    with torch.no_grad():  # larger weights than the init: less uniform, more varied predictions
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(8.0)
    return wrap(model, task_tokenizer, name="tiny")


@pytest.fixture
def make_bank(tmp_path):
    """make_bank({"task": [Template, ...]}) -> a bank dir holding the real catalog and these templates."""

    def make(templates: dict[str, list[Template]], catalog_text: str | None = None) -> Path:
        root = tmp_path / "bank"
        (root / "templates").mkdir(parents=True, exist_ok=True)
        if catalog_text is None:
            shutil.copy(DEFAULT_CATALOG, root / "catalog.yaml")
        else:
            (root / "catalog.yaml").write_text(catalog_text, encoding="utf-8")
        for task, ts in templates.items():
            (root / "templates" / f"{task}.yaml").write_text(dump_templates(task, ts), encoding="utf-8")
        return root

    return make


@pytest.fixture
def checkpoint(tiny_lm, tmp_path):
    return write_checkpoint(tiny_lm, tmp_path / "run")
