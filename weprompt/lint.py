"""Lint rules: the defect patterns of the native-speaker review (issue 19) that a machine can check.

`weprompt bank validate` runs them with the other checks (`weprompt.validate`): the static rules on
each template's source, the example rules on every real example it renders. Each rule has a stable
code (in `RULES`) and a message that says what to change. They are built to stay quiet on correct
prompts (docs/bank.md, "Lint rules", gives what each one accepts and its hits on the bank).
"""

from __future__ import annotations

import re

from jinja2 import nodes

from weprompt.bank_stats import fixed_text
from weprompt.templates import ENV, Rendered, Template

RULES = {
    "choice_call": "calls `choice(...)` as a function: promptsource has it only as the filter `x | choice`",
    "choice_on_constant": "`| choice` on a constant, which promptsource draws once when it compiles",
    "letter_options_text_target": "lists lettered options but the target is neither a letter nor asked for as text",
    "negative_question_positive_instruction": "asks for the correct item on a question that asks for the wrong one",
    "pronoun_not_marked": "a Winograd prompt that does not mark which occurrence of the pronoun is meant",
    "segmentation_spaces": "word-segmentation spaces left between Chinese words",
    "solution_in_input": "an original-task prompt that shows the solution field in its input",
    "unseen_phone_in_target": "an original-task target gives a phone number the input never gives",
}

# Rules that judge a rate, not one example: the data itself has rare gaps (0.2% of CrossWOZ system turns
# give a phone number that their dialogue acts omit). Flagged from this share of the examples, and at
# least two of them, on.
RATE_RULES = {"unseen_phone_in_target": 0.02}

# --- static rules ------------------------------------------------------------------------------


def _calls_and_filters(source: str) -> tuple[list[nodes.Call], list[nodes.Filter]]:
    tree = ENV.parse(source)
    return list(tree.find_all(nodes.Call)), list(tree.find_all(nodes.Filter))


def static_issues(template: Template) -> list[tuple[str, str]]:
    """(code, message) of the rules that need only the template's source (its syntax is valid)."""
    out: list[tuple[str, str]] = []
    for what, source in (("jinja", template.jinja), ("answer_choices", template.answer_choices)):
        if not source:
            continue
        calls, filters = _calls_and_filters(source)
        if any(isinstance(c.node, nodes.Name) and c.node.name == "choice" for c in calls):
            out.append(
                ("choice_call", f"{what}: write `x | choice`, not `choice(x)` (promptsource: filter only)")
            )
        for f in filters:
            if f.name == "choice" and f.node is not None and _is_constant(f.node):
                out.append(
                    (
                        "choice_on_constant",
                        f"{what}: `| choice` on a literal (line {f.lineno}) is drawn once when promptsource "
                        "compiles the template; bind the literal first: {% set xs = [...] %}{{ xs | choice }}",
                    )
                )
                break
    return out


def _is_constant(node: nodes.Expr) -> bool:
    try:
        node.as_const(nodes.EvalContext(ENV))
        return True
    except nodes.Impossible:
        return False


# --- example rules -----------------------------------------------------------------------------

# An option marker: `A.`, `A．`, `A、`, `(A)`, `（A）`, at the start of a line or after a space, colon or
# sentence stop (so `点A、B` in geometry, inside a word, is not one; `A：` is a dialogue speaker).
_OPTION = re.compile(r"(?:^|(?<=[\s:：;；。？?]))(?:[（(]([A-Z])[)）]|([A-Z])\s?[.．、])\s*", re.M)
# The prompt asks for the option's text, not its letter.
_ASKS_FOR_TEXT = re.compile(
    r"(?:写出|填写|填入|输出)[^，。；\n字母]{0,8}?(?:名称|名|内容|词语|成语|原文|原句|文字|说法)"
    r"|(?:选项|答案|那一?项|这一?项|该项|正确项|它)的?(?:内容|原文|原句|文字|全文)"
    r"|不(?:要|用|必)写(?:出)?(?:选项)?字母|只写内容|抄写|抄出"
)
_NEGATIVE_QUESTION = re.compile(
    r"(?:错误|不正确|不恰当|不准确|不符合|不属于|不合理|不包括|不可能|有误|不相符|不一致|不妥)的(?:是|一项|选项|一组|有|说法|表述)"
)
_POSITIVE_INSTRUCTION = re.compile(
    r"正确的(?:那)?(?:一)?(?:项|个|句|说法|表述)|哪一?(?:项|个)是?正确|(?:说法|表述)正确的"
)
_CJK = "\u3400-\u9fff"
_SEG_SPACE = re.compile(f"[{_CJK}] (?=[{_CJK}])")
_CJK_PAIR = re.compile(f"[{_CJK}](?=[{_CJK}])")
# A segmenter also splits off punctuation; people never put a space before a Chinese comma or stop, and
# a list the template joins with spaces (keywords) has none.
_SEG_PUNCT = re.compile(f"[{_CJK}] [，。！？、；：]")
SEGMENTATION_MIN_SPACES = 5
SEGMENTATION_MIN_RATIO = 0.25  # spaces per adjacent pair of Chinese characters (poem lines: <= 0.2)
SOLUTION_FIELDS = ("equation", "analysis", "explanation")
SOLUTION_MIN_CHARS = 6


def lettered_options(text: str) -> dict[str, str]:
    """{letter: option text} of a run of option markers that starts at `A` and has a `B`; else {}.

    An option's text runs to the next marker or the end of its line.
    """
    marks = list(_OPTION.finditer(text))
    options: dict[str, str] = {}
    for i, m in enumerate(marks):
        letter = m.group(1) or m.group(2)
        if letter == "A":
            options = {}
        elif not options or letter in options:
            continue
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        options[letter] = text[m.end() : end].split("\n")[0].strip()
    return options if "B" in options else {}


def _bare(s: str) -> str:
    return s.strip().rstrip("。.；;，,").strip()


def letter_options_issue(r: Rendered) -> str | None:
    """Lettered options in the input and a target that is one option's text, never asked for as text."""
    if not r.target:
        return None
    options = lettered_options(r.input)
    target = _bare(r.target)
    if re.fullmatch(r"[A-Z]+", target):  # the letter itself (a data option may be just a letter)
        return None
    hit = next((k for k, v in options.items() if v and _bare(v) == target), None)
    if hit is None or _ASKS_FOR_TEXT.search(r.input):
        return None
    return (
        f"the input lists lettered options (A. … B. …) and the target is the text of option {hit} "
        f"('{target[:30]}'), not its letter: render the letter, or ask for the text explicitly "
        "(e.g. 请写出选项内容，不写字母)"
    )


def negative_question_issue(template: Template, r: Rendered) -> str | None:
    neg = _NEGATIVE_QUESTION.search(r.input)
    pos = _POSITIVE_INSTRUCTION.search(fixed_text(template))
    if not (neg and pos):
        return None
    return (
        f"the question asks for '{neg.group()}' but the instruction says '{pos.group()}': ask for the "
        "answer neutrally (e.g. 选出符合题意的一项)"
    )


def segmentation_issue(r: Rendered) -> str | None:
    for part, text in (("input", r.input), ("target", r.target or "")):
        spaces = len(_SEG_SPACE.findall(text))
        pairs = spaces + len(_CJK_PAIR.findall(text))
        if (
            spaces >= SEGMENTATION_MIN_SPACES
            and spaces / pairs >= SEGMENTATION_MIN_RATIO
            and _SEG_PUNCT.search(text)
        ):
            return (
                f"the {part} keeps word-segmentation spaces ({spaces} spaces between Chinese characters): "
                "remove them, e.g. {{ text.replace(' ', '') }} (docs/bank.md, word-segmentation spaces)"
            )
    return None


def pronoun_issue(template: Template, example: dict, r: Rendered) -> str | None:
    """Winograd rows (`text`, `span2_text`, `span2_index`): a pronoun that occurs more than once must be
    marked where it is meant, i.e. the input shows it right after its left context with a marker between."""
    text, pronoun, index = example.get("text"), example.get("span2_text"), example.get("span2_index")
    if not (isinstance(text, str) and isinstance(pronoun, str) and isinstance(index, int) and pronoun):
        return None
    if "span2_text" not in template.jinja or text.count(pronoun) < 2:
        return None
    left = text[max(0, index - 4) : index]
    marked = re.compile(re.escape(left) + f"[^{_CJK}\\w]{{1,3}}" + re.escape(pronoun))
    if marked.search(r.input):
        return None
    return (
        f"'{pronoun}' occurs {text.count(pronoun)} times in the text and the input does not mark the one at "
        f"index {index}: mark it in the text, e.g. with span2_index: text[:span2_index] ~ '【' ~ span2_text ~ '】'"
    )


def _solution_forms(value: str) -> list[str]:
    """The field and, for an equation `x=…`, its right-hand side (prompts print either)."""
    v = value.strip()
    lhs, eq, rhs = v.partition("=")
    forms = [v] + ([rhs.strip()] if eq and len(lhs.strip()) <= 2 else [])
    return [f for f in forms if len(f) >= SOLUTION_MIN_CHARS]


def solution_issue(template: Template, example: dict, r: Rendered) -> str | None:
    """The solution field in the input, where no other field of the row (the question itself, e.g. a
    bare computation) already holds it."""
    if template.metadata.original_task is False:
        return None
    others = [v for k, v in example.items() if isinstance(v, str) and k not in SOLUTION_FIELDS]
    for f in SOLUTION_FIELDS:
        value = example.get(f)
        if not isinstance(value, str):
            continue
        shown = [x for x in _solution_forms(value) if x in r.input and not any(x in o for o in others)]
        if shown:
            return (
                f"the input shows the field '{f}' (the solution, '{shown[0][:30]}') of an original-task prompt: "
                "leave it out, or mark the template original_task: false"
            )
    return None


# A phone number: landline with area code (010-12345678), mobile (13912345678), 400/800 hotline.
_PHONE = re.compile(r"(?<![\d.\-])(?:0\d{2,3}-\d{7,8}|1[3-9]\d{9}|[48]00-?\d{3}-?\d{4})(?![\d.\-])")


def unseen_phone_issue(template: Template, r: Rendered) -> str | None:
    if template.metadata.original_task is False or not r.target:
        return None
    unseen = [n for n in _PHONE.findall(r.target) if n not in r.input]
    if not unseen:
        return None
    return (
        f"the target gives the phone number '{unseen[0]}', which the input does not contain: the model cannot "
        "infer it; put the source (e.g. the system's database result) in the input, or mark the template "
        "original_task: false"
    )


def example_issues(template: Template, example: dict, r: Rendered) -> list[tuple[str, str]]:
    """(code, message) of the rules checked on one rendered real example."""
    found = {
        "letter_options_text_target": letter_options_issue(r),
        "negative_question_positive_instruction": negative_question_issue(template, r),
        "segmentation_spaces": segmentation_issue(r),
        "pronoun_not_marked": pronoun_issue(template, example, r),
        "solution_in_input": solution_issue(template, example, r),
        "unseen_phone_in_target": unseen_phone_issue(template, r),
    }
    return [(code, msg) for code, msg in found.items() if msg]
