"""The multitask sampler (paper §4.3): task → example → prompt → render → tokenize.

Each training task's pool is capped (default 50,000 examples, a seeded choice of which). One draw:
pick a task by the mixing policy (uniform by default, as in the paper; examples-proportional with
a cap, or temperature), an example of it uniformly, a template of it uniformly; render; encode
`input + TARGET_SEP` and `target` separately (so the loss mask knows where the target starts).
Draws happen in blocks so rendering reuses compiled templates and encoding is batched.
The sampler's whole state (RNG, counters) is JSON-serialisable for checkpoints.
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from weprompt.common.errors import UserError
from weprompt.templates import TARGET_SEP, Template, TemplateCollection, render

MIXING = ("uniform", "proportional", "temperature")
log = logging.getLogger(__name__)


class SamplerError(UserError):
    pass


@dataclass
class SamplerConfig:
    max_examples_per_task: int = 50_000  # paper
    mixing: Literal["uniform", "proportional", "temperature"] = "uniform"  # paper: uniform over tasks
    proportional_cap: int = 50_000  # examples-proportional mixing: weight = min(pool size, cap)
    temperature: float = 2.0  # temperature mixing: weight ∝ pool_size ** (1 / T)
    block: int = 256  # draws rendered and encoded together
    seed: int = 0


@dataclass
class Encoded:
    task: str
    template: str  # template id
    input_ids: list[int]
    target_ids: list[int]


@dataclass
class TaskPool:
    name: str
    rows: list[dict]  # the capped pool
    templates: list[Template]


@dataclass
class SamplerStats:
    draws: Counter = field(default_factory=Counter)  # task -> examples drawn
    prompts: Counter = field(default_factory=Counter)  # "task/template_id" -> draws
    render_failures: Counter = field(default_factory=Counter)  # "task/template_id" -> failures
    failure_examples: dict = field(default_factory=dict)  # "task/template_id" -> first error message

    def to_dict(self) -> dict:
        return {
            "draws": dict(self.draws),
            "prompts": dict(self.prompts),
            "render_failures": dict(self.render_failures),
            "failure_examples": dict(self.failure_examples),
        }

    @classmethod
    def from_dict(cls, d: dict) -> SamplerStats:
        return cls(
            Counter(d["draws"]),
            Counter(d["prompts"]),
            Counter(d["render_failures"]),
            dict(d["failure_examples"]),
        )


def refuse_held_out(task: str, held_out: Mapping[str, str]) -> None:
    """The trainer's guard against training on a held-out task: raises naming the task and why."""
    if task in held_out:
        raise SamplerError(f"refusing to sample held-out task '{task}': {held_out[task]}")


def build_pools(
    tasks: list[str],
    bank: dict[str, TemplateCollection],
    load_rows,
    cap: int,
    seed: int,
    held_out: Mapping[str, str] | None = None,
) -> list[TaskPool]:
    """`load_rows(task)` gives the train rows; pools are capped by a seeded choice of indices.

    `held_out` maps the split's held-out tasks to the reason; a pool is never built for one."""
    pools = []
    for name in tasks:
        refuse_held_out(name, held_out or {})
        coll = bank.get(name)
        if coll is None or not coll.templates:
            raise SamplerError(f"training task '{name}' has no templates in the bank")
        rows = load_rows(name)
        if len(rows) == 0:
            raise SamplerError(f"training task '{name}' has no training examples")
        if len(rows) > cap:
            idx = sorted(random.Random(f"{seed}/{name}").sample(range(len(rows)), cap))
            rows = rows.select(idx) if hasattr(rows, "select") else [rows[i] for i in idx]
        rows = list(rows)
        pools.append(TaskPool(name, rows, list(coll.templates)))
    return pools


def mixing_weights(sizes: list[int], cfg: SamplerConfig) -> list[float]:
    if cfg.mixing == "uniform":
        return [1.0] * len(sizes)
    if cfg.mixing == "proportional":
        return [float(min(n, cfg.proportional_cap)) for n in sizes]
    if cfg.mixing == "temperature":
        return [n ** (1.0 / cfg.temperature) for n in sizes]
    raise SamplerError(f"unknown mixing '{cfg.mixing}'; one of {', '.join(MIXING)}")


class MultitaskSampler:
    """An endless, deterministic stream of encoded (task, prompt, example) draws."""

    def __init__(
        self,
        pools: list[TaskPool],
        tokenizer,
        cfg: SamplerConfig,
        held_out: Mapping[str, str] | None = None,
        weights: list[float] | None = None,
    ):
        """`weights`: draw probabilities of the pools (weprompt.mixture.plan_weights); default `cfg.mixing`."""
        if not pools:
            raise SamplerError("no training tasks to sample from")
        # Checked again at every draw (a set lookup): pools handed over from elsewhere cannot sneak
        # a held-out task into training.
        self.held_out = dict(held_out or {})
        for p in pools:
            refuse_held_out(p.name, self.held_out)
        self.pools = pools
        self.tok = tokenizer
        self.cfg = cfg
        total = weights if weights is not None else mixing_weights([len(p.rows) for p in pools], cfg)
        if len(total) != len(pools) or sum(total) <= 0:
            raise SamplerError(f"{len(total)} mixture weights for {len(pools)} pools, or all zero")
        s = sum(total)
        self.weights = [w / s for w in total]
        self._cum = list(_cumulative(self.weights))
        self._pool_total = sum(len(p.rows) for p in pools)
        self.rng = random.Random(cfg.seed)
        self.drawn = 0
        self.stats = SamplerStats()
        self._pending: list[Encoded] = []

    @property
    def epoch(self) -> float:
        """Examples drawn over the total capped pool size (paper: about 6 epochs)."""
        return self.drawn / self._pool_total

    def _next_draw_rng(self) -> random.Random:
        """The RNG of the next draw: each epoch after the first starts from its own seed, derived from the run's
        (`seed/epoch/k`), so an epoch's draws do not depend on how the previous one was consumed."""
        if self.drawn and self.drawn % self._pool_total == 0:
            self.rng = random.Random(f"{self.cfg.seed}/epoch/{self.drawn // self._pool_total}")
        return self.rng

    def _render_block(self) -> list[tuple[str, str, str, str]]:
        """One block of draws, rendered: (task, template id, input, target); failures counted and skipped."""
        out = []
        for _ in range(self.cfg.block):
            rng = self._next_draw_rng()
            pool = self.pools[_bisect(self._cum, rng.random())]
            refuse_held_out(pool.name, self.held_out)
            row_i = rng.randrange(len(pool.rows))
            tpl = pool.templates[rng.randrange(len(pool.templates))]
            render_seed = rng.getrandbits(32)
            self.drawn += 1
            key = f"{pool.name}/{tpl.id}"
            try:
                r = render(tpl, pool.rows[row_i], seed=render_seed)
                if not r.input or not r.target:
                    raise ValueError("empty input or target")
            except Exception as e:  # a bad template must not stop a long run: count, report, skip
                # (a render limit, a printed None, a Jinja error: the sampling report lists them all)
                self.stats.render_failures[key] += 1
                if key not in self.stats.failure_examples:
                    msg = f"example {row_i}: {type(e).__name__}: {e}"
                    self.stats.failure_examples[key] = msg
                    log.warning("task '%s': skipping a draw that does not render (%s)", pool.name, msg)
                continue
            self.stats.draws[pool.name] += 1
            self.stats.prompts[key] += 1
            out.append((pool.name, tpl.id, r.input, r.target))
        return out

    def rendered(self, n: int) -> list[tuple[str, str, str, str]]:
        """The next `n` rendered draws as text, (task, template id, input, target), without a tokenizer: the
        same stream training encodes (weprompt mixture export)."""
        out: list[tuple[str, str, str, str]] = []
        while len(out) < n:
            out.extend(self._render_block())
        return out[:n]

    def _draw_block(self) -> list[Encoded]:
        block = self._render_block()
        meta = [(task, tid) for task, tid, _, _ in block]
        inputs = [i + TARGET_SEP for _, _, i, _ in block]
        targets = [t for _, _, _, t in block]
        enc_in = self.tok.encode_batch(inputs)
        enc_tg = self.tok.encode_batch(targets)
        return [Encoded(t, tid, a, b) for (t, tid), a, b in zip(meta, enc_in, enc_tg, strict=True)]

    def __iter__(self):
        return self

    def __next__(self) -> Encoded:
        while not self._pending:
            self._pending = self._draw_block()[::-1]
        return self._pending.pop()

    # Checkpointing: the pending block is re-derived, so the state is the RNG before that block.
    def state_dict(self) -> dict:
        return {
            "rng": _rng_state(self.rng),
            "drawn": self.drawn,
            "stats": self.stats.to_dict(),
            "pending": [e.__dict__ for e in self._pending],
        }

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(_rng_from_state(state["rng"]))
        self.drawn = state["drawn"]
        self.stats = SamplerStats.from_dict(state["stats"])
        self._pending = [Encoded(**e) for e in state["pending"]]


def _cumulative(weights: list[float]):
    acc = 0.0
    for w in weights:
        acc += w
        yield acc


def _bisect(cum: list[float], x: float) -> int:
    lo, hi = 0, len(cum) - 1
    x *= cum[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        if cum[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_from_state(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), None if gauss is None or math.isnan(gauss) else gauss)
