"""fastText quality classifier (WeLM §2): train on the labelled set, report held-out P/R, filter at 0.9.

fastText build: `fasttext-numpy2-wheel` 0.9.2 (the one datatrove uses). `fasttext` 0.9.3 from source
gives NaN losses in `train_supervised`, and `fasttext-wheel`'s `predict` breaks under NumPy 2; this wheel
trains and predicts under NumPy 2.4 (checked by tests/pretrain/test_corpus_quality.py), but only in a
fresh process: repeated trainings in one process drift and often end in "Encountered NaN", so each
training runs in a spawned process. On tiny or degenerate files it is not even deterministic: 50 copies
each of one clean and one noisy text ended in "Encountered NaN" in 3 of 6 fresh processes (thread=1,
seed 0) and gave a different model in each of the other 3. So a training set with fewer than
MIN_DISTINCT_PER_CLASS distinct (featurized) texts in either class is refused with a QualityError before
fastText runs; a NaN on a larger set is a QualityError too.

Input features: Chinese characters one token each (Chinese is unsegmented), Latin words and digit runs
as tokens, line breaks as "<nl>", plus word bigrams (i.e. character bigrams for Chinese). Training runs on
one thread with a fixed seed in a fresh process, so the model is the same bytes on every run (checked
on real text down to 5 documents per class: 3 of 3 fresh runs gave identical bytes).
"""

from __future__ import annotations

import json
import multiprocessing
import random
import re
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from weprompt.common.atomic import atomic_open, atomic_write_text
from weprompt.common.errors import UserError
from weprompt.pretrain.corpus.base import DocFilter
from weprompt.pretrain.corpus.config import QualityConfig
from weprompt.pretrain.corpus.labelled import Example, build_labelled_set, split_heldout


class QualityError(UserError):
    """The quality classifier cannot be trained on what the rule stage left."""


TOKEN_RE = re.compile(r"[A-Za-z]+|\d+|\n|\S")
MODEL_FILE = "quality.bin"
REPORT_FILE = "report.json"
# Fewer distinct training texts than this in a class: refused before training (see the module doc).
MIN_DISTINCT_PER_CLASS = 20


def featurize(text: str, max_chars: int) -> str:
    toks = TOKEN_RE.findall(text[:max_chars].lower())
    return " ".join("<nl>" if t == "\n" else t for t in toks)


def _p_noisy(labels, probs) -> float:
    for lab, p in zip(labels, probs, strict=True):
        if lab == "__label__noisy":
            return float(p)
    return 0.0


def predict_p_noisy(model, texts: list[str], max_chars: int) -> list[float]:
    labels, probs = model.predict([featurize(t, max_chars) for t in texts], k=2)
    return [_p_noisy(lab, p) for lab, p in zip(labels, probs, strict=True)]


def is_dropped(p_noisy: float, threshold: float, rule: str) -> bool:
    if rule == "drop_noisy":
        return p_noisy > threshold
    return (1.0 - p_noisy) <= threshold  # keep_clean: keep only when p(clean) > threshold


def _training_lines(examples: list[Example], max_chars: int) -> list[str]:
    """fastText input lines; QualityError when a class has fewer than MIN_DISTINCT_PER_CLASS distinct texts."""
    lines = [f"__label__{e.label} {featurize(e.text, max_chars)}\n" for e in examples]
    distinct = {
        label: len({x for x in lines if x.startswith(f"__label__{label} ")}) for label in ("clean", "noisy")
    }
    if min(distinct.values()) < MIN_DISTINCT_PER_CLASS:
        raise QualityError(
            f"the quality classifier's training set is too small: {distinct['clean']} distinct clean and "
            f"{distinct['noisy']} distinct noisy texts (of {len(examples)} examples); at least "
            f"{MIN_DISTINCT_PER_CLASS} of each are needed: raise quality.per_class or check the rule stage's output"
        )
    return lines


def train_fasttext(examples: list[Example], out_dir: Path, cfg: QualityConfig, seed: int):
    import fasttext

    lines = _training_lines(examples, cfg.max_chars)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_txt = out_dir / "train.txt"
    with atomic_open(train_txt) as f:
        f.writelines(lines)
    tmp = out_dir / f".{MODEL_FILE}.tmp"
    # A fresh process per training run: measured, this build leaks state between trainings in one
    # process (the 6th of 6 identical runs gave a different model; 7 of 10 repeated runs ended in
    # "Encountered NaN"), while every fresh process gave the same model.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        error = pool.submit(_train_to_file, str(train_txt), str(tmp), asdict(cfg), seed).result()
    if error:
        raise QualityError(
            f"fastText training failed on {len(examples)} examples ({error}); the labelled set is too small "
            "or too uniform: raise quality.per_class or check the rule stage's output"
        )
    tmp.replace(out_dir / MODEL_FILE)
    return fasttext.load_model(str(out_dir / MODEL_FILE))


def _train_to_file(train_txt: str, out: str, cfg: dict, seed: int) -> str | None:
    """Runs in a spawned process; returns an error message instead of raising (pickling stays simple)."""
    import fasttext

    try:
        model = fasttext.train_supervised(
            input=train_txt,
            epoch=cfg["epoch"],
            lr=cfg["lr"],
            wordNgrams=cfg["word_ngrams"],
            dim=cfg["dim"],
            minn=0,
            maxn=0,
            bucket=200_000,
            thread=1,  # one thread: deterministic
            seed=seed,
            verbose=0,
        )
    except RuntimeError as e:  # "Encountered NaN." on tiny or degenerate files
        return str(e)
    model.save_model(out)
    return None


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def evaluate(model, held: list[Example], cfg: QualityConfig) -> dict:
    """Precision/recall of "noisy" (the class the filter removes) on the held-out set, overall and by kind."""
    ps = predict_p_noisy(model, [e.text for e in held], cfg.max_chars)
    out: dict = {"n": len(held)}
    for name, rule in (("at_0.5", None), (f"{cfg.rule}@{cfg.threshold}", cfg.rule)):
        pred = [(p > 0.5) if rule is None else is_dropped(p, cfg.threshold, rule) for p in ps]
        tp = sum(1 for e, d in zip(held, pred, strict=True) if d and e.label == "noisy")
        fp = sum(1 for e, d in zip(held, pred, strict=True) if d and e.label == "clean")
        fn = sum(1 for e, d in zip(held, pred, strict=True) if not d and e.label == "noisy")
        out[name] = prf(tp, fp, fn)
        by_kind: dict[str, Counter] = defaultdict(Counter)
        for e, d in zip(held, pred, strict=True):
            # Positives by dataset (doc ids are source/dataset/line): where do false alarms fall?
            key = e.kind if e.kind != "positive" else "positive:" + "/".join(e.doc_id.split("/")[:2])
            by_kind[key]["n"] += 1
            by_kind[key]["flagged_noisy"] += int(d)
        out[name]["by_kind"] = {k: dict(v) for k, v in sorted(by_kind.items())}
        # Recall on real (rule-flagged) negatives alone: the honest number, synthetic ones are easier.
        real = [(e, d) for e, d in zip(held, pred, strict=True) if e.kind.startswith("real:")]
        if real:
            out[name]["recall_real_negatives"] = round(sum(d for _, d in real) / len(real), 4)
    return out


def _read_jsonl(path: Path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


class QualityTrainStep(PipelineStep):
    """Global step (one task): build the labelled set from the rule stage's output, train, evaluate.

    Reads kept documents from `kept_dir` (datatrove JsonlWriter output) and rule drops from
    `rejected_dir/<step>/*.jsonl`. Writes quality.bin, labelled.jsonl, train.txt and report.json.
    """

    name = "quality_train"
    type = "WePrompt"

    def __init__(self, kept_dir: str, rejected_dir: str, out_dir: str, cfg: QualityConfig, seed: int):
        super().__init__()
        self.kept_dir, self.rejected_dir, self.out_dir = kept_dir, rejected_dir, out_dir
        self.cfg, self.seed = cfg, seed

    def _clean_pools(self) -> tuple[dict[str, list[tuple[str, str, str]]], dict[str, int]]:
        """Reservoir sample per dataset (seeded; memory stays bounded) and each dataset's size."""
        cap = 2 * self.cfg.per_class
        rng = random.Random(self.seed)
        pools: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        seen: Counter = Counter()
        for f in sorted(Path(self.kept_dir).glob("*.jsonl*")):
            for row in _read_jsonl_any(f):
                meta = row["metadata"]
                key = f"{meta['source']}/{meta.get('dataset', '')}"
                seen[key] += 1
                item = (row["id"], row["text"], meta["source"])
                if len(pools[key]) < cap:
                    pools[key].append(item)
                else:
                    j = rng.randrange(seen[key])
                    if j < cap:
                        pools[key][j] = item
        return pools, dict(seen)

    def _rejected(self):
        for f in sorted(Path(self.rejected_dir).glob("rule_*/*.jsonl")):
            for row in _read_jsonl(f):
                yield row["id"], row["text"], row["source"], row["reason"]

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        out = Path(self.out_dir)
        pools, sizes = self._clean_pools()
        examples = build_labelled_set(
            pools, self._rejected(), self.cfg.per_class, self.seed, self.cfg.max_chars, sizes
        )
        train, held = split_heldout(examples, self.cfg.heldout_fraction, self.seed)
        with atomic_open(out / "labelled.jsonl") as f:
            for split, part in (("train", train), ("heldout", held)):
                for e in part:
                    row = {
                        "split": split,
                        "label": e.label,
                        "kind": e.kind,
                        "source": e.source,
                        "id": e.doc_id,
                    }
                    f.write(json.dumps(row | {"text": e.text}, ensure_ascii=False) + "\n")
        model = train_fasttext(train, out, self.cfg, self.seed)
        report = {
            "train": dict(Counter(e.kind for e in train)),
            "heldout": dict(Counter(e.kind for e in held)),
            "metrics": evaluate(model, held, self.cfg),
            "threshold": self.cfg.threshold,
            "rule": self.cfg.rule,
        }
        atomic_write_text(out / REPORT_FILE, json.dumps(report, indent=1, ensure_ascii=False) + "\n")


def _read_jsonl_any(path: Path):
    if path.name.endswith(".gz"):
        import gzip

        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    else:
        yield from _read_jsonl(path)


class QualityFilter(DocFilter):
    """Drop reason: low_quality. Stores p(noisy) in metadata["p_noisy"] for every document it sees."""

    name = "quality"

    def __init__(self, model_path: str, threshold: float, rule: str, max_chars: int, stats_dir=None):
        super().__init__(stats_dir)
        self.model_path, self.threshold, self.rule, self.max_chars = model_path, threshold, rule, max_chars
        self._model = None

    def decide(self, doc: Document) -> str | None:
        if self._model is None:
            import fasttext

            self._model = fasttext.load_model(self.model_path)
        (p,) = predict_p_noisy(self._model, [doc.text], self.max_chars)
        doc.metadata["p_noisy"] = round(p, 5)
        # The other rule's verdict is counted too, so the summary shows what the alternative would remove.
        other = "keep_clean" if self.rule == "drop_noisy" else "drop_noisy"
        if is_dropped(p, self.threshold, other):
            self.note(f"would_drop_under_{other}", source=doc.metadata.get("source"))
        return "low_quality" if is_dropped(p, self.threshold, self.rule) else None
