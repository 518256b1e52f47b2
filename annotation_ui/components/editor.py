"""The prompt editor: its widgets, the draft they hold, and loading a template into them.

The draft lives in session state under ED_KEYS. Streamlit forgets a widget's state when a run does
not draw it (another view is open), so `keep_draft()` re-asserts these keys at the top of every run;
`components/draft_keeper.py` also keeps it on the server, across prompt and task switches and reloads.
"""

from __future__ import annotations

import copy

import streamlit as st

from weprompt.bank_edit import fingerprint, new_template
from weprompt.catalog import Task
from weprompt.templates import Template, TemplateMetadata

# promptsource's metric names (its templates.py METRICS): metadata stays loadable by its tools.
METRICS = [
    "Accuracy",
    "BLEU",
    "ROUGE",
    "Squad",
    "Trivia QA",
    "Pearson Correlation",
    "Spearman Correlation",
    "MultiRC",
    "AUC",
    "COQA F1",
    "Edit Distance",
    "Mean Reciprocal Rank",
    "Other",
]
LANGUAGES = ["zh", "en", "ja", "ko"]
# The catalog's metric ids -> promptsource's names, to pre-fill a new prompt's metrics.
_METRIC_NAMES = {
    "accuracy": "Accuracy",
    "macro_f1": "Accuracy",
    "micro_f1": "Accuracy",
    "f1": "Squad",
    "exact_match": "Squad",
    "bleu": "BLEU",
    "rouge_l": "ROUGE",
    "spearman": "Spearman Correlation",
}
WIDGET_KEYS = (
    "ed_name",
    "ed_jinja",
    "ed_choices",
    "ed_original",
    "ed_cip",
    "ed_metrics",
    "ed_langs",
    "ed_ref",
)
ED_KEYS = (*WIDGET_KEYS, "ed_task", "ed_id", "ed_base", "ed_extra", "ed_orig")
# Also kept across views: the chosen category and task (Health draws no task picker), which prompt
# the picker shows, and the preview's window; KEEP_PREFIXES for per-task widgets.
KEEP_KEYS = (*ED_KEYS, "category", "task", "pick", "preview_n", "preview_start")
KEEP_PREFIXES = ("preview_split:",)


def keep_draft() -> None:
    """Streamlit drops a widget's state on a run that does not draw it; re-assert what must survive."""
    for k in list(st.session_state.keys()):
        if k in KEEP_KEYS or str(k).startswith(KEEP_PREFIXES):
            st.session_state[k] = st.session_state[k]


def fresh_template(task: Task) -> Template:
    """A new prompt pre-filled from the catalog: label names as answer choices, metrics by task."""
    t = new_template()
    if task.labels and task.task_type == "classification":
        t.answer_choices = " ||| ".join(task.label_names)
    t.metadata.metrics = list(dict.fromkeys(_METRIC_NAMES.get(m, "Other") for m in task.metrics[:1]))
    return t


def load(task: str, template: Template, base: str | None) -> None:
    """Put `template` into the editor widgets (call from a callback or before the widgets are drawn)."""
    m = template.metadata
    st.session_state.update(
        ed_task=task,
        ed_id=template.id,
        ed_base=base,
        ed_extra=copy.deepcopy(m.extra),
        ed_name=template.name,
        ed_jinja=template.jinja,
        ed_choices=template.answer_choices or "",
        ed_original=bool(m.original_task if m.original_task is not None else True),
        ed_cip=bool(m.choices_in_prompt),
        ed_metrics=[x for x in (m.metrics or []) if x in METRICS],
        ed_langs=[x for x in (m.languages or ["zh"]) if x in LANGUAGES] or ["zh"],
        ed_ref=template.reference or "",
    )
    st.session_state.ed_orig = fingerprint(draft())


def is_dirty() -> bool:
    """The editor differs from the prompt as it was loaded (or from the blank new prompt)."""
    return fingerprint(draft()) != st.session_state.get("ed_orig")


def placeholder(task: Task) -> str:
    """An example body in the task's own fields (not OCNLI's for every task)."""
    names = [f for f in task.fields if f != task.label_field and f != "id" and not f.endswith("_id")]
    if task.labels:
        inputs, target = names[:2], "{{answer_choices[label_id]}}"
    else:
        *rest, last = names or ["…"]
        inputs, target = rest[-2:], f"{{{{{last}}}}}"
    shown = "\n".join(f"{{{{{f}}}}}" for f in inputs)
    return f"{shown}\n……（问题）？ ||| {target}"


def draft() -> Template:
    s = st.session_state
    return Template(
        id=s.ed_id,
        name=s.ed_name.strip(),
        jinja=s.ed_jinja,
        answer_choices=s.ed_choices.strip() or None,
        metadata=TemplateMetadata(
            original_task=bool(s.ed_original),
            choices_in_prompt=bool(s.ed_cip),
            metrics=list(s.ed_metrics),
            languages=list(s.ed_langs),
            extra=copy.deepcopy(s.ed_extra),
        ),
        reference=s.ed_ref,
    )


def insert(text: str) -> None:
    """Append a snippet to the body (a callback: the server cannot see the browser's cursor)."""
    st.session_state.ed_jinja = st.session_state.get("ed_jinja", "") + text


def editor_widgets(task: Task) -> None:
    """Name, body, answer choices and metadata. Body and choices re-render the preview as you type."""
    st.text_input("Name", key="ed_name", placeholder="e.g. 考试题_列出选项")
    st.text_area(
        "Template (Jinja; ` ||| ` separates the input from the target)",
        key="ed_jinja",
        height=180,
        placeholder=placeholder(task),
    )
    st.text_input(
        "Answer choices (` ||| `-separated; may use Jinja; empty for generation)",
        key="ed_choices",
        live="400ms",
    )
    c1, c2 = st.columns(2)
    c1.checkbox("Original task", key="ed_original", help="asks for the task's own label / answer")
    c2.checkbox("Choices in prompt", key="ed_cip", help="the input lists the answer choices")
    c1, c2 = st.columns([3, 2])
    c1.multiselect("Metrics", METRICS, key="ed_metrics")
    c2.multiselect("Languages", LANGUAGES, key="ed_langs")
    st.text_input("Reference (optional)", key="ed_ref")
