"""Review view: the queue of submitted prompts; each shown rendered on real examples, beside the task's
other prompts and its nearest duplicate, with approve / reject (a reason) for a reviewer who is not
one of its authors. Decisions go through `weprompt.bank_edit.review_template` (locked, re-read)."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui import state
from weprompt.annotation_ui.components import draft_keeper, quality
from weprompt.annotation_ui.components.preview import md, render_examples
from weprompt.annotation_ui.settings import Settings
from weprompt.bank_edit import fingerprint, review_template
from weprompt.bank_health import load_bank_tolerant
from weprompt.bank_review import QueueItem, authors, review_queue, status_of
from weprompt.bank_stats import bigrams, fixed_text, jaccard
from weprompt.catalog import Catalog, Task
from weprompt.common.errors import UserError
from weprompt.templates import Template


def _decide(task: Task, item: QueueItem, action: str, bank_dir: str) -> None:
    comment = st.session_state.get("review_comment", "")
    try:
        t = review_template(
            task,
            item.template.id,
            action,
            draft_keeper.who(),
            comment=comment,
            bank_dir=bank_dir,
            base=fingerprint(item.template),
        )
    except UserError as e:
        st.session_state.review_flash = ("error", f"Not recorded: {e}")
        return
    st.session_state.review_comment = ""
    st.session_state.review_flash = ("success", f"'{t.name}' ({task.name}) is {status_of(t)} now.")


def _open_in_write(task: Task, prompt_id: str, bank_dir: str) -> None:
    """Jump to the task in Write with this prompt open (the annotator's own draft of it, if any)."""
    draft_keeper.store(bank_dir).set_open(draft_keeper.who(), task.name, prompt_id)
    st.session_state.update(view="Write", category=task.category, task=task.name)
    st.session_state.pop("ed_task", None)  # open_task binds the editor afresh


def _similar(t: Template, others: list[Template]) -> list[tuple[Template, float]]:
    mine = bigrams(fixed_text(t))
    return sorted(((o, jaccard(mine, bigrams(fixed_text(o)))) for o in others), key=lambda r: -r[1])


def _show_item(catalog: Catalog, item: QueueItem, others: list[Template], settings: Settings) -> None:
    task, t = catalog.task(item.task), item.template
    st.markdown(f"#### {md(t.name)} · {task.name}")
    st.caption(f"submitted by {item.submitted_by} at {item.submitted_at} · {task.description}")
    st.code(t.jinja, language="jinja2", wrap_lines=True)
    st.caption(f"answer choices: {md(t.answer_choices or '(none: generation)')}")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown(f"**Rendered on real examples** ({task.eval_split})")
        ds, error = state.split(catalog, task, task.eval_split, settings.data_dir)
        if error or ds is None:
            st.error(f"No examples: {error}")
        else:
            count_tokens, _ = state.token_counter(settings.tokenizer)
            rows = [(i, ds[i]) for i in range(min(3, len(ds)))]
            render_examples(
                t, rows, count_tokens, settings.budget, bool(task.is_rank and t.metadata.original_task)
            )
    with right:
        similar = _similar(t, others)
        top = similar[0][1] if similar else 0.0
        st.metric(
            "Nearest duplicate (bigram Jaccard)", f"{top:.0%}", help="≥ 45 % reads as one sentence reworded"
        )
        st.markdown(f"**The task's other prompts** ({len(others)})")
        st.dataframe(
            [{"prompt": o.name, "status": status_of(o), "similarity": f"{sim:.0%}"} for o, sim in similar],
            hide_index=True,
        )
        quality.show(task.name, t, others, settings.eval_dir)
    _decision_bar(task, item, settings.bank_dir)


def _decision_bar(task: Task, item: QueueItem, bank_dir: str) -> None:
    me = draft_keeper.who()
    own = me in authors(item.template)
    st.text_area("Comment (required to reject)", key="review_comment", height=80)
    c1, c2, c3, _ = st.columns([1, 1, 1, 3])
    c1.button(
        "Approve",
        key="approve",
        type="primary",
        disabled=own,
        on_click=_decide,
        args=(task, item, "approve", bank_dir),
    )
    c2.button("Reject", key="reject", disabled=own, on_click=_decide, args=(task, item, "reject", bank_dir))
    c3.button(
        "Open in Write", key="review_open", on_click=_open_in_write, args=(task, item.template.id, bank_dir)
    )
    if own:
        st.caption(f"You ({me}) wrote or submitted this prompt: a second person must review it.")


def render(catalog: Catalog, settings: Settings) -> None:
    snapshot = load_bank_tolerant(settings.bank_dir)
    queue = review_queue(snapshot.bank)
    st.subheader(f"Review queue · {len(queue)} waiting")
    if flash := st.session_state.pop("review_flash", None):
        getattr(st, flash[0])(flash[1])
    for name, why in snapshot.load_errors.items():
        st.error(f"{name}: {why}")
    if not queue:
        st.info("Nothing is waiting for review. Annotators submit prompts from **Write**.")
        return
    st.dataframe(
        [
            {"task": i.task, "prompt": i.template.name, "by": i.submitted_by, "at": i.submitted_at}
            for i in queue
        ],
        hide_index=True,
    )
    keys = {f"{i.task}/{i.template.id}": i for i in queue}
    if st.session_state.get("review_pick") not in keys:
        st.session_state.review_pick = next(iter(keys))
    st.selectbox(
        "Review",
        list(keys),
        key="review_pick",
        format_func=lambda k: f"{keys[k].task} · {keys[k].template.name} · {keys[k].submitted_by}",
    )
    item = keys[st.session_state.review_pick]
    others = [o for o in snapshot.bank[item.task].templates if o.id != item.template.id]
    _show_item(catalog, item, others, settings)
