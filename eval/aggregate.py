"""From cached per-example predictions to scores — no model call (rescoring is free).

Per prompt: the task's catalog metrics (first = primary); for rank tasks the accuracy under every
scoring rule (`mean` is the primary rule); the out-of-scope rate: for generation, answers the task's
format rules out; for rank tasks only with the scope probe (open answers naming no choice), else None. Examples the template could not render are not scored; they are counted and reported.
Per task and shot setting, over its prompts: median, quartiles, IQR, mean, worst and best prompt.
Trivial baselines of one prompt's scored records (`baselines`): chance and majority class, in the
task's metric, for the Table-6 report.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence

import numpy as np

from weprompt.catalog import Task
from weprompt.eval import metrics as M
from weprompt.eval.scoring import DEFAULT_RULE, RULES, argmax, rule_scores


def rank_predictions(records: Sequence[dict], rule: str) -> tuple[list[str], list[list[str]]] | None:
    preds, refs = [], []
    for r in records:
        scores = rule_scores(r["logprobs"], r["choices"], r.get("logprobs_cf"))[rule]
        if scores is None:
            return None  # no content-free scores in this run (calibration off or not renderable)
        preds.append(r["choices"][argmax(scores)])
        refs.append([r["choices"][r["gold"]]])
    return preds, refs


def _pick(rec: dict, rule: str) -> int:
    scores = rule_scores(rec["logprobs"], rec["choices"])[rule]
    assert scores is not None
    return argmax(scores)


def _counts(records: Sequence[dict]) -> dict:
    n = len(records) or 1
    return {
        "shots_mean": round(sum(r.get("shots", 0) for r in records) / n, 3),
        "shots_dropped": sum(r.get("shots_dropped", 0) for r in records),
        "truncated": sum(bool(r.get("truncated")) for r in records),
        "prompt_tokens_mean": round(sum(r.get("prompt_tokens", 0) for r in records) / n, 1),
    }


def score_prompt(task: Task, records: Sequence[dict], passages: dict[str, str | None]) -> dict:
    """Scores of one (task, template, shots) from its prediction records."""
    ok = [r for r in records if not r.get("error")]
    errors = [r for r in records if r.get("error")]
    out: dict = {"n": len(ok), "errors": len(errors), "error_examples": [r["error"] for r in errors[:3]]}
    names = [m for m in task.metrics if m in M.METRICS]
    if task.is_rank:
        rules: dict[str, float | None] = {}
        for rule in RULES:
            pr = rank_predictions(ok, rule)
            rules[rule] = M.accuracy(*pr) if ok and pr is not None else None
        preds, refs = rank_predictions(ok, DEFAULT_RULE) or ([], [])
        out["metrics"] = M.compute(names, preds, refs) if ok else {}
        out["rules"] = rules
        # The paper's rule (mean per token) and lm-evaluation-harness's `acc` (sum) pick the same choice on
        # this share of examples: they part on multi-token choices of different lengths (CHID idioms).
        same = sum(_pick(r, "mean") == _pick(r, "sum") for r in ok)
        out["mean_sum_agree"] = round(100.0 * same / len(ok), 2) if ok else None
        probed = [r for r in ok if "open_answer" in r]  # the scope probe; none by default
        out["oos_rate"] = (
            100.0 * sum(M.outside_choices(r["open_answer"], r["choices"]) for r in probed) / len(probed)
            if probed
            else None
        )
        out["oos_probed"] = len(probed)
        out["n_choices_mean"] = round(sum(len(r["choices"]) for r in ok) / len(ok), 2) if ok else 0
    else:
        preds = [r["prediction"] for r in ok]
        refs = [r["references"] for r in ok]
        wanted = list(dict.fromkeys(names + list(M.GENERATION_METRICS)))
        out["metrics"] = M.compute(wanted, preds, refs) if ok else {}
        oos = [M.out_of_scope(r["prediction"], task.task_type, passages.get(r["key"])) for r in ok]
        out["oos_rate"] = 100.0 * sum(oos) / len(oos) if oos else 0.0
        stops = sorted({r.get("stop") for r in ok}, key=str)
        out["stops"] = {s: sum(r.get("stop") == s for r in ok) for s in stops}
    out.update(_counts(ok))
    out["score"] = out["metrics"].get(task.metric) if ok else None
    return out


def summarize(prompts: Sequence[dict], metric: str) -> dict:
    """Median, IQR and worst/best over the prompts that have a score."""
    scored = [p for p in prompts if p.get("score") is not None]
    if not scored:
        return {"metric": metric, "n_prompts": 0}
    values = [p["score"] for p in scored]
    q1, q3 = (float(x) for x in np.percentile(values, [25, 75]))
    sums = [p["rules"]["sum"] for p in scored if (p.get("rules") or {}).get("sum") is not None]
    worst = min(scored, key=lambda p: p["score"])
    best = max(scored, key=lambda p: p["score"])
    return {
        "metric": metric,
        "n_prompts": len(scored),
        "median": float(statistics.median(values)),
        "q1": q1,
        "q3": q3,
        "iqr": q3 - q1,
        "mean": float(statistics.fmean(values)),
        # rank tasks: the median over prompts of the accuracy under the summed log-likelihood rule
        # (lm-evaluation-harness's `acc`), beside the headline median (mean per token, the paper's rule)
        "median_sum_rule": float(statistics.median(sums)) if sums else None,
        "worst": {"template_id": worst["template_id"], "name": worst["name"], "score": worst["score"]},
        "best": {"template_id": best["template_id"], "name": best["name"], "score": best["score"]},
    }


def _answer_key(rec: dict, index: int, task_type: str) -> str | int:
    """What a constant predictor repeats: the label text for classification (the gold and its
    negatives vary per example, the label does not), the position for multiple choice."""
    return rec["choices"][index] if task_type == "classification" else index


def _shown(key: str | int) -> str:
    return key if isinstance(key, str) else f"choice {key + 1}"


def _predicted(rec: dict) -> int:
    scores = rule_scores(rec["logprobs"], rec["choices"], rec.get("logprobs_cf"))[DEFAULT_RULE]
    assert scores is not None  # only the calibrated rule can be missing, and it is not the default
    return argmax(scores)


def _constant_answer(rec: dict, key: str | int) -> str:
    if isinstance(key, str):
        return key
    return rec["choices"][key] if key < len(rec["choices"]) else ""


def baselines(kind: str, task_type: str, metric: str, records: Sequence[dict]) -> dict:
    """Chance and majority-class baselines (0-100, in `metric`) over one prompt's scored records.

    - chance: rank tasks scored by accuracy only, the mean of 1 / number of scored choices (so 1/3
      for NLI, 1/4 for TNEWS/IFLYTEK's gold + 3 negatives, per example for multiple choice); None else;
    - majority: `metric` of always giving the most frequent gold answer of these records (label for
      classification, position for multiple choice, first reference for generation);
    - constant: whether the model gave one and the same answer to every record (a degenerate prompt
      scores exactly that answer's share), and constant_answer: that answer.
    """
    out: dict = dict.fromkeys(("chance", "majority", "majority_answer", "constant_answer"))
    out["constant"] = False
    if not records:
        return out
    if kind == "rank":
        gold = [_answer_key(r, r["gold"], task_type) for r in records]
        top = Counter(gold).most_common(1)[0][0]
        preds = [_constant_answer(r, top) for r in records]
        refs = [[r["choices"][r["gold"]]] for r in records]
        if metric == "accuracy":
            out["chance"] = 100.0 * statistics.fmean(1.0 / len(r["choices"]) for r in records)
        picks = {_answer_key(r, _predicted(r), task_type) for r in records}
        out["majority_answer"] = _shown(top)
    else:
        refs = [r["references"] for r in records]
        top = Counter(r[0] for r in refs).most_common(1)[0][0]
        preds = [top] * len(records)
        picks = {r["prediction"] for r in records}
        out["majority_answer"] = top
    if metric in M.METRICS:
        out["majority"] = M.compute([metric], preds, refs)[metric]
    if len(picks) == 1:
        out["constant"], out["constant_answer"] = True, _shown(picks.pop())
    return out
