"""Bank statistics: prompts per task and category, and how different a task's prompts are.

Diversity is measured on each template's fixed text (the body with every Jinja `{{ }}`, `{% %}` and
`{# #}` removed, so shared field names do not count): the mean pairwise Jaccard similarity of the
character-bigram sets. 0 means no shared bigrams, 1 identical wording. Lower is more diverse.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from weprompt.catalog import Catalog
from weprompt.templates import Template, TemplateCollection

_JINJA = re.compile(r"{{.*?}}|{%.*?%}|{#.*?#}", re.S)
# A task whose prompts share more than this on average reads as one prompt reworded; see docs/bank.md.
MAX_MEAN_SIMILARITY = 0.3


def fixed_text(template: Template) -> str:
    return "".join(_JINJA.sub(" ", template.jinja).replace("|||", " ").split())


def bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def mean_pairwise_similarity(templates: list[Template]) -> float | None:
    grams = [bigrams(fixed_text(t)) for t in templates]
    pairs = list(itertools.combinations(grams, 2))
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else None


@dataclass
class TaskStats:
    task: str
    category: str
    prompts: int
    original_task: int
    similarity: float | None


def bank_stats(catalog: Catalog, bank: dict[str, TemplateCollection]) -> dict:
    tasks = []
    for name, coll in bank.items():
        t = catalog.task(name)
        tasks.append(
            TaskStats(
                name,
                t.category,
                len(coll.templates),
                sum(1 for x in coll.templates if x.metadata.original_task is not False),
                mean_pairwise_similarity(coll.templates),
            )
        )
    categories: dict[str, dict] = {}
    for cat, names in catalog.categories.items():
        rows = [s for s in tasks if s.category == cat]
        sims = [s.similarity for s in rows if s.similarity is not None]
        categories[cat] = {
            "tasks": len(names),
            "tasks_with_prompts": sum(1 for s in rows if s.prompts),
            "prompts": sum(s.prompts for s in rows),
            "min_prompts": min((s.prompts for s in rows), default=0),
            "mean_similarity": round(sum(sims) / len(sims), 4) if sims else None,
        }
    return {
        "tasks": len(tasks),
        "categories": len(catalog.categories),
        "prompts": sum(s.prompts for s in tasks),
        "per_category": categories,
        "per_task": [
            {**s.__dict__, "similarity": None if s.similarity is None else round(s.similarity, 4)}
            for s in tasks
        ],
    }
