"""Bank health: prompts per category (chart) and per task, tasks below target, failing templates,
answer-choice styles and who wrote what. The numbers come from `weprompt.bank_health`."""

from __future__ import annotations

import streamlit as st

from weprompt.annotation_ui import state
from weprompt.annotation_ui.components.task_picker import go_to_task
from weprompt.annotation_ui.settings import Settings
from weprompt.bank import resolve_bank_dir
from weprompt.bank_health import health, load_bank_tolerant, validation_issues
from weprompt.bank_stats import MAX_MEAN_SIMILARITY


def _bank_version(bank_dir: str) -> tuple:
    """Changes whenever any template file changes: validation results are kept only for one version."""
    root = resolve_bank_dir(bank_dir) / "templates"
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in root.glob("*.yaml"))) if root.is_dir() else ()


def _open_in_write(snap) -> None:
    go_to_task(snap.catalog.task(st.session_state.health_goto))
    st.session_state.view = "Write"


def _jump(catalog_tasks: list[str], snap) -> None:
    """From a row of the table to the task: fewest prompts first."""
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    c1.selectbox("Go to a task (fewest prompts first)", catalog_tasks, key="health_goto")
    c2.button("Open in Write", key="health_open", on_click=_open_in_write, args=(snap,))


def _category_chart(cats: dict) -> None:
    """Horizontal bars with the full category names (Vega-Lite's default label limit cut them)."""
    values = [{"category": k, "prompts": v["prompts"]} for k, v in cats.items()]
    st.vega_lite_chart(
        {
            "data": {"values": values},
            "mark": {"type": "bar"},
            "height": {"step": 24},  # one row per category, every name drawn
            "encoding": {
                "y": {
                    "field": "category",
                    "type": "nominal",
                    "sort": "-x",
                    "axis": {"labelLimit": 0, "labelOverlap": False, "title": None},
                },
                "x": {"field": "prompts", "type": "quantitative", "axis": {"format": "d", "tickMinStep": 1}},
            },
        },
        width="stretch",
    )


def render(settings: Settings) -> None:
    snap = load_bank_tolerant(settings.bank_dir)
    h = health(snap, settings.target)
    with_prompts = sum(1 for t in h["per_task"] if t["prompts"])
    c = st.columns(4)
    c[0].metric("Prompts", h["prompts"])
    c[1].metric("Tasks with prompts", f"{with_prompts} / {h['tasks']}")
    c[2].metric(f"Tasks below {h['target']}", len(h["below_target"]))
    c[3].metric("Categories", h["categories"])
    for task, msg in h["load_errors"].items():
        st.error(f"{task}: {msg}")

    st.markdown("#### Prompts per category")
    cats = h["per_category"]
    _category_chart(cats)
    st.dataframe([{"category": k, **v} for k, v in cats.items()], hide_index=True)
    st.markdown("#### Prompts per task")
    st.dataframe(
        [
            {
                **t,
                "below target": t["prompts"] < h["target"],
                "too similar": (t["similarity"] or 0) > MAX_MEAN_SIMILARITY,
            }
            for t in h["per_task"]
        ],
        hide_index=True,
    )
    _jump(catalog_tasks=[t["task"] for t in sorted(h["per_task"], key=lambda t: t["prompts"])], snap=snap)
    with st.expander(f"Tasks below the target of {h['target']} ({len(h['below_target'])})"):
        st.dataframe(h["below_target"], hide_index=True)
    left, right = st.columns(2)
    with left:
        st.markdown("#### Answer-choice styles")
        st.dataframe([{"style": k, "prompts": v} for k, v in h["choice_styles"].items()], hide_index=True)
        st.dataframe(
            [{"fixed choices": k, "prompts": v} for k, v in h["fixed_choice_sets"].items()], hide_index=True
        )
        st.caption(", ".join(f"{k}: {v}" for k, v in h["choices_in_prompt"].items()))
    with right:
        st.markdown("#### Who wrote what")
        st.dataframe(
            [
                {
                    "annotator": k,
                    "created": v["created"],
                    "last edited": v["modified"],
                    "tasks": ", ".join(v["tasks"]),
                }
                for k, v in h["authors"].items()
            ],
            hide_index=True,
        )
    _validation(settings, snap)


def _validation(settings: Settings, snap) -> None:
    st.markdown("#### Templates that fail validation")
    version = (_bank_version(settings.bank_dir), settings.data_dir, settings.budget, settings.tokenizer)
    per_split = st.number_input("Examples per split", 1, 200, value=5, key="health_per_split")
    if st.button("Validate every prompt on real data", key="health_validate"):
        count_tokens, _ = state.token_counter(settings.tokenizer)
        bar = st.progress(0.0)
        issues = validation_issues(
            snap,
            settings.data_dir,
            int(per_split),
            settings.budget,
            count_tokens,
            progress=lambda i, n, name: bar.progress(i / max(n, 1), text=f"validating {name}"),
        )
        bar.empty()
        st.session_state.health_issues = (version, issues)
    saved = st.session_state.get("health_issues")
    if not saved:
        st.caption("Renders every prompt on real examples of every split (as `weprompt bank validate`).")
        return
    if saved[0] != version:
        st.caption("The bank changed since the last validation: run it again.")
        return
    errs = [i for i in saved[1] if i.severity == "error"]
    failing = sorted({(i.task, i.template or "(task)") for i in errs})
    st.metric("Failing templates", len(failing))
    if errs:
        st.dataframe([i.to_dict() for i in errs], hide_index=True)
    else:
        st.success("Every prompt renders without error on the examples checked.")
    warns = [i for i in saved[1] if i.severity == "warning"]
    if warns:
        with st.expander(f"{len(warns)} warning(s)"):
            st.dataframe([i.to_dict() for i in warns], hide_index=True)
