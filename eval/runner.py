"""The experiment runner: tasks × prompts × shot settings, with a resumable prediction cache.

    results = evaluate("runs/base", tasks=["ocnli", "c3"], shots=[0, "paper"], limit=200)

For every task (default: the catalog's held-out evaluation tasks), every original-task prompt of it
in the bank, and every shot setting, each example of the task's evaluation split (the first `limit`)
is predicted once — rank scoring for classification / multiple choice, greedy generation otherwise —
and cached by (model hash, template, example). Scores are then computed from the cache alone.
The returned dict is self-describing (see `docs/eval.md`); `eval.report` writes it as JSON and Markdown.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from weprompt.common.errors import UserError
from weprompt.eval import modelio
from weprompt.eval.aggregate import score_prompt, summarize
from weprompt.eval.cache import PredictionCache, PredictionFile, row_hash, stable_hash
from weprompt.eval.examples import (
    EvalInputError,
    PromptBuilder,
    example_key,
    passage,
    usable_templates,
)
from weprompt.eval.fewshot import demo_split as choose_demo_split
from weprompt.eval.generate import Generator, max_new_tokens_for
from weprompt.eval.predict import (
    Job,
    batches,
    finish_generation,
    finish_rank,
    prepare_generation,
    prepare_rank,
)
from weprompt.eval.scoring import DEFAULT_RULE, RULES
from weprompt.eval.shards import in_shard, merge_into, shard_manifest

RESULTS_SCHEMA = "weprompt.eval.results/1"
SETTING_VERSION = 1  # bump when a change alters predictions: old cache files are then not reused


class TaskSkipped(Exception):
    """A task that cannot be evaluated in this run for a reason that is not an error (no prompts yet)."""


@dataclass
class EvalOptions:
    limit: int | None = None  # first N examples of the evaluation split
    seed: int = 0
    batch_size: int = 8  # examples per model batch and cache write (scores do not depend on it)
    calibrate: bool = True  # also score choices against the content-free input
    prefix_eos: bool = True  # prompts start after an EOS, as every training example does
    max_new_tokens: int | None = None  # default: per task type (eval.generate.MAX_NEW_TOKENS)
    # Rank tasks: also decode an open answer greedily for the first N examples of each prompt, to count
    # answers outside the label set (the paper's "out-of-scope" finding; rank scoring has none by design).
    scope_probe: int = 0
    cache_dir: str = "runs/eval_cache"
    bank_dir: str | None = None
    data_dir: str | None = None
    progress: bool = True
    # TNEWS / IFLYTEK: "paper" = gold + the catalog's `eval_negatives` seeded negatives; "all" = every label
    negatives: str = "paper"
    prompts: str = "approved"  # review statuses taken: approved | with_submitted | all (bank_review)
    shard: str | None = None  # "i/n": predict only this shard of the task × prompt × example grid
    extra: dict = field(default_factory=dict)  # recorded as is (e.g. the CLI command line)


def resolve_shots(spec: int | str, few_shot: int) -> int:
    if isinstance(spec, str) and spec in ("paper", "catalog"):
        return few_shot
    try:
        k = int(spec)
    except (TypeError, ValueError):
        raise UserError(f"shots must be a number or 'paper', got {spec!r}") from None
    if k < 0:
        raise UserError(f"shots must be >= 0, got {k}")
    return k


def trained_tasks(path: str | None) -> dict | None:
    """The split a fine-tuned model was trained on (`split.json` in its run directory), if any."""
    if not path:
        return None
    p = Path(path).resolve()
    for d in (p, *list(p.parents)[:3]):
        f = d / "split.json"
        if f.is_file():
            data = json.loads(f.read_text(encoding="utf-8"))
            return {"path": str(f), "mode": data.get("mode"), "train_tasks": data.get("train_tasks", [])}
    return None


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, leave=False, dynamic_ncols=True)


@dataclass
class _TaskRun:
    lm: modelio.LoadedModel | None  # None when merging shards (no model call)
    opts: EvalOptions
    cache: PredictionCache
    model: dict  # LoadedModel.describe()
    generator: Generator | None = None
    # Merging shards: (task, k, template id) -> the shards' prediction files for that cell.
    merge_from: dict | None = None
    cells: list = field(default_factory=list)  # sharded run: the prediction files it wrote
    # The prompt bank's git revision, asked once per evaluation (not once per task): bank dir -> revision.
    revisions: dict = field(default_factory=dict)

    def bank_revision(self, bank_dir: str | os.PathLike) -> str | None:
        from weprompt.bank_review import bank_revision

        key = str(bank_dir)
        if key not in self.revisions:
            self.revisions[key] = bank_revision(bank_dir)
        return self.revisions[key]

    def gen(self) -> Generator:
        assert self.lm is not None
        if self.generator is None:
            self.generator = Generator(self.lm.model, self.lm.tokenizer)
        return self.generator

    def prepare(self, b: PromptBuilder, task, row: dict, key: str, index: int, max_new: int) -> Job:
        o = self.opts
        if task.is_rank:
            return prepare_rank(self.lm, b, row, key, index, o.calibrate, index < o.scope_probe)
        return prepare_generation(b, row, key, index, max_new)

    def run_template(
        self, task, template, k, split, rows, hashes, demo_rows, demo_split
    ) -> tuple[PredictionFile, float]:
        lm, o = self.lm, self.opts
        max_new = o.max_new_tokens or max_new_tokens_for(task.task_type, task.category)
        negatives = task.eval_negatives if o.negatives == "paper" else None
        setting = {
            "v": SETTING_VERSION,
            "model_hash": self.model["hash"],
            "tokenizer": self.model["tokenizer_fingerprint"],
            "task": task.name,
            "split": split,
            "template_id": template.id,
            "template_sha": stable_hash([template.jinja, template.answer_choices])[:16],
            "shots": k,
            "demo_split": demo_split if k else None,
            "seed": o.seed,
            "prefix_eos": o.prefix_eos,
            "kind": "rank" if task.is_rank else "generation",
            "calibrate": o.calibrate if task.is_rank else None,
            "negatives": negatives if task.is_rank else None,
            "max_new_tokens": None if task.is_rank else max_new,
        }
        if task.is_rank and o.scope_probe:  # only then, so earlier caches stay valid
            setting["scope_probe"] = o.scope_probe
        pfile = self.cache.open(task.name, template.id, setting)
        keys = [example_key(split, i) for i in range(len(rows))]
        if self.merge_from is not None:
            merge_into(pfile, self.merge_from.get((task.name, k, template.id), []), keys, hashes)
            return pfile, 0.0
        assert lm is not None
        b = PromptBuilder(task, template, lm.tokenizer, lm.config.context_length, k, o.seed,
                          demo_rows, demo_split, split, o.prefix_eos, o.negatives == "all")  # fmt: skip
        # Render errors are retried on every run (a fixed template or renderer then gets its predictions);
        # they are written again only when the outcome changed.
        cached = [pfile.get(keys[i], hashes[i]) for i in range(len(rows))]
        todo = [i for i, c in enumerate(cached) if c is None or c.get("error")]
        if o.shard:
            mine = {i for i in range(len(rows)) if in_shard(o.shard, task.name, k, template.id, keys[i])}
            todo = [i for i in todo if i in mine]
            self.cells.append({"task": task.name, "k": k, "template_id": template.id,
                               "path": str(pfile.path), "n": len(mine)})  # fmt: skip
        bar = _progress(len(rows), len(rows) - len(todo), f"{task.name} k={k} {template.name}", o.progress)
        start = time.perf_counter()
        try:
            jobs = [self.prepare(b, task, rows[i], keys[i], i, max_new) for i in todo]
            for batch in batches(jobs, o.batch_size):
                if task.is_rank:
                    finish_rank(lm, batch, self.gen)
                else:
                    finish_generation(self.gen(), batch)
                changed = []
                for j in batch:
                    rec = {"key": j.key, "h": hashes[j.index], **j.rec}
                    if rec != cached[j.index]:
                        changed.append(rec)
                pfile.append(changed)
                bar.update(len(batch))
        finally:
            bar.close()
        return pfile, time.perf_counter() - start

    def run(self, name: str, catalog, shot_specs, trained) -> dict:
        from weprompt.bank import load_task_templates, resolve_bank_dir
        from weprompt.bank_review import PROMPT_SELECTIONS, select, selection_record
        from weprompt.data import load_split

        o = self.opts
        task = catalog.task(name)
        split = task.eval_split
        if split not in ("validation", "test"):
            raise EvalInputError(
                f"task '{name}' has no validation/test split to evaluate on (catalog splits: {sorted(task.splits)})"
            )
        statuses = PROMPT_SELECTIONS[o.prompts]
        coll = select(load_task_templates(name, o.bank_dir), statuses)
        templates, skipped_templates = usable_templates(task, coll.templates)
        if not templates:
            n = len(skipped_templates)
            raise TaskSkipped(f"no original-task prompt in the bank ({n} training-only or unusable)")
        ds = load_split(name, split, o.data_dir, catalog=catalog)
        n = len(ds) if o.limit is None else min(o.limit, len(ds))
        rows = ds.select(range(n)).to_list()
        hashes = [row_hash(r) for r in rows]
        passages = {example_key(split, i): passage(r) for i, r in enumerate(rows)}
        ks = list(dict.fromkeys(resolve_shots(s, task.few_shot) for s in shot_specs))
        dsplit = choose_demo_split(list(task.splits), split)
        demo_rows: list[dict] = []
        if any(ks):  # the evaluation split itself when it is the only one (the evaluated row is excluded)
            demo_rows = (
                ds if dsplit == split else load_split(name, dsplit, o.data_dir, catalog=catalog)
            ).to_list()
        flagged = None
        if trained:
            fam = [
                t
                for t in trained["train_tasks"]
                if t in catalog.tasks and catalog.task(t).family == task.family
            ]
            if name in trained["train_tasks"]:
                flagged = (
                    f"'{name}' is a training task of this model ({trained['path']}, mode {trained['mode']})"
                )
            elif fam:
                flagged = (
                    f"tasks of the same source family were trained on: {', '.join(fam)} ({trained['path']})"
                )
        shots_out = {}
        for k in ks:
            prompts = []
            for t in templates:
                pfile, seconds = self.run_template(task, t, k, split, rows, hashes, demo_rows, dsplit)
                if o.shard:
                    continue  # a shard's predictions are scored by `weprompt eval merge`
                recs = []
                for i in range(n):
                    rec = pfile.get(example_key(split, i), hashes[i])
                    if rec is None:  # run_template wrote every example it did not find cached
                        raise RuntimeError(f"{pfile.path}: no prediction for example {i} after the run")
                    recs.append(rec)
                scored = score_prompt(task, recs, passages)
                prompts.append({"template_id": t.id, "name": t.name, **scored,
                                "predictions": str(pfile.path), "seconds": round(seconds, 2)})  # fmt: skip
            shots_out[str(k)] = {"k": k, "prompts": prompts, "summary": summarize(prompts, task.metric)}
        return {
            "task": name,
            "category": task.category,
            "task_type": task.task_type,
            "kind": "rank" if task.is_rank else "generation",
            "metric": task.metric,
            "metrics": list(task.metrics),
            "split": split,
            "n_examples": n,
            "split_size": len(ds),
            "demo_split": dsplit if any(ks) else None,
            "few_shot_paper": task.few_shot,
            "eval_negatives": task.eval_negatives if o.negatives == "paper" else None,
            "negatives": o.negatives,
            "prompt_selection": selection_record(
                {name: coll}, resolve_bank_dir(o.bank_dir), statuses, revision_of=self.bank_revision
            ),
            "templates": [{"id": t.id, "name": t.name} for t in templates],
            "templates_skipped": skipped_templates,
            "trained_on": flagged,
            "shots": shots_out,
        }


def evaluate(
    model: str | os.PathLike | modelio.LoadedModel,
    tasks: list[str] | None = None,
    shots: list[int | str] | tuple = (0,),
    options: EvalOptions | None = None,
    tokenizer_dir: str | None = None,
    **overrides,
) -> dict:
    """Evaluate `model` (checkpoint path or `modelio.LoadedModel`) and return the results dict
    (with `options.shard`: a shard manifest instead, see `eval.shards`)."""
    opts = options or EvalOptions()
    for k, v in overrides.items():
        if not hasattr(opts, k):
            raise TypeError(f"evaluate() got an unknown option '{k}'")
        setattr(opts, k, v)
    if opts.negatives not in ("paper", "all"):
        raise UserError(f"negatives must be 'paper' or 'all', got {opts.negatives!r}")
    from weprompt.bank_review import PROMPT_SELECTIONS

    if opts.prompts not in PROMPT_SELECTIONS:
        raise UserError(f"prompts must be one of {sorted(PROMPT_SELECTIONS)}, got {opts.prompts!r}")
    lm = model if isinstance(model, modelio.LoadedModel) else modelio.load(model, tokenizer_dir)
    described = lm.describe()
    run = _TaskRun(lm, opts, PredictionCache(opts.cache_dir, lm.model_hash), described)
    return run_tasks(run, tasks, shots, trained_tasks(lm.path))


def run_tasks(run: _TaskRun, tasks: list[str] | None, shots, trained: dict | None) -> dict:
    """Every task through `run` (predicting, or merging shards), then the results dict."""
    from weprompt.bank import bank_catalog

    opts = run.opts
    catalog = bank_catalog(opts.bank_dir)
    names = list(tasks) if tasks else [t.name for t in catalog.eval_tasks()]
    for n in names:
        catalog.task(n)  # unknown names fail before any work
    start = time.perf_counter()
    results: dict = {"tasks": {}, "skipped": {}}
    for name in names:
        try:
            results["tasks"][name] = run.run(name, catalog, list(shots), trained)
        except TaskSkipped as e:
            results["skipped"][name] = str(e)
    if not results["tasks"]:
        raise UserError(
            "no task could be evaluated: " + "; ".join(f"{k}: {v}" for k, v in results["skipped"].items())
        )
    settings = asdict(opts)
    settings.update(shots=[str(s) for s in shots], scoring_rule=DEFAULT_RULE, rules=list(RULES))
    out = {
        "schema": RESULTS_SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": run.model,
        "trained_split": trained,
        "settings": settings,
        **results,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if opts.shard:
        return shard_manifest(out, run.cells, list(names))
    return out
