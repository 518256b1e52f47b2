"""Live preview: the draft rendered on several real examples, input beside target, and its issues."""

from __future__ import annotations

import re
from collections.abc import Callable

import streamlit as st
from jinja2 import TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError

from weprompt.templates import MissingValueError, RenderLimitError, Template, render
from weprompt.validate import Issue

_MARKDOWN = re.compile(r"([\\`*_\[\]~$])")


def md(text: object) -> str:
    """`text` shown literally in Streamlit Markdown: `__class__` stays `__class__`, not bold "class"."""
    return _MARKDOWN.sub(r"\\\1", str(text))


_ERROR_NAMES = {
    UndefinedError: "undefined variable",
    SecurityError: "blocked by the sandbox",
    RenderLimitError: "stopped at a render limit",
    MissingValueError: "prints a missing value",
}


def _why(e: Exception) -> str:
    for cls, what in _ERROR_NAMES.items():
        if isinstance(e, cls):
            return f"{what}: {e}"
    if isinstance(e, TemplateSyntaxError):
        return f"syntax error on line {e.lineno}: {e.message}"
    return f"{type(e).__name__}: {e}"


def render_examples(
    template: Template,
    examples: list[tuple[int, dict]],
    count_tokens: Callable[[str], int] | None,
    budget: int,
    ranked: bool,
) -> None:
    """One row per example: input | target, with choices, a target-in-choices mark and the length.

    After a render limit (an endless loop, say: each try costs the time limit) the other examples are
    not rendered, so the page stays responsive while the annotator types.
    """
    unit = "tokens" if count_tokens else "chars"
    for index, ex in examples:
        with st.container(border=True):
            try:
                r = render(template, ex, seed=index)
            except Exception as e:  # any error in the annotator's Jinja is shown, never raised
                st.error(f"example {index}: {md(_why(e))}")
                if isinstance(e, RenderLimitError):
                    break
                continue
            left, right = st.columns([3, 2])
            left.caption(f"example {index} · input")
            left.code(r.input or "(empty)", language=None, wrap_lines=True)
            right.caption("target")
            if r.target is None:
                right.error("no ` ||| `: nothing is the target")
            elif not r.target:
                right.error("the target is empty")
            else:
                right.code(r.target, language=None, wrap_lines=True)
            if r.answer_choices is not None:
                mark = ""
                if ranked and r.target:
                    ok = r.target in r.answer_choices
                    mark = " · :green[target is a choice]" if ok else " · :red[**target is not a choice**]"
                right.caption("choices: " + " | ".join(r.answer_choices[:12]) + mark)
            n = (
                count_tokens(r.input + " " + (r.target or ""))
                if count_tokens
                else len(r.input) + len(r.target or "")
            )
            note = f"{n} {unit}" + (f" > budget {budget}" if n > budget else "")
            (right.warning if n > budget else right.caption)(note)


def show_issues(issues: list[Issue], jinja: str, example_names: list[str] | None = None) -> None:
    """Errors then warnings, inline; a syntax error also shows the offending line of the body.

    `example_names[i]` says which split and row the check's example `i` is ("train example 0"), so
    it is not mistaken for the preview's rows (another split)."""
    lines = jinja.splitlines()
    names = example_names or []
    for issue in sorted(issues, key=lambda i: i.severity != "error"):
        where = f" (line {issue.line})" if issue.line else ""
        if issue.example is not None:
            i = issue.example
            where += f" ({names[i]})" if i < len(names) else f" (check example {i})"
        text = f"`{issue.code}`{where}: {md(issue.message)}"
        (st.error if issue.severity == "error" else st.warning)(text)
        if (
            issue.code == "syntax"
            and issue.line
            and issue.line <= len(lines)
            and issue.message.startswith("jinja:")
        ):
            st.code(f"{issue.line:>3} | {lines[issue.line - 1]}", language=None)
