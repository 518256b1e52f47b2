"""The evaluator as a probe during fine-tuning: held-out rank-classification accuracy of the live model.

`rank_probe` is a `weprompt.finetune_heldout.ProbeFactory`: the fine-tuning CLI and the experiment runner
inject it into `run_finetune`, which cannot import this layer. The sample is small and fixed (the first
`examples` rows of each test task's evaluation split, its first `prompts` usable original-task prompts,
zero-shot), scored exactly as `eval.runner` scores rank tasks (`prepare_rank` / `finish_rank` in batches, calibrated,
the default rule)
but without the prediction cache (the weights change every step). Each task's score is the median over
its prompts; "mean" is the mean of the task medians.
"""

from __future__ import annotations

import logging
import statistics

import torch.nn as nn

from weprompt.bank import bank_catalog, load_task_templates
from weprompt.data import load_rows
from weprompt.eval.aggregate import score_prompt, summarize
from weprompt.eval.examples import PromptBuilder, example_key, usable_templates
from weprompt.eval.modelio import LoadedModel
from weprompt.eval.predict import batches, finish_rank, prepare_rank
from weprompt.finetune_heldout import ProbeRequest

log = logging.getLogger(__name__)
PROBE_BATCH = 8  # examples per forward batch (scores do not depend on it)


def _no_generation():
    raise AssertionError("the held-out probe decodes nothing (no scope probe)")


def _task_sample(req: ProbeRequest, catalog, name: str) -> tuple | None:
    """(task, prompt builders, rows) for one test task, or None when it has no rank prompt to probe."""
    task = catalog.task(name)
    if not task.is_rank:
        log.info("held-out probe: '%s' is a generation task; only rank tasks are probed", name)
        return None
    templates, _ = usable_templates(task, load_task_templates(name, req.bank_dir).templates)
    if not templates:
        log.warning("held-out probe: '%s' has no usable original-task prompt; not probed", name)
        return None
    split = task.eval_split
    rows = load_rows(name, split, req.data_dir, catalog=catalog)[: req.examples]
    builders = [
        PromptBuilder(task, t, req.tokenizer, req.context_length, 0, req.seed, [], split, split)  # type: ignore[arg-type]
        for t in templates[: req.prompts]
    ]
    return task, builders, rows, split


def rank_probe(req: ProbeRequest):
    """The eval hook: module -> {"<task>": median accuracy over prompts, ..., "mean": mean of the medians}."""
    catalog = bank_catalog(req.bank_dir)
    samples = [s for s in (_task_sample(req, catalog, n) for n in req.tasks) if s is not None]

    def probe(module: nn.Module) -> dict[str, float]:
        lm = LoadedModel(module, req.tokenizer, name="training", model_hash="live")  # type: ignore[arg-type]
        out: dict[str, float] = {}
        for task, builders, rows, split in samples:
            prompts = []
            for b in builders:
                jobs = [
                    prepare_rank(lm, b, row, example_key(split, i), i, calibrate=True, probe=False)
                    for i, row in enumerate(rows)
                ]
                for batch in batches(jobs, PROBE_BATCH):
                    finish_rank(lm, batch, _no_generation)
                recs = [{"key": j.key, **j.rec} for j in sorted(jobs, key=lambda j: j.index)]
                prompts.append({"template_id": b.template.id, "name": b.template.name,
                                **score_prompt(task, recs, {})})  # fmt: skip
            median = summarize(prompts, task.metric).get("median")
            if median is not None:
                out[task.name] = round(float(median), 3)
        if out:
            out["mean"] = round(statistics.fmean(out.values()), 3)
        return out

    return probe
