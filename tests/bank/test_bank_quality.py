"""Quality gates for every prompt in the bank, on real data (issues 3 and 4).

Per task: every template renders on at least 50 real examples of every split (all of them for
small splits) without error; original-task classification prompts map the task's labels onto
distinct answer choices that cover every label; the task has >= 15 prompts with no duplicate body;
the prompts are diverse (mean pairwise bigram similarity under the floor of weprompt.bank_stats).
"""

from __future__ import annotations

import pytest
from testutil import requires_data

from weprompt.bank import load_bank, tasks_without_prompts
from weprompt.bank_stats import MAX_MEAN_SIMILARITY, mean_pairwise_similarity
from weprompt.data import load_split
from weprompt.templates import render
from weprompt.validate import validate_task

MIN_PROMPTS = 15
PER_SPLIT = 60
SMALL_SPLIT = 200  # splits this small are rendered whole

CATALOG, BANK = load_bank()
TASKS_WITH_PROMPTS = sorted(n for n, c in BANK.items() if c.templates)


def _examples(task) -> tuple[list[dict], set[str]]:
    rows, fields = [], set()
    for split in task.splits:
        ds = load_split(task.name, split)
        fields |= set(ds.column_names)
        n = len(ds) if len(ds) <= SMALL_SPLIT else PER_SPLIT
        rows += list(ds.select(range(n)))
    return rows, fields


@requires_data
@pytest.mark.parametrize("name", TASKS_WITH_PROMPTS)
def test_task_prompts(name):
    task = CATALOG.task(name)
    templates = BANK[name].templates
    examples, fields = _examples(task)
    assert len(examples) >= min(50, sum(task.splits.values()))
    issues = [i for i in validate_task(task, templates, examples, fields) if i.severity == "error"]
    assert not issues, "\n".join(map(str, issues))
    assert len(templates) >= MIN_PROMPTS, f"{name}: {len(templates)} prompts < {MIN_PROMPTS}"
    sim = mean_pairwise_similarity(templates)
    assert sim is not None and sim <= MAX_MEAN_SIMILARITY, f"{name}: mean similarity {sim:.3f}"
    for t in templates:
        assert t.metadata.languages == ["zh"], f"{name}/{t.name}: languages must be [zh]"
        assert t.metadata.original_task is not None and t.metadata.choices_in_prompt is not None, t.name


@requires_data
@pytest.mark.parametrize("name", [n for n in TASKS_WITH_PROMPTS if CATALOG.task(n).labels])
def test_classification_targets_cover_every_label(name):
    task = CATALOG.task(name)
    one_per_label: dict[int, dict] = {}
    for split in task.splits:
        for row in load_split(task.name, split):
            one_per_label.setdefault(row["label_id"], row)
            if len(one_per_label) == len(task.labels):
                break
    missing = [task.labels[i] for i in range(len(task.labels)) if i not in one_per_label]
    assert not missing, f"{name}: the data has no example of labels {missing}"
    for t in BANK[name].templates:
        if t.metadata.original_task is False or not t.answer_choices:
            continue
        targets = [render(t, row).target for row in one_per_label.values()]
        assert len(set(targets)) == len(task.labels), (
            f"{name}/{t.name}: {len(task.labels)} labels render to only {len(set(targets))} distinct targets"
        )


def test_every_catalog_task_has_enough_prompts():
    # A task without a template file has no prompts yet and is left out of training, evaluation and
    # validation (tests/test_catalog.py holds which tasks may be in that state); any file must have enough.
    pending = set(tasks_without_prompts(BANK))
    short = {
        n: len(c.templates) for n, c in BANK.items() if n not in pending and len(c.templates) < MIN_PROMPTS
    }
    assert not short, f"tasks below {MIN_PROMPTS} prompts: {short}"


def test_prompts_are_diverse_and_described():
    """The checks of test_task_prompts that need no task data, so that they run without ../shared too:
    every task's prompts are diverse enough and carry the metadata the sampler and evaluator read."""
    problems = []
    for name in TASKS_WITH_PROMPTS:
        templates = BANK[name].templates
        sim = mean_pairwise_similarity(templates)
        if sim is None or sim > MAX_MEAN_SIMILARITY:
            problems.append(f"{name}: mean similarity {sim}")
        for t in templates:
            if t.metadata.languages != ["zh"]:
                problems.append(f"{name}/{t.name}: languages must be [zh]")
            if t.metadata.original_task is None or t.metadata.choices_in_prompt is None:
                problems.append(f"{name}/{t.name}: original_task and choices_in_prompt must be set")
    assert not problems, "\n".join(problems)
