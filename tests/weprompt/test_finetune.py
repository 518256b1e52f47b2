"""End to end on real data: a tiny base made by the engine, then strong and weak WePrompt fine-tunes."""

import json

import pytest
from testutil import requires_data

from pretrain.engine.config import CheckpointConfig, LoggingConfig, OptimConfig, TrainerConfig
from pretrain.engine.trainer import Trainer
from pretrain.errors import UserError
from pretrain.model import ModelConfig
from weprompt.finetune import FinetuneConfig, run_finetune
from weprompt.finetune_data import BatchConfig, FinetuneBatches
from weprompt.packing import Packer, PackingConfig
from weprompt.sampler import MultitaskSampler, SamplerConfig, build_pools
from weprompt.templates import Template, TemplateCollection, TemplateMetadata

pytestmark = requires_data
M = TemplateMetadata(True, False, ["Accuracy"], ["zh"])


def _bank(tmp_path):
    """A small bank: the real catalog, one or two templates for a handful of tasks."""
    from testutil import REPO

    bank = tmp_path / "bank"
    (bank / "templates").mkdir(parents=True)
    (bank / "catalog.yaml").write_text(
        (REPO / "prompt_bank/catalog.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    specs = {
        "ocnli": (
            "{{sentence1}}\n{{sentence2}}\n关系？ ||| {{answer_choices[label_id]}}",
            "蕴含 ||| 中立 ||| 矛盾",
        ),
        "cinlid": (
            "{{phrase1}}\n{{phrase2}}\n关系？ ||| {{answer_choices[label_id]}}",
            "蕴含 ||| 中立 ||| 矛盾",
        ),
        "afqmc": (
            "“{{sentence1}}”“{{sentence2}}”同义吗？ ||| {{answer_choices[label_id]}}",
            "不同义 ||| 同义",
        ),
        "chnsenticorp": ("评论：{{text}}\n态度？ ||| {{answer_choices[label_id]}}", "差评 ||| 好评"),
        "tnews": (
            "标题：{{sentence}}\n类别： ||| {{answer_choices[label_id]}}",
            "故事 ||| 文化 ||| 娱乐 ||| 体育 ||| 财经 ||| 房产 ||| 汽车 ||| 教育 ||| 科技 ||| 军事 ||| 旅游 ||| 国际 ||| 股票 ||| 农业 ||| 电竞",
        ),
    }
    for task, (jinja, choices) in specs.items():
        TemplateCollection(
            task,
            [Template(name="a", jinja=jinja, answer_choices=choices, metadata=M)],
            bank / "templates" / f"{task}.yaml",
        ).save()
    return bank


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory, task_tokenizer):
    tmp = tmp_path_factory.mktemp("base")
    bank = _bank(tmp)
    from weprompt.bank import load_bank
    from weprompt.data import load_split

    _, colls = load_bank(bank)
    pools = build_pools(["afqmc", "chnsenticorp"], colls, lambda n: load_split(n, "train"), 500, 0)
    tok = task_tokenizer
    src = FinetuneBatches(
        Packer(
            MultitaskSampler(pools, tok, SamplerConfig(block=32)),
            PackingConfig(seq_len=65),
            tok.eos_id,
            tok.pad_id,
        ),
        BatchConfig(batch_size=2),
        65,
        tok.eos_id,
    )
    model_cfg = ModelConfig(vocab_size=tok.vocab_size, n_layer=1, n_head=2, d_model=32, context_length=64)
    cfg = TrainerConfig(
        run_dir=str(tmp / "base"),
        total_steps=2,
        micro_batch_size=2,
        optim=OptimConfig(warmup_steps=1),
        checkpoint=CheckpointConfig(every=0),
        logging=LoggingConfig(every=1, progress=False, plot=False),
    )
    tok_dir = tmp / "tok"
    tok.save(tok_dir)
    Trainer(cfg, model_cfg, src, tokenizer_dir=tok_dir, tokenizer_fingerprint=tok.fingerprint()).fit()
    return tmp / "base", bank


def _cfg(base, bank, tmp_path, split, **kw):
    return FinetuneConfig(
        base=str(base),
        test_tasks=["ocnli"],
        split=split,
        bank_dir=str(bank),
        val_batches=1,
        sampler=SamplerConfig(block=32),
        leakage=kw.pop("leakage", None) or FinetuneConfig().leakage,
        train=TrainerConfig(
            run_dir=str(tmp_path / split),
            total_steps=3,
            micro_batch_size=2,
            optim=OptimConfig(max_lr=1e-4, warmup_steps=1),
            checkpoint=CheckpointConfig(every=0),
            logging=LoggingConfig(every=1, progress=False, plot=False),
        ),
        **kw,
    )


def test_strong_and_weak_finetune_end_to_end(tiny_base, tmp_path):
    base, bank = tiny_base
    strong = run_finetune(_cfg(base, bank, tmp_path, "strong"))
    split = json.loads((tmp_path / "strong" / "split.json").read_text())
    assert "cinlid" not in split["train_tasks"] and split["excluded"]["cinlid"].startswith("same category")
    assert set(split["train_tasks"]) == {"afqmc", "chnsenticorp", "tnews"}
    weak = run_finetune(_cfg(base, bank, tmp_path, "weak"))
    assert "cinlid" in json.loads((tmp_path / "weak" / "split.json").read_text())["train_tasks"]
    for summary, name in ((strong, "strong"), (weak, "weak")):
        assert summary["steps"] == 3 and summary["checkpoint"]
        report = json.loads((tmp_path / name / "sampling_report.json").read_text())
        assert sum(report["draws_per_task"].values()) > 0 and report["packing_efficiency"] > 0.8
        assert (tmp_path / name / "task_histogram.png").stat().st_size > 1000
        assert (tmp_path / name / "leakage.json").is_file()
    assert "ocnli" not in report["draws_per_task"]


def test_tokenizer_mismatch_is_refused(tiny_base, tmp_path):
    base, bank = tiny_base
    other = tmp_path / "other_tok"
    from pretrain.tokenizer import train_tokenizer
    from weprompt.data import load_split

    texts = [r["text"] for r in load_split("chnsenticorp", "train").select(range(2000))]
    train_tokenizer(texts, other, vocab_size=5000, char_sets=("ascii",), character_coverage=0.999)
    with pytest.raises(UserError, match="differs from the base checkpoint"):
        run_finetune(_cfg(base, bank, tmp_path, "strong", tokenizer=str(other)))


def test_leakage_above_threshold_stops_before_training(tiny_base, tmp_path):
    base, bank = tiny_base
    from weprompt.finetune import LeakageConfig

    cfg = _cfg(base, bank, tmp_path, "strong", leakage=LeakageConfig(threshold=-1.0, sample=50))
    with pytest.raises(UserError, match="leakage above the threshold"):
        run_finetune(cfg)
    assert not (tmp_path / "strong" / "checkpoints").exists()
