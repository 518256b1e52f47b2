"""Write view: pick a prompt of the task (or start a new one), edit with a live preview, check, save.

Saving goes through `weprompt.bank_edit`, which re-reads the file under a lock, re-validates against
what is on disk now and refuses conflicting or invalid saves; this view only shows what it says.
"""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui import state
from weprompt.annotation_ui.components import draft_keeper, editor, guidance, history_panel, preview
from weprompt.annotation_ui.components.examples import split_selector
from weprompt.annotation_ui.components.fields import field_palette
from weprompt.annotation_ui.components.review_bar import review_bar
from weprompt.annotation_ui.components.task_picker import task_card
from weprompt.annotation_ui.drafts import Draft, DraftStore
from weprompt.annotation_ui.settings import Settings
from weprompt.bank_edit import (
    ConflictError,
    InvalidTemplateError,
    check_template,
    clone_template,
    delete_template,
    errors,
    fingerprint,
    save_template,
)
from weprompt.catalog import Catalog, Task
from weprompt.common.errors import UserError
from weprompt.templates import TemplateCollection

NEW = draft_keeper.NEW


def _flash(kind: str, text: str) -> None:
    st.session_state.flash = (kind, text)


def _on_pick(task: Task, bank_dir: str) -> None:
    st.session_state.pop("confirm_delete", None)
    st.session_state.pop("confirm_discard", None)
    st.session_state.pop("conflict", None)
    pick = st.session_state.pick
    coll, error = state.collection(task.name, bank_dir)  # as on disk now, not as last drawn
    if not draft_keeper.open_prompt(task, coll, draft_keeper.store(bank_dir), pick):
        _flash("error", error or "That prompt is gone from the file (deleted by someone else?).")


def _on_reload(task: Task, bank_dir: str) -> None:
    """Discard the draft and load the prompt as it is on disk now (after a conflict, say); with
    unsaved changes, only after a confirmation."""
    if editor.is_dirty() and not st.session_state.pop("confirm_discard", None):
        st.session_state.confirm_discard = st.session_state.ed_id
        return
    st.session_state.pop("confirm_discard", None)
    pid = st.session_state.ed_id
    draft_keeper.forget(draft_keeper.store(bank_dir), task.name, pid)
    if st.session_state.ed_base is None:  # a new prompt: back to a blank one
        editor.load(task.name, editor.fresh_template(task), None)
        st.session_state.pick = NEW
        return
    st.session_state.pick = pid
    _on_pick(task, bank_dir)


def _on_clone(task: Task, coll: TemplateCollection | None) -> None:
    names = [t.name for t in coll.templates] if coll else []
    clone = clone_template(editor.draft(), names)
    editor.load(task.name, clone, None)
    st.session_state.pick = NEW
    _flash("info", f"Cloned into '{clone.name}': change the body, then save it as a new prompt.")


def _on_save(task: Task, settings: Settings, examples: list[dict], fields: set[str], count_tokens) -> None:
    template = editor.draft()
    try:
        result = save_template(
            task,
            template,
            st.session_state.get("annotator", ""),
            examples=examples,
            data_fields=fields,
            bank_dir=settings.bank_dir,
            base=st.session_state.ed_base,
            budget=settings.budget,
            count_tokens=count_tokens,
        )
    except InvalidTemplateError as e:
        _flash("error", str(e))
        return
    except ConflictError as e:
        _flash("error", f"Not saved: {e}")
        st.session_state.conflict = template.id
        return
    except UserError as e:  # lock timeout, a file that no longer parses
        _flash("error", f"Not saved: {e}")
        return
    st.session_state.pop("conflict", None)
    draft_keeper.forget(draft_keeper.store(settings.bank_dir), task.name, template.id)
    editor.load(task.name, result.template, fingerprint(result.template))
    st.session_state.pick = result.template.id
    if not result.changed:
        _flash("info", f"'{result.template.name}' is as in the file already: nothing written.")
        return
    verb = "Added" if result.created else "Updated"
    _flash(
        "success",
        f"{verb} '{result.template.name}' in {result.path} ({result.count} prompts for {task.name}).",
    )


def _on_delete(task: Task, settings: Settings) -> None:
    target = st.session_state.pop("confirm_delete", None)
    try:
        path = delete_template(
            task, target, bank_dir=settings.bank_dir, base=st.session_state.ed_base, who=draft_keeper.who()
        )
    except UserError as e:
        _flash("error", f"Not deleted: {e}")
        return
    name = st.session_state.ed_name
    draft_keeper.forget(draft_keeper.store(settings.bank_dir), task.name, target or "")
    editor.load(task.name, editor.fresh_template(task), None)
    st.session_state.pick = NEW
    _flash("success", f"Deleted '{name}' from {path}.")


def _prompt_bar(task: Task, coll: TemplateCollection | None, load_error: str | None, bank_dir: str) -> None:
    templates = coll.templates if coll else []
    ids = [NEW] + [t.id for t in templates]
    if st.session_state.get("pick") not in ids:
        st.session_state.pick = NEW
    names = {t.id: t.name for t in templates}
    c1, c2, c3, c4 = st.columns([5, 1, 1, 1], vertical_alignment="bottom")
    c1.selectbox(
        f"Prompt ({len(templates)} for this task)",
        ids,
        key="pick",
        format_func=lambda i: "(new prompt)" if i == NEW else names.get(i, i),
        on_change=_on_pick,
        args=(task, bank_dir),
        disabled=load_error is not None,
    )
    editing = st.session_state.ed_base is not None
    c2.button(
        "Reload",
        key="reload",
        on_click=_on_reload,
        args=(task, bank_dir),
        disabled=not (editing or editor.is_dirty()) or load_error is not None,
        help="discard your changes and load this prompt as it is in the file now (asks first)",
    )
    c3.button(
        "Clone", key="clone", on_click=_on_clone, args=(task, coll), help="copy this draft as a new prompt"
    )
    if c4.button("Delete…", key="delete", disabled=not editing or load_error is not None):
        st.session_state.confirm_delete = st.session_state.ed_id
    if not templates and not load_error:
        st.info(f"No prompts yet for **{task.name}**: write the first one below.")


def _confirm_discard(task: Task, settings: Settings) -> None:
    if st.session_state.get("confirm_discard") != st.session_state.ed_id:
        return
    st.warning(f"Discard your unsaved changes to **{preview.md(st.session_state.ed_name or '(no name)')}**?")
    c1, c2, _ = st.columns([1, 1, 4])
    c1.button(
        "Yes, discard", key="discard_yes", type="primary", on_click=_on_reload, args=(task, settings.bank_dir)
    )
    if c2.button("Keep editing", key="discard_no"):
        st.session_state.pop("confirm_discard", None)
        st.rerun()


def _draft_bar(task: Task, drafts: DraftStore, dirty: bool) -> None:
    """The unsaved marker, and the annotator's other drafts of the task, one click away.

    Always one container, so the elements below keep their place: a marker inserted above the editor
    would make the browser re-create the text area and take the focus from the annotator's typing."""
    bar = st.container(key="draft_bar")
    if dirty:
        bar.markdown(
            ":orange[**● Unsaved changes**] — kept as your draft on the server (it survives "
            "reloads and switching prompts); save to put it in the bank.",
        )
    others = [
        d for d in drafts.drafts(draft_keeper.who(), task.name) if d.prompt_id != st.session_state.ed_id
    ]
    if others:
        with bar.expander(f"Your other unsaved drafts for {task.name} ({len(others)})"):
            for d in others:
                label = f"{'new: ' if d.is_new else ''}{d.name} · {d.saved_at}"
                st.button(label, key=f"open_draft_{d.prompt_id}", on_click=_open_draft, args=(task, d))


def _open_draft(task: Task, d: Draft) -> None:
    draft_keeper.restore(d)


def _confirm_delete(task: Task, settings: Settings) -> None:
    if st.session_state.get("confirm_delete") != st.session_state.ed_id:
        return
    st.warning(f"Delete prompt **{st.session_state.ed_name}** from the bank? This cannot be undone here.")
    c1, c2, _ = st.columns([1, 1, 4])
    c1.button("Yes, delete", key="delete_yes", type="primary", on_click=_on_delete, args=(task, settings))
    if c2.button("Cancel", key="delete_no"):
        st.session_state.pop("confirm_delete", None)
        st.rerun()


def render(catalog: Catalog, task: Task, settings: Settings) -> None:
    coll, load_error = state.collection(task.name, settings.bank_dir)
    drafts = draft_keeper.store(settings.bank_dir)
    draft_keeper.open_task(task, coll, drafts)
    st.subheader(f"Write · {task.name}")
    with st.expander(f"{task.description}  ·  {task.task_type}"):
        task_card(task, len(coll.templates) if coll else 0)
    if load_error:
        st.error(
            f"{load_error}\n\nThe file is not valid any more (edited by hand?). Fix it in an editor: until it "
            "parses, nothing can be saved for this task and the file is left exactly as it is."
        )
    _prompt_bar(task, coll, load_error, settings.bank_dir)
    _draft_bar(task, drafts, draft_keeper.sync(drafts))
    _confirm_discard(task, settings)
    _confirm_delete(task, settings)
    history_panel.conflict_view(task, coll, settings.bank_dir)
    if flash := st.session_state.pop("flash", None):
        getattr(st, flash[0])(flash[1])

    examples, fields, example_names, data_error = state.check_examples(catalog, task, settings.data_dir)
    count_tokens, tok_error = state.token_counter(settings.tokenizer)
    if tok_error:
        st.warning(tok_error)

    left, right = st.columns([1, 1], gap="large")
    with left:
        guidance.show(
            catalog, task, [t for t in (coll.templates if coll else []) if t.id != st.session_state.ed_id]
        )
        editor.editor_widgets(task)
        field_palette(task, fields or set(task.fields), examples[0] if examples else None)
    draft = editor.draft()
    others = [t for t in (coll.templates if coll else []) if t.id != draft.id]
    empty = not draft.jinja.strip()
    issues = (
        [] if empty else check_template(task, draft, others, examples, fields, settings.budget, count_tokens)
    )
    with right:
        _preview(catalog, task, settings, draft, count_tokens, data_error)
    st.markdown("**Check before save**")
    if data_error:
        st.error(f"No examples to check on: {data_error}. Set the data dir under Settings in the sidebar.")
    elif empty:
        st.caption("Nothing to check yet.")
    elif not issues:
        st.success(
            f"No problems on {len(examples)} real examples (the first {state.CHECK_PER_SPLIT} of every split)."
        )
    preview.show_issues(issues, draft.jinja, example_names)
    _save_bar(task, settings, issues, examples, fields, count_tokens, load_error, empty)
    review_bar(task, coll, settings.bank_dir)
    history_panel.show(task, coll, settings.bank_dir)


def _preview(catalog, task, settings, draft, count_tokens, data_error) -> None:
    c1, c2, c3 = st.columns([2, 1, 1])
    with c1:
        split = split_selector(task, f"preview_split:{task.name}", "Preview on split")
    st.session_state.setdefault("preview_n", 3)  # state, not `value=`: the key is kept across views
    n = c2.number_input("Examples", 1, 10, key="preview_n")
    start = c3.number_input("From #", 0, key="preview_start")
    if data_error:
        st.error(f"Preview unavailable: {data_error}")
        return
    ds, error = state.split(catalog, task, split, settings.data_dir)
    if error:
        st.error(f"Preview unavailable: {error}")
        return
    start = min(int(start), max(0, len(ds) - 1))
    rows = [(i, ds[i]) for i in range(start, min(start + int(n), len(ds)))]
    if not draft.jinja.strip():
        st.info(
            "Type a template on the left: it is rendered here on real examples as you type. This is the data:"
        )
        st.json(rows[0][1] if rows else {}, expanded=True)
        return
    ranked = task.is_rank and draft.metadata.original_task
    preview.render_examples(draft, rows, count_tokens, settings.budget, ranked)


def _save_bar(task, settings, issues, examples, fields, count_tokens, load_error, empty) -> None:
    why = ["the template is empty"] if empty else []
    if load_error:
        why.append("the task's file does not parse")
    if errors(issues):
        why.append(f"{len(errors(issues))} error(s) above")
    if not st.session_state.get("annotator", "").strip():
        why.append("no annotator name")
    if st.session_state.ed_base and not editor.is_dirty():
        why = ["nothing changed since it was loaded"]
    label = "Save changes" if st.session_state.ed_base else "Save new prompt"
    st.button(
        label,
        key="save",
        type="primary",
        disabled=bool(why),
        on_click=_on_save,
        args=(task, settings, examples, fields, count_tokens),
    )
    if why:
        st.caption("Cannot save yet: " + "; ".join(why) + ".")
    elif st.session_state.ed_base:
        st.caption(f"Saving records you ({st.session_state.annotator}) as the last editor.")
