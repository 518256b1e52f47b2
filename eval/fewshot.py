"""Few-shot demonstrations and prompt assembly under the model's context window.

Demonstrations come from the task's train split, rendered with the same template as the evaluated
example (`input + TARGET_SEP + target`, joined by `SHOT_SEP`). They are drawn per example, seeded by
(seed, task, example key) and so the same for every prompt of that example; a demonstration is never
the evaluated example (same split and row), nor a row whose rendered input equals the evaluated one
(some releases repeat evaluation examples in train), nor a row the template cannot render.

Tasks without a train split (CFT, CMRC2017, CMNLI, WebQA in the shared data) draw from another
labelled split, or, when the evaluation split is the only one, from the evaluation split itself with
the evaluated row excluded; the results record which split the demonstrations came from.

Prompt assembly: `[EOS] demo_1 … demo_k input TARGET_SEP` (every training example also follows an EOS).
When the prompt plus the longest continuation does not fit the context window, the demonstrations
farthest from the input are dropped first, then the input is cut from the left (as training packing
does); both are counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from weprompt.templates import SHOT_SEP, TARGET_SEP, Rendered

CANDIDATE_FACTOR = 4  # demonstration candidates looked at per wanted shot before giving up


def demo_split(splits: list[str], eval_split: str) -> str:
    """The split demonstrations come from: train, else another split, else the evaluation split."""
    if "train" in splits and eval_split != "train":
        return "train"
    others = [s for s in ("validation", "test") if s in splits and s != eval_split]
    return others[0] if others else eval_split


def demo_candidates(n_rows: int, seed: int, task: str, example_key: str) -> Iterator[int]:
    """Row indices of the demonstration pool in a seeded order, fixed by (seed, task, example key)."""
    rng = random.Random(f"{seed}:{task}:{example_key}")  # str seeds hash with sha512: stable across runs
    order = list(range(n_rows))
    rng.shuffle(order)
    yield from order


def select_demos(
    k: int,
    candidates: Iterator[int],
    render_demo: Callable[[int], Rendered | None],
    exclude_row: int | None,
    exclude_input: str,
) -> list[Rendered]:
    out: list[Rendered] = []
    if k <= 0:
        return out
    for seen, i in enumerate(candidates):
        if seen >= CANDIDATE_FACTOR * k + 16 or len(out) == k:
            break
        if i == exclude_row:
            continue
        r = render_demo(i)
        if r is None or r.target is None or r.input == exclude_input:
            continue
        out.append(r)
    return out


def demo_text(r: Rendered) -> str:
    return r.input + TARGET_SEP + (r.target or "") + SHOT_SEP


@dataclass
class Prompt:
    ids: list[int]
    shots: int  # demonstrations kept
    shots_dropped: int  # demonstrations dropped to fit the context window
    truncated: bool  # the input itself was cut from the left


def assemble(
    encode: Callable[[str], list[int]],
    demos: list[Rendered],
    input_text: str,
    room: int,
    prefix_ids: list[int],
) -> Prompt:
    """Token ids of the prompt, at most `room` long (see the module docstring for what gets cut)."""
    if room <= len(prefix_ids):
        raise ValueError(f"no room for a prompt ({room} tokens)")
    main = encode(input_text + TARGET_SEP)
    blocks = [encode(demo_text(d)) for d in demos]
    # SentencePiece pieces never cross a newline (a user-defined piece), and every block ends in
    # one: encoding blocks apart equals encoding the joined text.
    budget = room - len(prefix_ids)
    dropped = 0
    while blocks and sum(map(len, blocks)) + len(main) > budget:
        blocks.pop(0)
        dropped += 1
    truncated = len(main) > budget
    if truncated:
        main = main[-budget:]
    ids = list(prefix_ids) + [t for b in blocks for t in b] + main
    return Prompt(ids, len(blocks), dropped, truncated)
