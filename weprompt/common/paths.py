"""Where things are: the one place that resolves the project's directories and reads their variables.

Every location is resolved the same way, first wins:

1. an explicit option (a CLI flag or a config key),
2. its environment variable,
3. its default.

A relative path, whichever of the three it came from, is taken against the current working directory,
never against the source tree: an installed wheel has no source tree, and a path in a config means the
same thing wherever the config is used from.

| location  | option (examples)                          | environment variable  | default                      |
|-----------|--------------------------------------------|-----------------------|------------------------------|
| data      | `--data-dir`, `decontam.data_dir`           | `WEPROMPT_DATA_DIR`   | `../shared/data`             |
| corpus    | `corpus_dir`                               | `WEPROMPT_CORPUS_DIR` | `../shared/corpus`           |
| bank      | `--bank-dir`                               | `WEPROMPT_BANK_DIR`   | the bank shipped in the package (`weprompt/prompt_bank`) |
| tokenizer | `--tokenizer`                              | `WEPROMPT_TOKENIZER`  | none (lengths in characters) |
| eval results | `--eval-dir` (GUI's quality signal)      | `WEPROMPT_EVAL_DIR`   | `runs/eval`                  |
| runs      | `run_dir`, `work_dir`, `--out`             | (none)                | as the config says, e.g. `runs/...` |

The defaults `../shared/data` and `../shared/corpus` assume the documented layout (the checkout with
`shared/` beside it, commands run from the checkout's root); docs/architecture.md has the same table.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

DATA_ENV = "WEPROMPT_DATA_DIR"
CORPUS_ENV = "WEPROMPT_CORPUS_DIR"
BANK_ENV = "WEPROMPT_BANK_DIR"
TOKENIZER_ENV = "WEPROMPT_TOKENIZER"
EVAL_ENV = "WEPROMPT_EVAL_DIR"
EVAL_DEFAULT = Path("runs", "eval")  # where `weprompt eval` writes its results by default

# The bank ships inside the package (package data); this is its location in a checkout and in a wheel.
PACKAGE_BANK_DIR = Path(str(resources.files("weprompt").joinpath("prompt_bank")))
SHARED_DEFAULT = {"data": Path("..", "shared", "data"), "corpus": Path("..", "shared", "corpus")}


def env_path(var: str) -> Path | None:
    """The environment variable as a path against the working directory; None when unset or empty."""
    value = os.environ.get(var, "").strip()
    return absolute(value) if value else None


def absolute(path: str | os.PathLike) -> Path:
    """`path` against the working directory (user `~` expanded); absolute paths stay as they are."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path.cwd() / p


def resolve(explicit: str | os.PathLike | None, env: str, default: Path | None) -> tuple[Path | None, str]:
    """(path, how it was chosen) by the rule above; the path is None when nothing gives one."""
    if explicit:
        return absolute(explicit), "the option"
    from_env = env_path(env)
    if from_env is not None:
        return from_env, f"${env}"
    return (absolute(default) if default is not None else None), "the default"


def data_dir(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    path, how = resolve(explicit, DATA_ENV, SHARED_DEFAULT["data"])
    assert path is not None
    return path, how


def corpus_dir(explicit: str | os.PathLike | None = None) -> tuple[Path, str]:
    path, how = resolve(explicit, CORPUS_ENV, SHARED_DEFAULT["corpus"])
    assert path is not None
    return path, how


def bank_dir(explicit: str | os.PathLike | None = None) -> Path:
    path, _ = resolve(explicit, BANK_ENV, PACKAGE_BANK_DIR)
    assert path is not None
    return path


def tokenizer_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    return resolve(explicit, TOKENIZER_ENV, None)[0]


def eval_dir(explicit: str | os.PathLike | None = None) -> Path:
    path, _ = resolve(explicit, EVAL_ENV, EVAL_DEFAULT)
    assert path is not None
    return path


def run_dir(path: str | os.PathLike) -> Path:
    """A run or work directory named in a config or flag."""
    return absolute(path)
