"""One template's predictions, in batches across examples.

Every example to predict is first prepared (rendered, demonstrations drawn, prompt ids assembled), then
the prepared examples go through the model in length-sorted batches (`eval.batching`): rank examples as
(prompt, choices) requests — the content-free prompts of calibration ride in the same batch and, being
mostly identical, are encoded once — and generation examples through the batched greedy decoder.
The records are the ones the per-example path wrote (same fields, same order, scores equal to 1e-5).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from weprompt.eval.batching import length_batches, score_batch
from weprompt.eval.examples import PromptBuilder, content_free, references
from weprompt.eval.generate import Generator


@dataclass
class Job:
    index: int
    key: str
    rec: dict  # the record so far (or {"error": ...}, then nothing is computed)
    prompt: list[int] = field(default_factory=list)
    choices: list[list[int]] = field(default_factory=list)  # rank
    cf_prompt: list[int] | None = None  # rank, calibrated
    new_tokens: int = 0  # generation budget, or the rank scope probe's (0: none)

    @property
    def ok(self) -> bool:
        return "error" not in self.rec


def _render(b: PromptBuilder, row: dict, key: str):
    try:
        rendered = b.render(row, key)
    except Exception as e:  # any Jinja failure of this template on this example: counted, not fatal
        return None, {"error": f"{b.where(key)}: does not render: {type(e).__name__}: {e}"}
    if not rendered.input.strip():
        return None, {"error": f"{b.where(key)}: renders an empty input"}
    return rendered, None


def prepare_rank(lm, b: PromptBuilder, row: dict, key: str, index: int, calibrate: bool, probe: bool) -> Job:
    rendered, err = _render(b, row, key)
    if err is not None:
        return Job(index, key, err)
    choices, gold = b.choices(rendered, key)
    choice_ids = lm.tokenizer.encode_batch(choices)
    if any(not c for c in choice_ids):
        return Job(index, key, {"error": f"{b.where(key)}: an answer choice is empty: {choices}"})
    reserve = max(map(len, choice_ids))
    demos = b.demos(key, index, rendered)
    prompt = b.prompt(demos, rendered.input, reserve)
    job = Job(index, key, {"choices": choices, "gold": gold}, prompt.ids, choice_ids)
    job.rec["tail"] = {"shots": prompt.shots, "shots_dropped": prompt.shots_dropped,
                       "truncated": prompt.truncated, "prompt_tokens": len(prompt.ids)}  # fmt: skip
    if calibrate:
        try:
            cf = b.render(content_free(row, b.task.label_field), key)
        except Exception:
            cf = None
        if cf is not None and cf.input.strip():
            job.cf_prompt = b.prompt(demos, cf.input, reserve).ids
    if probe:  # the longest choice plus a little room to show it is done
        job.new_tokens = reserve + 4
    return job


def prepare_generation(b: PromptBuilder, row: dict, key: str, index: int, max_new: int) -> Job:
    rendered, err = _render(b, row, key)
    if err is not None:
        return Job(index, key, err)
    refs = references(row, rendered.target)
    if not refs:
        return Job(
            index,
            key,
            {"error": f"{b.where(key)}: no reference answer (empty target and no answers in the row)"},
        )
    prompt = b.prompt(b.demos(key, index, rendered), rendered.input, max_new)
    tail = {"shots": prompt.shots, "shots_dropped": prompt.shots_dropped, "truncated": prompt.truncated,
            "prompt_tokens": len(prompt.ids)}  # fmt: skip
    return Job(index, key, {"references": refs, "tail": tail}, prompt.ids, new_tokens=max_new)


def finish_rank(lm, jobs: list[Job], gen: Callable[[], Generator]) -> None:
    """Scores (and probe answers) of a batch of prepared rank jobs, into their records."""
    live = [j for j in jobs if j.ok]
    requests = [(j.prompt, j.choices) for j in live]
    cf_jobs = [j for j in live if j.cf_prompt is not None]
    requests += [(j.cf_prompt, j.choices) for j in cf_jobs if j.cf_prompt is not None]
    scores = score_batch(lm.model, requests, lm.tokenizer.pad_id)
    cf_scores = dict(zip((id(j) for j in cf_jobs), scores[len(live) :], strict=True))
    probes = [j for j in live if j.new_tokens]
    answers = gen().batch([j.prompt for j in probes], [j.new_tokens for j in probes]) if probes else []
    by_job = dict(zip((id(j) for j in probes), answers, strict=True))
    for j, s in zip(live, scores, strict=False):
        tail = j.rec.pop("tail")
        j.rec["logprobs"], j.rec["logprobs_cf"] = s, cf_scores.get(id(j))
        if id(j) in by_job:
            j.rec["open_answer"] = by_job[id(j)].text
        j.rec.update(tail)


def finish_generation(gen: Generator, jobs: list[Job]) -> None:
    live = [j for j in jobs if j.ok]
    outs = gen.batch([j.prompt for j in live], [j.new_tokens for j in live]) if live else []
    for j, g in zip(live, outs, strict=True):
        refs, tail = j.rec.pop("references"), j.rec.pop("tail")
        j.rec.update(prediction=g.text, references=refs, n_new_tokens=g.n_tokens, stop=g.stop, **tail)


def batches(jobs: list[Job], batch_size: int) -> Iterator[list[Job]]:
    """Length-sorted batches (prompt plus what is scored or generated after it), longest first."""
    sizes = [len(j.prompt) + max([j.new_tokens, *map(len, j.choices)]) for j in jobs]
    for group in length_batches(sizes, batch_size):
        yield [jobs[i] for i in group]
