"""Tiny synthetic runs for the checkpoint, config and run-lock tests, without the shared data.

`make_data(root)` trains a SentencePiece tokenizer on made-up words and writes token shards of that text
(well under a second); `pretrain_cmd` is `weprompt pretrain` on configs/pretrain/tiny.yaml with it;
`trained_step` makes a finished run in-process and returns its newest checkpoint.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs/pretrain/tiny.yaml"
QUIET = ["train.eval.every=0", "train.eval.batches=2", "train.logging.plot=false", "train.num_threads=1"]


def synthetic_texts(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    syllables = [a + b for a in "bcdfghklmnprstvz" for b in "aeiou"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(300)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(30, 200))) + "." for _ in range(n)]


def make_data(root: Path) -> Path:
    """root/tokenizer (512 pieces) and root/shards made with it."""
    from weprompt.pretrain.engine.synthetic import write_text_shards
    from weprompt.pretrain.tokenizer import train_tokenizer

    texts = synthetic_texts()
    tok = train_tokenizer(
        texts, root / "tokenizer", vocab_size=512, char_sets=("ascii",), character_coverage=1.0
    )
    write_text_shards(root / "shards", tok, texts)
    return root


def pretrain_args(data: Path, run: Path, *sets: str) -> list[str]:
    """`weprompt pretrain` arguments (after the program name) for a tiny run of `data` into `run`."""
    base = [f"data.shards={data / 'shards'}", f"data.tokenizer={data / 'tokenizer'}", *QUIET, *sets]
    return [
        "pretrain",
        "--config",
        str(TINY),
        "--run-dir",
        str(run),
        *(x for s in base for x in ("--set", s)),
    ]


def pretrain_cmd(data: Path, run: Path, *sets: str) -> list[str]:
    return [sys.executable, "-m", "weprompt.cli.main", *pretrain_args(data, run, *sets)]


def cli_env(**extra: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **extra}
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def run_cli(
    cmd: list[str], check: bool = True, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=cli_env(**env), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}: {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    return proc


def trained_step(data: Path, run: Path, steps: int = 2) -> Path:
    """A finished tiny run (in this process); its newest checkpoint directory."""
    from weprompt.cli.main import main
    from weprompt.pretrain import checkpoint as ckpt

    sets = (f"train.total_steps={steps}", "train.checkpoint.every=0", "train.spike.enabled=false")
    assert main(pretrain_args(data, run, *sets)) == 0
    return ckpt.resolve(run)


def files_and_mtimes(root: Path) -> list[tuple[Path, int]]:
    return sorted((p, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()) if root.exists() else []
