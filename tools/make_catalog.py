"""Derive `prompt_bank/catalog.yaml` from the shared data catalog (`<data_dir>/catalog.yaml`).

Run once when the shared data changes: `python tools/make_catalog.py [--data-dir ../shared/data]`.
The shared catalog describes the data (fields, sources, licences); ours adds what training and
evaluation need: source-dataset family, few-shot count, metric ids, the label field with an ordered
list of raw label values and natural Chinese label names, and how evaluation forms answer choices.
The output is the project's source of truth and may be edited by hand afterwards; the tests check
it against the data dir.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import yaml

# Tasks built from the same underlying dataset (or overlapping releases of it) share a family, so a
# held-out task takes its siblings out of training with it.
FAMILIES = {
    "csl": [
        "csldcp",
        "csl_category",
        "csl_discipline",
        "csl_keyword",
        "csl_keyword_generation",
        "csl_title_generation",
        "csl_summarization",
    ],
    "dureader": ["dureader_robust", "dureader_checklist", "dureader_yesno"],
    "chnsenticorp": ["chnsenticorp", "chnsenticorp_htl"],
    "smp2020_ewect": ["smp2020_ewect_usual", "smp2020_ewect_virus"],
    "se_absa16": ["se_absa16_came", "se_absa16_phns"],
    "sohu_sts": ["sohu_sts_a_ss", "sohu_sts_b_ss"],
    "kuake": ["kuake_qic", "kuake_qqr", "kuake_qtr"],
    "logiqa": ["logiqa_zh", "logiqa2_zh"],
    "math_word_problems": ["math23k", "ape210k"],  # Ape210K re-collects Math23K-style problems
    "agieval_gaokao_math": ["gaokao_mathqa", "gaokao_mathcloze"],
    "biomedical_exam": ["biomedical_exam_doctor", "biomedical_exam_pharmacist"],
    "xnli_mnli": ["cmnli", "cnsd_snli"],  # CMNLI's XNLI part and CNSD share translated MultiNLI/SNLI genres
}

# Paper §4 few-shot counts; 5 for everything else.
FEW_SHOT = {"cmrc2018": 1, "drcd": 1, "dureader_robust": 1, "cmrc2017": 2, "chid": 2, "pd": 2}

# Paper: TNEWS and IFLYTEK are scored against the gold label plus three random negatives.
SAMPLED_CHOICES = {"tnews": 3, "iflytek": 3}

METRIC_IDS = {
    "accuracy": "accuracy",
    "f1": "f1",
    "exact_match": "exact_match",
    "macro-f1": "macro_f1",
    "rouge-l": "rouge_l",
    "bleu": "bleu",
    "entity f1": "entity_f1",
    "answer accuracy": "accuracy",
    "accuracy (exact match)": "exact_match",
    "question-level accuracy": "accuracy",
    "f1 (micro)": "micro_f1",
    "spearman": "spearman",
    "keyword f1": "keyword_f1",
    "sentence accuracy": "accuracy",
    "distinct": "distinct",
    "perplexity": "perplexity",
    "dialogue-act f1": "dialogue_act_f1",
    "cherrant f0.5": "cherrant_f05",
}

# Natural Chinese names for label sets the source gives in English.
ZH_NAMES = {
    "finance": "财经",
    "realty": "房产",
    "stocks": "股票",
    "education": "教育",
    "science": "科技",
    "society": "社会",
    "politics": "时政",
    "sports": "体育",
    "game": "游戏",
    "entertainment": "娱乐",
    "neutral": "中性",
    "angry": "愤怒",
    "happy": "高兴",
    "sad": "悲伤",
    "fear": "恐惧",
    "surprise": "惊奇",
    "anger": "愤怒",
    "disgust": "厌恶",
    "happiness": "快乐",
    "like": "喜爱",
    "sadness": "悲伤",
    "astonished": "惊讶",
    "depress": "沮丧",
    "grateful": "感激",
    "negative-other": "其他负面情绪",
    "positive-other": "其他正面情绪",
    "relaxed": "放松",
    "worried": "担忧",
    "baby": "母婴",
    "car": "汽车",
    "discovery": "探索",
    "essay": "美文",
    "fashion": "时尚",
    "food": "美食",
    "history": "历史",
    "military": "军事",
    "regimen": "养生",
    "story": "故事",
    "tech": "科技",
    "travel": "旅游",
    "world": "国际",
}
# Per-task overrides where one English word needs a different Chinese word in context.
TASK_ZH_NAMES = {
    "cped_emotion": {"neutral": "平静", "happy": "开心", "fear": "害怕"},
    "smp2020_ewect_usual": {"neutral": "无情绪"},
    "smp2020_ewect_virus": {"neutral": "无情绪"},
}
LABEL_FIELD = {"cped_emotion": "emotion", "cmeee_entity_typing": "type"}
CLASSIFICATION_TYPES = {"classification"}


def raw_key(value) -> str:
    """Label values as strings, the form the data loader compares them in (True -> 'true')."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def metric_ids(text: str) -> list[str]:
    ids = []
    for part in text.split("/"):
        key = part.strip().lower()
        if key not in METRIC_IDS:
            raise SystemExit(f"unknown metric '{part}' in '{text}': extend METRIC_IDS")
        ids.append(METRIC_IDS[key])
    return ids


def labels_of(task: dict) -> tuple[list[str], list[str]] | None:
    names = task.get("label_names")
    if not names or task["task_type"] not in CLASSIFICATION_TYPES:
        return None
    if isinstance(names, dict):
        raw = [raw_key(k) for k in names]
        shown = [re.sub(r"\s*\(.*\)$", "", str(v)) for v in names.values()]
    else:
        raw = [raw_key(v) for v in names]
        shown = [str(v) for v in names]
    overrides = TASK_ZH_NAMES.get(task["name"], {})
    shown = [overrides.get(s, ZH_NAMES.get(s, s)) for s in shown]
    return raw, shown


def build(shared: dict) -> dict:
    family_of = {t: fam for fam, tasks in FAMILIES.items() for t in tasks}
    tasks = []
    for t in shared["tasks"]:
        name = t["name"]
        splits = dict(t["splits"])
        entry = {
            "name": name,
            "category": t["category"],
            "task_type": t["task_type"],
            "metrics": metric_ids(t["metric"]),
            "family": family_of.get(name, name),
            "held_out_eval": bool(t["held_out_eval"]),
            "few_shot": FEW_SHOT.get(name, 5),
            "splits": splits,
            "eval_split": "validation"
            if "validation" in splits
            else ("test" if "test" in splits else "train"),
            "hf_hub": t.get("hf_hub"),
            "description": t["description"],
            "fields": {k: str(v) for k, v in t["fields"].items()},
        }
        labels = labels_of(t)
        if labels:
            entry["label_field"] = LABEL_FIELD.get(name, "label")
            entry["labels"], entry["label_names"] = labels
            if name in SAMPLED_CHOICES:
                entry["eval_negatives"] = SAMPLED_CHOICES[name]
        tasks.append(entry)
    return {
        "version": 1,
        "generated_from": "shared data catalog.yaml via tools/make_catalog.py (then reviewed by hand)",
        "categories": {c: list(ts) for c, ts in shared["categories"].items()},
        "paper_eval_tasks_missing": sorted(
            set(shared["held_out_eval_tasks_of_welm_table6"]) - {t["name"] for t in shared["tasks"]}
        ),
        "tasks": tasks,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    ap.add_argument(
        "--out", default=str(Path(__file__).resolve().parents[1] / "prompt_bank" / "catalog.yaml")
    )
    args = ap.parse_args()
    shared = yaml.safe_load((Path(args.data_dir) / "catalog.yaml").read_text(encoding="utf-8"))
    text = "# WePrompt task catalog: one entry per task of the shared data. See docs/catalog.md.\n"
    text += yaml.safe_dump(build(shared), allow_unicode=True, sort_keys=False, width=100)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
