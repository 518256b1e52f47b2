"""Positive control for the whole fine-tune → evaluate path: a label decided by a planted word must be learned.

Packing that shifts the loss mask by a token, a document mask that hides the input from its target, labels
mapped to the wrong verbalizer, or choices scored at other positions than training predicted them would
each leave accuracy at chance here. The rows have ChnSentiCorp's real schema and a real tokenizer, but
their sentiment is one planted word, so a 1-layer model learns it in 200 steps (about 8 s) and scores 100 on
the validation rows. Checked against a mutation: the loss mask shifted by one token scores 91.7. The real
task needs far more steps at CPU scale (experiments/cpu_control.yaml).
"""

from __future__ import annotations

import gzip
import json
import random

from testutil import tiny_finetune_config

from weprompt.eval.runner import evaluate
from weprompt.finetune import run_finetune
from weprompt.packing import PackingConfig

FILLER = ["房间", "酒店", "电脑", "屏幕", "价格", "服务", "早餐", "位置", "键盘", "外观", "这本书", "快递"]
WORDS = {0: "很差", 1: "很好"}


def _rows(n: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(n):
        label = rng.randrange(2)
        words = rng.sample(FILLER, 4)
        words.insert(rng.randrange(5), WORDS[label])
        rows.append({"id": i, "text": "，".join(words) + "。", "label": label})
    return rows


def _write(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def _accuracy(results: dict) -> float:
    (prompt,) = results["tasks"]["chnsenticorp"]["shots"]["0"]["prompts"]
    return prompt["metrics"]["accuracy"]


def test_single_task_finetune_learns_a_planted_label(tiny_base, tmp_path):
    base, bank = tiny_base
    rng = random.Random(0)
    data = tmp_path / "data"
    _write(data / "chnsenticorp" / "train.jsonl.gz", _rows(600, rng))
    _write(data / "chnsenticorp" / "validation.jsonl.gz", _rows(60, rng))
    cfg = tiny_finetune_config(base, bank, tmp_path / "single", test_tasks=["chnsenticorp"], split="single",
                               steps=200, batch=8, max_lr=1e-2, warmup=5, data_dir=str(data),
                               packing=PackingConfig(loss_on="targets"))  # fmt: skip
    summary = run_finetune(cfg)
    kw = dict(limit=60, bank_dir=str(bank), data_dir=str(data), progress=False, calibrate=False)
    before = _accuracy(evaluate(str(base), ["chnsenticorp"], [0], cache_dir=str(tmp_path / "c0"), **kw))
    after = _accuracy(
        evaluate(summary["checkpoint"], ["chnsenticorp"], [0], cache_dir=str(tmp_path / "c1"), **kw)
    )
    assert before < 75.0  # the 2-step base cannot know the planted word
    assert after >= 98.0, f"fine-tuning did not learn a one-word label: {before:.1f} → {after:.1f}"
