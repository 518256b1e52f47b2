"""Derive `prompt_bank/catalog.yaml` from the shared data catalog (`<data_dir>/catalog.yaml`).

Run when the shared data changes: `python tools/make_catalog.py [--data-dir ../shared/data]`.
The shared catalog describes the data (fields, sources, licences); ours adds what training and
evaluation need: source-dataset family, few-shot count, metric ids, the label field with an ordered
list of raw label values and natural Chinese label names, and how evaluation forms answer choices.
Every hand decision lives in the tables below (families, few-shot counts, label fields and names,
corrected descriptions, missing field descriptions), so the output is reproducible: the tests check
that `build(<shared catalog>)` equals `prompt_bank/catalog.yaml`. Edit the tables, not the output.
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
    # online_shopping_10_cats's 书籍 and 酒店 reviews include ChnSentiCorp's: 420 of its 10,000 training rows
    # share a 13-gram with ChnSentiCorp's validation and test examples, those inspected the same review.
    "chnsenticorp": ["chnsenticorp", "chnsenticorp_htl", "online_shopping_10_cats"],
    "smp2020_ewect": ["smp2020_ewect_usual", "smp2020_ewect_virus"],
    "se_absa16": ["se_absa16_came", "se_absa16_phns"],
    "sohu_sts": ["sohu_sts_a_ss", "sohu_sts_b_ss"],
    "kuake": ["kuake_qic", "kuake_qqr", "kuake_qtr"],
    "logiqa": ["logiqa_zh", "logiqa2_zh"],
    "math_word_problems": ["math23k", "ape210k"],  # Ape210K re-collects Math23K-style problems
    # GAOKAO-Bench math MCQs are the same exam papers as AGIEval gaokao-mathqa; the shared data removed
    # the exact duplicates, but at least 59 of the 238 left are the same questions in another LaTeX form.
    "agieval_gaokao_math": ["gaokao_mathqa", "gaokao_mathcloze", "gaokao_bench_math_mcq"],
    "biomedical_exam": ["biomedical_exam_doctor", "biomedical_exam_pharmacist"],
    "xnli_mnli": ["cmnli", "cnsd_snli"],  # CMNLI's XNLI part and CNSD share translated MultiNLI/SNLI genres
    # --- added with the 57 tasks of the second data release. Each link was checked on the real rows
    # (character 15-gram overlap between every new task and every other task, then by eye).
    # ACLUE 古文阅读理解 reuses AGIEval gaokao-chinese questions: 106 of its 214 rows are identical.
    "gaokao_chinese": ["gaokao_chinese", "aclue_reading"],
    # 34 ACLUE 古汉语知识 questions are CMMLU ancient_chinese questions, word for word.
    "cmmlu": ["cmmlu", "aclue_knowledge"],
    # About 60 ACLUE couplet questions are couplets of the couplet data set (the answer is its 下联).
    "couplet": ["couplet", "aclue_couplet"],
    # ACLUE's generated sub-tasks draw their option sentences from one pool of classical sentences:
    # the same sentence is an option (sometimes the answer) in several of them.
    "aclue_classical_sentences": ["aclue_named_entity", "aclue_tongjiazi", "aclue_polysemy"],
    # Shared-catalog family notes.
    "niutrans_classical_modern": ["classical_to_modern", "modern_to_classical"],
    "lancopku_literature": ["literature_ner", "literature_re"],  # one corpus, NER and RE annotation
    "leven": ["lawbench_event_detection", "lawbench_trigger_words"],
    "cail2018": ["lawbench_article_prediction", "lawbench_charge_prediction"],  # same case facts
    "chip_ctc": ["cmed_tc"],  # ChineseBLUE cMedTC is the CHIP 2019 CTC data (CBLUE CHIP-CTC's source)
    # cMedQANER annotates cMedQA answers: rows are (lightly edited) answers of cmedqa_qa_match.
    "cmedqa": ["cmedqa_qa_match", "cmedqa_ner"],
    # FinNL and FinNA are the same financial news-flash feed: identical items in both.
    "fin_news_flash": ["fin_nl", "fin_na"],
    # FinNSP and FinESE texts come from the same negative-finance-news crawl: identical texts in both.
    "fin_negative_news": ["fin_nsp", "fin_ese"],
    # CDConv's first user turns are persona_chat_zh utterances (241 rows share most of their text).
    "persona_chat_zh": ["persona_chat_zh", "cdconv"],
}

# Paper §4 few-shot counts; 5 for everything else. The paper's rule carried over to the second data
# release: 1 for extractive reading comprehension (long passages), 2 for cloze tasks like CHID/CMRC2017.
FEW_SHOT = {"cmrc2018": 1, "drcd": 1, "dureader_robust": 1, "cmrc2017": 2, "chid": 2, "pd": 2}
FEW_SHOT.update({"lawbench_reading": 1, "aclue_poetry_context": 2, "aclue_couplet": 2})
# vcsum_segment: a meeting-segment transcript is ~2,000 characters (prompts cut it at 1,500), so five
# demonstrations cannot fit the 2,048-token context; one, like the long-passage reading tasks.
FEW_SHOT["vcsum_segment"] = 1

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
    "f0.5 (cherrant-style)": "cherrant_f05",
    "chrf": "chrf",
    "sentence-level correction f1": "correction_f1",
    "relation f1": "relation_f1",
    "event f1": "event_f1",
    "symptom f1": "symptom_f1",
}

# Task types the shared catalog uses that ours folds into an existing one.
TASK_TYPE_MAP = {"relation_extraction": "extraction"}

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
    # FinRE: unknown = no relation of the 43 types (or not stated); 自己 = the two names denote the same
    # company (上海建工 / 建工集团), which the bare word 自己 ("oneself") does not say as an answer.
    "fin_re": {"unknown": "未知", "自己": "同一主体"},
    "toxicn": {"无毒": "无害", "有毒": "有害"},  # ToxiCN's own Chinese term is 有害言论
    # CHIP-CTC's official Chinese category names (CHIP 2019 task 3 guideline), shortened where long.
    "cmed_tc": {
        "Addictive Behavior": "成瘾行为",
        "Address": "居住情况",
        "Age": "年龄",
        "Alcohol Consumer": "酒精使用",
        "Allergy Intolerance": "过敏耐受",
        "Bedtime": "睡眠",
        "Blood Donation": "献血",
        "Capacity": "能力",
        "Compliance with Protocol": "依从性",
        "Consent": "知情同意",
        "Data Accessible": "数据可及性",
        "Device": "设备",
        "Diagnostic": "诊断",
        "Diet": "饮食",
        "Disabilities": "残疾群体",
        "Disease": "疾病",
        "Education": "教育情况",
        "Encounter": "病例来源",
        "Enrollment in other studies": "参与其他试验",
        "Ethical Audit": "伦理审查",
        "Ethnicity": "种族",
        "Exercise": "锻炼",
        "Gender": "性别",
        "Healthy": "健康群体",
        "Laboratory Examinations": "实验室检查",
        "Life Expectancy": "预期寿命",
        "Literacy": "读写能力",
        "Multiple": "多个类别",
        "Neoplasm Status": "肿瘤进展",
        "Non-Neoplasm Disease Stage": "疾病分期",
        "Nursing": "护理",
        "Oral related": "口腔相关",
        "Organ or Tissue Status": "器官组织状态",
        "Pharmaceutical Substance or Drug": "药物",
        "Pregnancy-related Activity": "怀孕相关",
        "Receptor Status": "受体状态",
        "Researcher Decision": "研究者决定",
        "Risk Assessment": "风险评估",
        "Sexual related": "性取向",
        "Sign": "体征",
        "Smoking Status": "吸烟状况",
        "Special Patient Characteristic": "特殊病人特征",
        "Symptom": "症状",
        "Therapy or Surgery": "治疗或手术",
    },
}
LABEL_FIELD = {
    "cped_emotion": "emotion",
    "cmeee_entity_typing": "type",
    "fin_re": "relation",
    "fin_nsp": "negative",
    "toxicn": "toxic",
    "lawbench_dispute_focus": "answer",
    "lawbench_issue_topic": "answer",
}
# Where the raw label value wraps the label name: LawBench 2-2 golds read '争议焦点类别：责任认定。'.
RAW_LABEL_FORMAT = {"lawbench_dispute_focus": "争议焦点类别：{}。"}
# Hand corrections of shared-catalog descriptions (the shared catalog swaps the Sohu A/B ones).
DESCRIPTIONS = {
    "sohu_sts_a_ss": "Sohu 2021 text matching, track A, short-short pairs (same topic or not; the lenient "
    "standard, about 28 % positive). Corrected here (the shared catalog swaps the A/B descriptions).",
    "sohu_sts_b_ss": "Sohu 2021 text matching, track B, short-short pairs (same event or not; the strict "
    "standard, about 13 % positive). Corrected here (the shared catalog swaps the A/B descriptions).",
    "fin_nl": "FinNL (BBT-FinCUGE): multi-label classification of financial news into 16 categories (中国, 外国, "
    "公司, 行业, 大盘, 经济, 政策, 政治, 国际, 新冠, 期货, 债券, 能源, 房地产, 外汇, 虚拟货币); 42 rows (41 train, "
    "1 validation) also carry a stray annotation label (e.g. 'zc', '正常'), kept as in the source. Corrected here "
    "(the shared catalog says 15 categories).",
}
# Data fields the shared catalog leaves undescribed: (field, meaning), inserted after `id`.
_ACLUE_SUBJECT = ("subject", "ACLUE sub-task (Chinese name)")
EXTRA_FIELDS = {
    name: [_ACLUE_SUBJECT]
    for name in (
        "aclue_poetry_context",
        "aclue_couplet",
        "aclue_poetry_sentiment",
        "aclue_named_entity",
        "aclue_sentence_segmentation",
        "aclue_polysemy",
        "aclue_tongjiazi",
    )
}
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
    if not names or TASK_TYPE_MAP.get(task["task_type"], task["task_type"]) not in CLASSIFICATION_TYPES:
        return None
    if isinstance(names, dict):
        raw = [raw_key(k) for k in names]
        shown = [re.sub(r"\s*\(.*\)$", "", str(v)) for v in names.values()]
    else:
        raw = [raw_key(v) for v in names]
        shown = [str(v) for v in names]
    overrides = TASK_ZH_NAMES.get(task["name"], {})
    shown = [overrides.get(s, ZH_NAMES.get(s, s)) for s in shown]
    if task["name"] in RAW_LABEL_FORMAT:
        raw = [RAW_LABEL_FORMAT[task["name"]].format(r) for r in raw]
    return raw, shown


def fields_of(task: dict) -> dict[str, str]:
    fields = {k: str(v) for k, v in task["fields"].items()}
    extra = EXTRA_FIELDS.get(task["name"], [])
    if not extra:
        return fields
    out = {}
    for k, v in fields.items():
        out[k] = v
        if k == "id":
            out.update((f, m) for f, m in extra if f not in fields)
    out.update((f, m) for f, m in extra if f not in out)
    return out


def check_shared_families(shared: dict, family_of: dict[str, str]) -> None:
    """Tasks the shared catalog gives one `family` note must share our family."""
    groups: dict[str, set[str]] = {}
    for t in shared["tasks"]:
        if t.get("family"):
            groups.setdefault(t["family"], set()).add(family_of.get(t["name"], t["name"]))
    for note, fams in groups.items():
        if len(fams) > 1:
            raise SystemExit(
                f"shared family '{note}' is split across our families {sorted(fams)}: fix FAMILIES"
            )


def build(shared: dict) -> dict:
    family_of = {t: fam for fam, tasks in FAMILIES.items() for t in tasks}
    check_shared_families(shared, family_of)
    tasks = []
    for t in shared["tasks"]:
        name = t["name"]
        splits = dict(t["splits"])
        entry = {
            "name": name,
            "category": t["category"],
            "task_type": TASK_TYPE_MAP.get(t["task_type"], t["task_type"]),
            "metrics": metric_ids(t["metric"]),
            "family": family_of.get(name, name),
            "held_out_eval": bool(t["held_out_eval"]),
            "few_shot": FEW_SHOT.get(name, 5),
            "splits": splits,
            "eval_split": "validation"
            if "validation" in splits
            else ("test" if "test" in splits else "train"),
            "hf_hub": t.get("hf_hub"),
            "description": DESCRIPTIONS.get(name, t["description"]),
            "fields": fields_of(t),
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
    text = "# WePrompt task catalog: one entry per task of the shared data. See docs/bank.md.\n"
    text += yaml.safe_dump(build(shared), allow_unicode=True, sort_keys=False, width=100)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
