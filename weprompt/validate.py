"""Bank validation: render every template on real examples and report what is wrong with it.

Each problem is an `Issue` with a stable `code` (tests and tools match on it), a severity, the task,
the template name and, where it applies, the example index and the Jinja line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from weprompt import lint
from weprompt.catalog import Task
from weprompt.templates import (
    SEPARATOR,
    MissingValueError,
    RenderLimitError,
    Template,
    check_syntax,
    referenced_fields,
    render,
)

DEFAULT_BUDGET = 2048  # tokens of context (paper); characters until a tokenizer is given

CODES = {
    "syntax": "Jinja syntax error",
    "undefined": "references a variable the example lacks",
    "unknown_field": "references a field the task's data does not have",
    "sandbox": "the sandbox refused an unsafe operation",
    "render_error": "rendering raised an error",
    "render_limit": "rendering ran past the time or size limit (an endless loop, a huge string)",
    "missing_value": "the template prints a field that is None (missing) in the example",
    "missing_separator": "no ' ||| ' between input and target",
    "empty_input": "the rendered input is empty",
    "empty_target": "the rendered target is empty",
    "no_answer_choices": "a ranked (classification / multiple-choice) original-task template has no answer_choices",
    "target_not_in_choices": "the target is not one of the answer choices",
    "choice_count": "the number of answer choices differs from the task's label set",
    "duplicate_name": "two templates of the task share a name",
    "duplicate_body": "two templates of the task share a body (modulo whitespace)",
    "too_long": "the rendered example is longer than the budget",
    "no_templates": "the task has no templates",
    "no_examples": "the task has no examples to validate on",
    **lint.RULES,  # the review's defect patterns (weprompt.lint)
}


@dataclass
class Issue:
    code: str
    severity: str  # "error" | "warning"
    task: str
    template: str | None
    message: str
    example: int | None = None
    line: int | None = None
    template_id: str | None = None

    def __str__(self) -> str:
        where = self.task + (f" / {self.template}" if self.template else "")
        where += f" [{self.template_id}]" if self.template_id else ""
        where += f" (example {self.example})" if self.example is not None else ""
        where += f" (line {self.line})" if self.line is not None else ""
        return f"{self.severity.upper()} [{self.code}] {where}: {self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


def _length(text: str, count_tokens: Callable[[str], int] | None) -> int:
    return count_tokens(text) if count_tokens else len(text)


def _render_issue(e: Exception) -> tuple[str, str, int | None]:
    """(code, message, Jinja line) of an exception `render` raised."""
    if isinstance(e, RenderLimitError):
        return "render_limit", str(e), None
    if isinstance(e, MissingValueError):
        return "missing_value", str(e), None
    if isinstance(e, UndefinedError):
        return "undefined", str(e), None
    if isinstance(e, SecurityError):
        return "sandbox", str(e), None
    if isinstance(e, TemplateSyntaxError):
        return "syntax", e.message or str(e), e.lineno
    return "render_error", f"{type(e).__name__}: {e}", None


def validate_template(
    template: Template,
    task: Task,
    examples: list[dict],
    data_fields: set[str],
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Issue]:
    """All issues of one template on the given examples (one issue per code, first example only)."""
    issues: list[Issue] = []
    name = template.name

    def add(
        code: str, message: str, example: int | None = None, line: int | None = None, severity: str = "error"
    ) -> None:
        if not any(i.code == code for i in issues):
            issues.append(Issue(code, severity, task.name, name, message, example, line, template.id))

    for source, what in ((template.jinja, "jinja"), (template.answer_choices, "answer_choices")):
        if source and (err := check_syntax(source)):
            add("syntax", f"{what}: {err[1]}", line=err[0])
    if issues:
        return issues
    for code, message in lint.static_issues(template):
        add(code, message)
    if SEPARATOR not in template.jinja:
        add("missing_separator", "the body has no ' ||| ', so there is no target")
    fields = referenced_fields(template.jinja) | referenced_fields(template.answer_choices or "")
    for f in sorted(fields - data_fields):
        add(
            "unknown_field",
            f"'{f}' is not a field of task '{task.name}' (fields: {', '.join(sorted(data_fields))})",
        )
    ranked = task.is_rank and template.metadata.original_task is not False
    if ranked and not template.answer_choices:
        add("no_answer_choices", "add answer_choices so evaluation can rank them")
    unit = "tokens" if count_tokens else "characters (no tokenizer given)"
    rated: dict[str, list[tuple[int, str]]] = {}  # lint.RATE_RULES: code -> (example, message) hits
    for i, ex in enumerate(examples):
        try:
            r = render(template, ex, seed=i)
        except Exception as e:  # any runtime error in user Jinja (bad index, type error, a limit, ...)
            code, message, line = _render_issue(e)
            add(code, message, i, line)
            if code == "render_limit":
                break  # every further example would cost the time limit again
            continue
        if not r.input:
            add("empty_input", "input renders empty", i)
        if r.target is not None and not r.target:
            add("empty_target", "target renders empty", i)
        if r.answer_choices is not None and r.target and ranked and r.target not in r.answer_choices:
            add("target_not_in_choices", f"target '{r.target}' not in {r.answer_choices[:8]}", i)
        if (
            ranked
            and r.answer_choices is not None
            and task.labels
            and task.task_type == "classification"
            and len(r.answer_choices) != len(task.labels)
        ):
            add(
                "choice_count",
                f"{len(r.answer_choices)} answer choices but {len(task.labels)} labels "
                f"({', '.join(task.label_names)}); mark binary/partial templates original_task: false",
                i,
            )
        for code, message in lint.example_issues(template, ex, r):
            if code in lint.RATE_RULES:
                rated.setdefault(code, []).append((i, message))
            else:
                add(code, message, i)
        n = _length(r.input + " " + (r.target or ""), count_tokens)
        if n > budget:
            add("too_long", f"{n} {unit} > budget {budget}", i, severity="warning")
    for code, hits in rated.items():
        if len(hits) >= 2 and len(hits) >= lint.RATE_RULES[code] * len(examples):
            add(code, f"{len(hits)} of {len(examples)} examples; the first: {hits[0][1]}", hits[0][0])
    return issues


def validate_task(
    task: Task,
    templates: list[Template],
    examples: list[dict],
    data_fields: set[str],
    budget: int = DEFAULT_BUDGET,
    count_tokens: Callable[[str], int] | None = None,
) -> list[Issue]:
    issues: list[Issue] = []
    if not templates:
        issues.append(
            Issue("no_templates", "warning", task.name, None, "the bank has no templates for this task")
        )
    if not examples:
        issues.append(Issue("no_examples", "error", task.name, None, "no examples could be loaded"))
    seen_names: dict[str, str] = {}
    seen_bodies: dict[str, str] = {}
    for t in templates:
        if t.name in seen_names:
            issues.append(
                Issue("duplicate_name", "error", task.name, t.name, f"name also used by {seen_names[t.name]}")
            )
        seen_names.setdefault(t.name, t.id)
        key = t.body_key()
        if key in seen_bodies:
            issues.append(
                Issue(
                    "duplicate_body",
                    "error",
                    task.name,
                    t.name,
                    f"same body as template '{seen_bodies[key]}'",
                )
            )
        seen_bodies.setdefault(key, t.name)
        issues += validate_template(t, task, examples, data_fields, budget, count_tokens)
    return issues
