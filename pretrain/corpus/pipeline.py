"""Run the corpus pipeline's stages (pretrain/corpus/stages.py) on datatrove executors.

Reruns skip finished work: datatrove skips completed tasks, and each stage records a fingerprint of
the config it depends on (chained through its inputs); a changed fingerprint clears that stage and
everything after it. The `executor:` block picks LocalPipelineExecutor, RayPipelineExecutor or
SlurmPipelineExecutor for the same stage list (pretrain/corpus/executors.py).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from weprompt.common.atomic import atomic_write_text
from weprompt.common.config import dump_config
from weprompt.pretrain.corpus.config import CorpusConfig, CorpusConfigError
from weprompt.pretrain.corpus.layout import Layout
from weprompt.pretrain.corpus.reader import check_corpus_files, list_corpus_files, list_sources
from weprompt.pretrain.corpus.runtime import Stage, fingerprint, quiet_datatrove

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


class CorpusPipeline:
    def __init__(self, cfg: CorpusConfig, verbose: bool = False):
        self.cfg = cfg
        self.verbose = verbose
        self.corpus_dir = cfg.resolved_corpus_dir()
        self.work = Layout.under(cfg.resolved_work_dir())
        self.sources = list_sources(self.corpus_dir)
        check_corpus_files(self.corpus_dir)
        self.drop_sources = self._check_sources()
        self.stages = self._stages()
        for stage in self.stages:  # a stage naming an output the layout lacks is a bug: fail at once
            for name in stage.outputs:
                self.work.path(name)

    # -- checks before any work ----------------------------------------------------------------------

    def _check_sources(self) -> list[str]:
        from weprompt.pretrain.corpus.balance import normalized_targets

        normalized_targets(self.cfg.balance, self.sources)  # raises on unlisted sources when unlisted=error
        c = self.cfg
        if c.decontam.enabled and c.decontam.n_large < c.decontam.n_small:
            raise CorpusConfigError("decontam.n_large must be >= decontam.n_small")
        if c.tasks < 1 or c.workers < 1:
            raise CorpusConfigError("tasks and workers must be >= 1")
        from weprompt.pretrain.corpus.executors import check_executor

        check_executor(c)
        return sorted(set(self.sources) - set(self.cfg.balance.targets))

    # -- stage definitions ---------------------------------------------------------------------------

    def _stages(self) -> list[Stage]:
        from weprompt.pretrain.corpus.stages import build_stages

        return build_stages(self.cfg, self.work, self.corpus_dir, self.drop_sources, self.data_dir)

    def data_dir(self) -> Path:
        return self.cfg.resolved_data_dir()

    # -- running -------------------------------------------------------------------------------------

    def _extra(self, stage: Stage) -> dict:
        if stage.name == "filter":
            return {
                "files": [
                    [s, str(f), f.stat().st_size, int(f.stat().st_mtime)]
                    for s, f in list_corpus_files(self.corpus_dir)
                ]
            }
        if stage.name == "decontam_index":
            d = self.data_dir()
            return {
                "data_dir": str(d),
                "mtime": max((p.stat().st_mtime for p in d.rglob("*.jsonl*")), default=0),
            }
        return {}

    def _invalidate(self, stage: Stage) -> None:
        for name in stage.outputs:
            shutil.rmtree(self.work.path(name), ignore_errors=True)
        shutil.rmtree(self.work.logs / stage.name, ignore_errors=True)
        for step_dir in self._stage_step_names(stage):
            shutil.rmtree(self.work.stats / step_dir, ignore_errors=True)

    def _stage_step_names(self, stage: Stage) -> list[str]:
        return [s.name for s in stage.build() if hasattr(s, "save_counts")]

    def make_executor(self, stage: Stage, depends=None):
        from weprompt.pretrain.corpus.executors import make_executor

        tasks = self.stage_tasks(stage)
        return make_executor(self.cfg, stage.build(), tasks, self.work.logs / stage.name, stage.name, depends)

    @contextlib.contextmanager
    def _lock(self):
        """One build per work dir: a second one would overwrite the first one's files under it."""
        import fcntl
        import os

        self.work.root.mkdir(parents=True, exist_ok=True)
        with open(self.work.root / ".lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                raise CorpusConfigError(
                    f"another corpus build (pid {fh.read().strip() or '?'}) is running in {self.work.root}; "
                    "wait for it or use another work_dir"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def run(self, only: list[str] | None = None, progress: Callable[[str, str], None] | None = None) -> dict:
        """Run every stage (or the named ones); returns {stage: seconds or 'skipped'}."""
        with self._lock():
            return self._run(only, progress)

    def _run(self, only: list[str] | None, progress: Callable[[str, str], None] | None) -> dict:
        dump_config(self.cfg, self.work.root / "config.yaml")
        prints: dict[str, str] = {}
        timings: dict[str, float | str] = {}
        previous = None  # the executor of the stage before: the next one `depends=` on it
        with quiet_datatrove(self.verbose):
            for stage in self.stages:
                upstream = ",".join(prints.get(d, "-") for d in stage.depends_on)
                fp = fingerprint(self.cfg, stage, upstream, self._extra(stage))
                prints[stage.name] = fp
                fp_file = self.work.logs / stage.name / "FINGERPRINT"
                if fp_file.is_file() and fp_file.read_text().strip() != fp:
                    self._invalidate(stage)
                if only and stage.name not in only:
                    continue
                if self._finished(stage, fp_file):
                    timings[stage.name] = "skipped"
                    if progress:
                        progress(stage.name, "skipped (finished earlier)")
                    continue
                atomic_write_text(fp_file, fp + "\n")
                previous = self._launch(stage, previous, timings, progress)
            if self.cfg.executor.kind == "slurm":
                if previous is not None:
                    previous.run()  # submits every chained stage, each `afterok` the one before
                return timings
        self.write_summary()
        return timings

    def stage_tasks(self, stage: Stage) -> int:
        return stage.tasks or (self.cfg.tasks if stage.parallel else 1)

    def _finished(self, stage: Stage, fp_file: Path) -> bool:
        done = self.work.logs / stage.name / "completions"
        want = self.stage_tasks(stage)
        return fp_file.is_file() and done.is_dir() and len(list(done.iterdir())) == want

    def _launch(self, stage: Stage, previous, timings: dict, progress: Callable[[str, str], None] | None):
        """Run one stage (local, ray) or chain it for submission (slurm); returns its executor."""
        executor = self.make_executor(stage, depends=previous if self.cfg.executor.kind != "local" else None)
        if self.cfg.executor.kind == "slurm":
            timings[stage.name] = "submitted"
            if progress:
                progress(stage.name, "submitted")
            return executor
        if progress:
            progress(stage.name, "running")
        t0 = time.perf_counter()
        executor.run()
        timings[stage.name] = round(time.perf_counter() - t0, 2)
        atomic_write_text(self.work.logs / stage.name / "SECONDS", f"{timings[stage.name]}\n")
        if progress:
            progress(stage.name, f"done in {timings[stage.name]} s")
        return executor

    # -- summary -------------------------------------------------------------------------------------

    def stage_seconds(self) -> dict[str, float]:
        """Wall seconds of each stage's last run (kept beside its logs, so skipped stages still report)."""
        out = {}
        for stage in self.stages:
            f = self.work.logs / stage.name / "SECONDS"
            if f.is_file():
                out[stage.name] = float(f.read_text())
        return out

    def write_summary(self) -> dict:
        from weprompt.pretrain.corpus.stats import merge_step_counts, render_markdown, steps_table, table1

        steps = merge_step_counts(self.work.stats)
        balance = _read_json(self.work.root / "balance.json")
        raw_mb: dict[str, float] = {}
        for s, f in list_corpus_files(self.corpus_dir):
            raw_mb[s] = raw_mb.get(s, 0.0) + f.stat().st_size / 1e6
        summary: dict[str, Any] = {
            "steps": steps_table(steps),
            "table1": table1(steps, balance, raw_mb),
            "balance": balance,
            "quality": _read_json(self.work.quality / "report.json"),
            "dedup": _read_json(self.work.dedup / "report.json"),
            "decontam_index": _read_json(self.work.decontam / "index.json"),
            "tokenizer": _read_json(self.work.tokenizer / "train_report.json"),
            "stage_seconds": self.stage_seconds(),
            "step_counts": steps,
            "outputs": {
                "clean": str(self.work.clean),
                "tokenizer": str(self.work.tokenizer),
                "shards": str(self.work.shards),
            },
        }
        if summary["decontam_index"]:
            summary["decontam_index"].pop("tasks", None)
        atomic_write_text(
            self.work.root / SUMMARY_JSON, json.dumps(summary, indent=1, ensure_ascii=False) + "\n"
        )
        md = ["# Corpus build summary\n", "## Table 1 (per source)\n", render_markdown(summary["table1"])]
        md += [
            "\n## Steps\n",
            render_markdown(summary["steps"], ["step", "docs_in", "kept", "dropped", "seconds", "mb_per_s"]),
        ]
        atomic_write_text(self.work.root / SUMMARY_MD, "".join(md))
        return summary


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
