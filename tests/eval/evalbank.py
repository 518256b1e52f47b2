"""Helpers for the eval tests: prompt templates written into tmp banks (tests do not depend on the real
bank, which is still being written) and a checkpoint writer in the trainer's layout."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from weprompt.templates import Template, TemplateMetadata


def template(name: str, jinja: str, choices: str | None = None, original: bool = True) -> Template:
    return Template(
        name=name, jinja=jinja, answer_choices=choices, metadata=TemplateMetadata(original_task=original)
    )


OCNLI = [
    template(
        "关系",
        "“{{sentence1}}”和“{{sentence2}}”之间是什么关系？ ||| {{answer_choices[label_id]}}",
        "蕴含 ||| 中立 ||| 矛盾",
    ),
    template(
        "考试",
        "第一句：{{sentence1}}\n第二句：{{sentence2}}\n两句的关系是：||| {{answer_choices[label_id]}}",
        "可以推出 ||| 无法判断 ||| 相互矛盾",
    ),
    template(
        "训练用", "{{sentence1}}？{{sentence2}} ||| {{answer_choices[label_id]}}", "是 ||| 也许 ||| 不", False
    ),
]
CHID = [
    template(
        "成语",
        "{{content.replace('#idiom#', '____')}}\n横线处应填哪个成语？ ||| {{candidates[answer]}}",
        "{{candidates | join(' ||| ')}}",
    )
]
TNEWS_CHOICES = "故事 ||| 文化 ||| 娱乐 ||| 体育 ||| 财经 ||| 房产 ||| 汽车 ||| 教育 ||| 科技 ||| 军事 ||| 旅游 ||| 国际 ||| 股票 ||| 农业 ||| 电竞"
TNEWS = [
    template(
        "新闻类别",
        "新闻标题：{{sentence}}\n这条新闻属于哪一类？ ||| {{answer_choices[label_id]}}",
        TNEWS_CHOICES,
    ),
    template("栏目", "“{{sentence}}”应放在哪个栏目？ ||| {{answer_choices[label_id]}}", TNEWS_CHOICES),
]
CMRC = [
    template("阅读", "{{context}}\n问题：{{question}}\n答案： ||| {{answers.text[0]}}"),
    template("先问", "问题：{{question}}\n请从下文中找出答案。\n{{context}} ||| {{answers.text[0]}}"),
]


def write_checkpoint(lm, root: Path, fingerprint: str | None = None) -> Path:
    """A run dir in the trainer's layout (run/checkpoints/step_N + latest) holding `lm`."""
    from weprompt.pretrain import checkpoint as ck

    step = root / "checkpoints" / ck.step_name(1)
    step.mkdir(parents=True)
    torch.save(lm.model.state_dict(), step / ck.MODEL_FILE)
    ck.write_model_config(step, lm.model.config)
    lm.tokenizer.save(step / ck.TOKENIZER_DIR)
    state = {"step": 1, "tokenizer_fingerprint": fingerprint or lm.tokenizer.fingerprint(), "version": 1}
    (step / ck.STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
    ck.write_manifest(step)
    ck.point_latest(root / "checkpoints", step)
    return root
