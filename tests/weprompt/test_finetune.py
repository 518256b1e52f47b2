"""End to end on synthetic task rows: a tiny base made by the engine, then strong and weak WePrompt fine-tunes."""

import json

import pytest
from testutil import tiny_finetune_config

from weprompt.common.errors import UserError
from weprompt.finetune import run_finetune

pytestmark = pytest.mark.usefixtures("synth_data")


def _cfg(base, bank, tmp_path, split, **kw):
    return tiny_finetune_config(base, bank, tmp_path / split, split=split, **kw)


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
    from weprompt.data import load_split
    from weprompt.pretrain.tokenizer import train_tokenizer

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


def test_warmup_mixes_pretraining_text_into_training_only(tiny_base, task_tokenizer, tmp_path):
    """The paper's warm-up: early batches carry pretraining text; validation batches never do."""
    from dataclasses import replace

    from weprompt.data import load_split
    from weprompt.finetune_data import BatchConfig, WarmupMixConfig
    from weprompt.pretrain.engine.synthetic import write_text_shards

    base, bank = tiny_base
    texts = [r["text"] for r in load_split("chnsenticorp", "train").select(range(300))]
    shards = write_text_shards(tmp_path / "shards", task_tokenizer, texts)
    cfg = _cfg(base, bank, tmp_path, "strong")
    cfg.batch = BatchConfig(warmup=WarmupMixConfig(steps=2, start_fraction=0.5, shards=str(shards)))
    cfg.train = replace(cfg.train, total_steps=4)
    run_finetune(cfg)
    logged = [json.loads(x) for x in (tmp_path / "strong" / "train_log.jsonl").read_text().splitlines()]
    fractions = [r["pretrain_fraction"] for r in logged if r.get("kind") == "train"]
    assert fractions[0] == 0.5 and fractions[-1] == 0.0


def test_training_takes_approved_prompts_and_records_which(tiny_base, tmp_path):
    import dataclasses
    import shutil

    from weprompt.finetune import _write_split
    from weprompt.templates import dump_templates, load_templates

    base, bank = tiny_base
    mine = tmp_path / "bank"
    shutil.copytree(bank, mine)
    path = mine / "templates" / "afqmc.yaml"
    coll = load_templates(path)
    draft = coll.templates[0]
    draft.metadata = dataclasses.replace(
        draft.metadata, extra={**draft.metadata.extra, "review_status": "draft"}
    )
    path.write_text(dump_templates(coll.task, coll.templates), encoding="utf-8")

    def trained_ids(**kw) -> list[str]:
        cfg = _cfg(base, mine, tmp_path, "strong", **kw)
        _write_split(cfg, tmp_path / "run")
        record = json.loads((tmp_path / "run" / "prompts.json").read_text())
        assert record["review_statuses"] in (["approved"], "all") and len(record["prompts_sha256"]) == 64
        return record["prompt_ids"].get("afqmc", [])

    assert draft.id not in trained_ids()  # the default: approved only (afqmc's one prompt is a draft)
    assert draft.id in trained_ids(prompts="all")
