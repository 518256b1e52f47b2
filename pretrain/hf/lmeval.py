"""An lm-evaluation-harness task from prompts already rendered by our templates.

    <dir>/<name>.yaml          the task (output_type: multiple_choice, local JSON data)
    <dir>/<name>.test.jsonl    {"query", "choices", "gold", "key"} per evaluation example
    <dir>/<name>.train.jsonl   the same for few-shot demonstrations (optional)

Prompts are rendered by the toolkit (Jinja, seeds, answer choices) and stored, so the harness needs no
template code of ours. The harness joins `query + target_delimiter + choice` and few-shot blocks with
`fewshot_delimiter`; these are our TARGET_SEP ("\\n") and SHOT_SEP ("\\n\\n"), so the texts it scores
are the ones `weprompt eval` scores. Two conventions of the harness remain (docs/interop.md): it does not
start prompts after EOS, and it moves the context's trailing whitespace (our "\\n") into the scored
continuation. The harness's `acc` (argmax of summed log-likelihood) therefore ranks the choices exactly
as our `sum` rule does on EOS-less prompts.

`run_harness` runs a written task through `lm_eval.simple_evaluate` on an exported directory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from weprompt.common.atomic import atomic_write_text
from weprompt.pretrain.hf import InteropError

TARGET_DELIMITER = "\n"
FEWSHOT_DELIMITER = "\n\n"


def task_name(task: str, template_id: str) -> str:
    """An ASCII harness task name: weprompt_<task>_<first 8 characters of the template id>."""
    slug = re.sub(r"[^0-9A-Za-z]+", "_", template_id).strip("_").lower()[:8] or "prompt"
    return f"weprompt_{re.sub(r'[^0-9A-Za-z_]+', '_', task)}_{slug}"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if any(c in value for c in "\n\t") else None  # "\n" rather than a folded block
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _check(ex: dict, i: int) -> None:
    if not isinstance(ex.get("query"), str) or not ex["query"]:
        raise InteropError(f"example {i}: empty query")
    choices = ex.get("choices")
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices):
        raise InteropError(f"example {i}: choices must be a non-empty list of non-empty strings")
    if not isinstance(ex.get("gold"), int) or not 0 <= ex["gold"] < len(choices):
        raise InteropError(
            f"example {i}: gold {ex.get('gold')!r} is not an index into its {len(choices)} choices"
        )


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def write_task(
    out_dir: str | Path,
    name: str,
    examples: list[dict],
    fewshot: list[dict] | None = None,
    metadata: dict | None = None,
) -> Path:
    """Write the task YAML and its data; returns the YAML path. Examples: {query, choices, gold[, key]}."""
    if not examples:
        raise InteropError(f"task {name}: no examples to write")
    for i, ex in enumerate(list(examples) + list(fewshot or [])):
        _check(ex, i)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    files = {"test": out / f"{name}.test.jsonl"}
    atomic_write_text(files["test"], _jsonl(examples))
    if fewshot:
        files["train"] = out / f"{name}.train.jsonl"
        atomic_write_text(files["train"], _jsonl(fewshot))
    spec = {
        "task": name,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {split: str(p) for split, p in files.items()}},
        "test_split": "test",
        "output_type": "multiple_choice",
        "doc_to_text": "query",
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "target_delimiter": TARGET_DELIMITER,
        "fewshot_delimiter": FEWSHOT_DELIMITER,
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0, **(metadata or {})},
    }
    if fewshot:
        spec["fewshot_split"] = "train"
    path = out / f"{name}.yaml"
    atomic_write_text(path, yaml.dump(spec, Dumper=_Dumper, allow_unicode=True, sort_keys=False))
    return path


def run_harness(
    hf_dir: str | Path, task_dir: str | Path, task: str, num_fewshot: int = 0, limit: int | None = None
):
    """`lm_eval.simple_evaluate` of an exported directory on a task written by `write_task` (fp32, CPU)."""
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
    except ImportError as e:
        raise InteropError("lm-evaluation-harness is not installed: pip install 'weprompt[lmeval]'") from e
    return simple_evaluate(
        model="hf",
        model_args={"pretrained": str(hf_dir), "dtype": "float32", "device": "cpu"},
        tasks=[task],
        num_fewshot=num_fewshot,
        limit=limit,
        batch_size=1,
        task_manager=TaskManager(include_path=str(task_dir), include_defaults=False),
        log_samples=True,
    )
