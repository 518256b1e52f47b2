"""Our renderer and promptsource's `Template.apply` agree, both ways (issue 19, item 4).

"Identically" means: promptsource's parts (`apply(row, truncate=False)`: input, target) and answer
choices equal ours (`render(t, row, seed=s)`), where promptsource's `choice` filter draws from the
module `random` seeded with `s` and ours from `random.Random(s)`: the same generator, so the same draws
in the same order (answer choices first, then the body; nothing is drawn while compiling, which the
validator's `choice_on_constant` rule guarantees). No truncation: `truncate=False` is promptsource's
own switch, so full fields are compared.

promptsource is not a declared dependency (its metadata pins Python < 3.8); CI installs it with
`pip install --no-deps --ignore-requires-python promptsource==0.2.3` and these tests skip without it.
"""

from __future__ import annotations

import random

import pytest
import yaml
from testutil import requires_data

from weprompt.bank import load_bank, resolve_bank_dir, template_path
from weprompt.data import load_split
from weprompt.templates import Template, render

ps = pytest.importorskip("promptsource.templates", reason="promptsource 0.2.3 is installed in CI")

ROWS_PER_SPLIT = 3
CATALOG, BANK = load_bank()
TASKS = sorted(n for n, c in BANK.items() if c.templates)


def promptsource_templates(task: str) -> dict:
    """The task's file as promptsource's own loader reads it: {id: promptsource Template}."""
    text = template_path(task, resolve_bank_dir(None)).read_text(encoding="utf-8")
    return yaml.load(text, Loader=yaml.FullLoader)["templates"]  # noqa: S506 - promptsource's loader


def theirs(t, row: dict, seed: int) -> tuple[list[str], list[str] | None]:
    random.seed(seed)
    choices = t.get_answer_choices_list(row)
    random.seed(seed)
    return t.apply(row, truncate=False), choices


def ours(t: Template, row: dict, seed: int) -> tuple[list[str], list[str] | None]:
    r = render(t, row, seed=seed)
    return [r.input] + ([] if r.target is None else [r.target]), r.answer_choices


def compare(templates: list[Template], ps_templates: dict, rows: list[dict]) -> tuple[int, list[str]]:
    compared, diffs = 0, []
    for t in templates:
        pt = ps_templates[t.id]
        for seed, row in enumerate(rows):
            compared += 1
            a, b = ours(t, row, seed), theirs(pt, row, seed)
            if a != b:
                diffs.append(f"{t.name} ({t.id}), row {seed}:\n  ours:        {a}\n  promptsource: {b}")
    return compared, diffs


@requires_data
@pytest.mark.parametrize("name", TASKS)
def test_every_bank_template_renders_identically(name):
    task = CATALOG.task(name)
    rows = []
    for split in task.splits:
        ds = load_split(name, split)
        rows += list(ds.select(range(min(ROWS_PER_SPLIT, len(ds)))))
    compared, diffs = compare(BANK[name].templates, promptsource_templates(name), rows)
    assert compared and not diffs, f"{len(diffs)} of {compared} renders differ:\n" + "\n".join(diffs[:5])


ROW = {"votes": ["乙", "甲", "甲", "乙"], "xs": [1, 2, 3], "ys": "abc", "text": "上文 ||| 下文", "label": 1}
HELPERS = [
    # promptsource's helpers in our renderer: the `choice` and `most_frequent` filters, `zip`
    "{% set opts = ['甲', '乙', '丙', '丁'] %}{{ opts | choice }}{{ range(10) | choice }} ||| {{ xs | choice }}",
    "{{ votes | most_frequent | join('、') }} ||| {% for a, b in zip(xs, ys) %}{{ a }}{{ b }}{% endfor %}",
    # a field's own ||| stays in the input
    "{{ text }} ||| {{ answer_choices[label] }}",
]


@pytest.mark.parametrize("jinja", HELPERS)
def test_promptsource_helpers_render_the_same(jinja):
    ours_t = Template(name="h", jinja=jinja, answer_choices="{{ votes | choice }} ||| 否")
    theirs_t = ps.Template("h", jinja, "", answer_choices="{{ votes | choice }} ||| 否")
    for seed in range(10):
        assert ours(ours_t, ROW, seed) == theirs(theirs_t, ROW, seed)


def test_a_choice_call_fails_in_both():
    jinja = "{{ choice(xs) }} ||| x"
    with pytest.raises(Exception, match="'choice' is undefined|not callable"):
        ps.Template("c", jinja, "").apply(ROW)
    with pytest.raises(Exception, match="'choice' is undefined"):
        render(Template(name="c", jinja=jinja), ROW)
