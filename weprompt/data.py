"""Task data access: `<data_dir>/<task>/<split>.jsonl.gz` (or `.jsonl`) → rows or `datasets.Dataset`.

The data dir is resolved by weprompt.common.paths: explicit argument → `$WEPROMPT_DATA_DIR` →
`../shared/data` (relative paths against the working directory). A task the catalog gives a Hub id for is loaded from the Hub when no local copy
exists and the Hub is reachable; offline, one clear error names the task, the paths tried and the id.
Classification rows gain `label_id`: the index of their label in the catalog's ordered `labels`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from weprompt.catalog import Catalog, Task, load_catalog
from weprompt.common import paths
from weprompt.common.errors import UserError
from weprompt.common.gzfile import open_maybe_gzip, read_to_end

ENV_VAR = paths.DATA_ENV


class DataError(UserError):
    pass


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The data dir by weprompt.common.paths' rule (option → $WEPROMPT_DATA_DIR → ../shared/data), or a
    DataError naming the place tried when it is not a directory."""
    path, _ = paths.data_dir(explicit)
    if path.is_dir():
        return path
    raise DataError(f"no task data dir found; tried: {path}. Pass --data-dir or set ${ENV_VAR}.")


def split_file(data_dir: Path, task: str, split: str) -> Path | None:
    for suffix in (".jsonl.gz", ".jsonl"):
        p = data_dir / task / f"{split}{suffix}"
        if p.is_file():
            return p
    return None


def label_key(value) -> str:
    """Label values compared as strings, booleans lower-cased ('true'), as the catalog stores them."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _annotate(row: dict, task: Task, where: str) -> dict:
    if task.labels:
        if task.label_field not in row:
            raise DataError(f"{where}: row has no label field '{task.label_field}' (task '{task.name}')")
        key = label_key(row[task.label_field])
        try:
            row["label_id"] = task.labels.index(key)
        except ValueError:
            raise DataError(
                f"{where}: field '{task.label_field}' is {row[task.label_field]!r}, not one of the catalog's "
                f"labels for task '{task.name}': {list(task.labels)}"
            ) from None
    return row


def _row(raw: bytes, path: Path, lineno: int, task: Task) -> dict | None:
    """One line as an annotated row (None for a blank line); DataError naming file and line otherwise."""
    where = f"{path}:{lineno}"
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise DataError(
            f"{where}: not UTF-8 text (byte {raw[e.start]:#04x} at column {e.start + 1})"
        ) from None
    if not line.strip():
        return None
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise DataError(f"{where}: invalid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    return _annotate(row, task, where)


def read_jsonl(path: Path, task: Task, limit: int | None = None) -> Iterator[dict]:
    """Rows of one split file, each checked to be a JSON object and annotated with `label_id`.

    The file is read to its end even with a `limit`, so a truncated gzip file is an error (pretrain.gzfile)."""
    with open_maybe_gzip(path, DataError) as f:
        for lineno, raw in enumerate(f, 1):
            if limit is not None and lineno > limit:
                read_to_end(f)
                return
            row = _row(raw, path, lineno, task)
            if row is not None:
                yield row


def _hub_reachable(timeout: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _missing_error(task: Task, split: str, tried: list[Path], catalog: Catalog) -> DataError:
    msg = f"task '{task.name}' split '{split}': no local file; tried {', '.join(str(p) for p in tried)}"
    if split not in task.splits:
        msg += f" (the catalog lists splits {sorted(task.splits)} for this task)"
    if task.hf_hub:
        msg += f"; Hub id '{task.hf_hub}' is not reachable (offline or HF_HUB_OFFLINE=1)"
    else:
        msg += "; the catalog names no Hub id for it"
    return DataError(msg)


def iter_rows(
    task: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    limit: int | None = None,
    catalog: Catalog | None = None,
) -> Iterator[dict]:
    """Stream rows of a local split (fast: validation reads only the first `limit` lines)."""
    catalog = catalog or load_catalog()
    t = catalog.task(task)
    root = resolve_data_dir(data_dir)
    path = split_file(root, t.name, split)
    if path is None:
        raise _missing_error(
            t, split, [root / t.name / f"{split}.jsonl.gz", root / t.name / f"{split}.jsonl"], catalog
        )
    yield from read_jsonl(path, t, limit)


_KINDS = {bool: "bool", int: "num", float: "num", str: "str", list: "list", dict: "dict"}


def _kinds(types: set[type]) -> set[str]:
    """The kinds of the non-None values' types."""
    return {_KINDS.get(t, "str") for t in types if t is not type(None)}


def widen(values: list) -> list:
    """Give one JSON field a single type across rows, so Arrow can hold it.

    Real task files mix types (an answer that is a letter in one row and a list of letters in the
    next, a slot value that is sometimes a number). The rule: a scalar among lists becomes a
    one-element list; numbers among strings become strings; ints among floats become floats; dicts
    are widened key by key (missing keys become None); list elements are widened together.
    A column that needs no change is returned as it is (the same list object: callers test `is`).
    """
    types = set(map(type, values))  # one pass in C; the rules look at the distinct types only
    kinds = _kinds(types)
    if "list" in kinds and len(kinds) > 1:
        return _widen_lists([v if v is None or isinstance(v, list) else [v] for v in values])
    if len(kinds) > 1:
        if "dict" in kinds:
            return [
                None if v is None else json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else str(v)
                for v in values
            ]
        return [None if v is None else label_key(v) for v in values]
    if kinds == {"dict"}:
        return _widen_dicts(values)
    if kinds == {"list"}:
        return _widen_lists(values)
    if kinds == {"num"} and float in types and int in types:
        return [None if v is None else float(v) for v in values]
    return values


def _widen_dicts(dicts: list) -> list:
    """Dicts (or None) widened key by key: every dict gets every key, in first-seen order (None if missing).
    When nothing changes, the same list (and dicts) come back."""
    keys = list(dict.fromkeys(k for d in dicts if d for k in d))
    inputs = {k: [None if d is None else d.get(k) for d in dicts] for k in keys}
    columns = {k: widen(col) for k, col in inputs.items()}
    order = tuple(keys)
    if all(columns[k] is inputs[k] for k in keys) and all(d is None or tuple(d) == order for d in dicts):
        return dicts
    return [None if d is None else {k: columns[k][i] for k in keys} for i, d in enumerate(dicts)]


def _widen_lists(values: list) -> list:
    flat_in = [x for v in values if v for x in v]
    flat = widen(flat_in)
    if flat is flat_in:
        return values
    out: list[list | None] = []
    pos = 0
    for v in values:
        if v is None:
            out.append(None)
        else:
            out.append(flat[pos : pos + len(v)])
            pos += len(v)
    return out


def _columns_widened(rows: list[dict]) -> list[dict]:
    return _widen_dicts(rows)


_ROWS_CACHE: dict[tuple[Path, int, int, str], list[dict]] = {}
_DATASET_CACHE: dict[tuple[Path, int, int, str], object] = {}


def _file_key(path: Path, task: Task) -> tuple[Path, int, int, str]:
    st = path.stat()
    return (path, st.st_mtime_ns, st.st_size, task.name)


def _local_rows(path: Path, task: Task) -> list[dict]:
    """Every row of a local split file, widened column by column (`widen`): what the Dataset holds."""
    key = _file_key(path, task)
    if key not in _ROWS_CACHE:
        rows = list(read_jsonl(path, task))
        if not rows:
            raise DataError(f"{path}: the split is empty")
        _ROWS_CACHE[key] = _columns_widened(rows)
    return _ROWS_CACHE[key]


def _load_local(path: Path, task: Task):
    import datasets

    key = _file_key(path, task)
    if key in _DATASET_CACHE:
        return _DATASET_CACHE[key]
    rows = _local_rows(path, task)
    try:
        ds = datasets.Dataset.from_list(rows)
    except Exception as e:  # Arrow cannot type a field that changes type between rows
        raise DataError(f"{path}: rows do not share one schema ({type(e).__name__}: {e})") from None
    _DATASET_CACHE[key] = ds
    return ds


def _locate(task: str, split: str, data_dir: str | os.PathLike | None, catalog: Catalog | None):
    """The task's catalog entry, the data dir, and the split's local file (None when there is none)."""
    t = (catalog or load_catalog()).task(task)
    root, _ = paths.data_dir(data_dir)
    return t, root, split_file(root, t.name, split) if root.is_dir() else None


def load_rows(
    task: str, split: str, data_dir: str | os.PathLike | None = None, catalog: Catalog | None = None
) -> list[dict]:
    """The rows of one split as plain dicts, equal to `list(load_split(...))` without building an Arrow
    table and reading it back (the sampler's pools and the leakage check need Python rows, and the round
    trip cost most of a fine-tuning run's start-up). The list is cached: do not modify it or its rows."""
    t, _, path = _locate(task, split, data_dir, catalog)
    if path is not None:
        return _local_rows(path, t)
    return list(load_split(task, split, data_dir, catalog))


def load_split(
    task: str, split: str, data_dir: str | os.PathLike | None = None, catalog: Catalog | None = None
):
    """Load one split of a task as a `datasets.Dataset` (local first, then the Hub when reachable)."""
    catalog = catalog or load_catalog()
    t, root, path = _locate(task, split, data_dir, catalog)
    if path is not None:
        return _load_local(path, t)
    tried = [root / t.name / f"{split}.jsonl.gz"]
    if t.hf_hub and _hub_reachable():
        return _load_hub(t, split)
    raise _missing_error(t, split, tried, catalog)


def _load_hub(task: Task, split: str):
    import datasets

    hub = task.hf_hub
    if hub is None:
        raise DataError(f"task '{task.name}' names no Hugging Face Hub dataset (hf_hub)")
    config: str | None
    repo, _, config = hub.partition("/") if hub.count("/") > 1 else (hub, "", "")
    if hub.count("/") == 1:
        repo, config = hub, None
    ds = datasets.load_dataset(repo, config or None, split=split)
    if task.labels:
        ds = ds.map(lambda r: _annotate(r, task, f"hub:{task.hf_hub}"))
    return ds
