"""Pipeline plumbing: stage records, fingerprints that decide what a rerun may skip, quiet logging."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from weprompt.common.errors import UserError
from weprompt.pretrain.corpus.config import CorpusConfig

if TYPE_CHECKING:
    from loguru import Record


@dataclass
class Stage:
    name: str
    depends_on: tuple[str, ...]  # stages whose outputs this one reads (for fingerprint chaining)
    config_keys: tuple[str, ...]  # config sections (dotted) this stage's result depends on
    outputs: tuple[str, ...]  # layout entries cleared when the stage is invalidated
    build: Callable[[], list]  # the datatrove pipeline (list of steps)
    parallel: bool
    tasks: int = 0  # a fixed task count (e.g. one per MinHash bucket); 0 = `tasks` if parallel, else 1


def _section(cfg: CorpusConfig, dotted: str):
    node = asdict(cfg)
    for part in dotted.split("."):
        node = node[part]
    return node


def code_fingerprint() -> str:
    """Hash of the pipeline's own source: a code change reruns the stages, never reuses stale outputs."""
    root = Path(__file__).resolve().parent
    files = (
        sorted(root.glob("*.py"))
        + sorted(root.glob("*.txt"))
        + [root.parent / "tokenizer.py", root.parent / "shards.py"]
    )
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(cfg: CorpusConfig, stage: Stage, upstream: str, extra: dict) -> str:
    payload = {"stage": stage.name, "upstream": upstream, "extra": extra, "code": code_fingerprint()}
    payload |= {k: _section(cfg, k) for k in stage.config_keys}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _not_user_error(record: Record) -> bool:
    """Keep a task's UserError off the console: the CLI prints it as one line (the task log keeps it all)."""
    exc = record["exception"]
    return not (exc is not None and isinstance(exc.value, UserError))


@contextlib.contextmanager
def quiet_datatrove(verbose: bool):
    """datatrove prints INFO logs of every task to the console; keep those in its log files only."""
    if verbose:
        yield
        return
    import datatrove.executor.base as deb
    import datatrove.utils.logging as dl
    from loguru import logger

    original_add, original_default = deb.add_task_logger, dl.setup_default_logger

    def console_warnings_only() -> None:
        logger.remove()
        logger.add(
            sys.stderr, level="WARNING", format="{level} | {name}:{line} - {message}", filter=_not_user_error
        )

    def add_task_logger(logging_dir, rank, local_rank=0, node_rank=-1):
        # datatrove's own version, with the console at WARNING: the task's log file keeps everything.
        console_warnings_only()
        logfile = logging_dir.open(f"logs/task_{rank:05d}.log", "w")
        logger.add(logfile, level="DEBUG", colorize=False)
        logger.info(f"Launching pipeline for {rank=}")
        return logfile

    deb.add_task_logger = add_task_logger
    dl.setup_default_logger = console_warnings_only  # what close_task_logger calls after each task
    console_warnings_only()
    try:
        yield
    finally:
        deb.add_task_logger, dl.setup_default_logger = original_add, original_default
        original_default()
