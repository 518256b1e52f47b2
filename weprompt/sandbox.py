"""The Jinja sandbox templates are rendered in: resource limits, and no silent `None`.

Prompts are user-written Jinja, so one render must never hang or eat the machine's memory. Limits,
per `render` call (the answer choices and the body together):

- time: a wall-clock deadline, checked as the render steps through loop iterations, calls, filters,
  operators and output chunks (the clock is read every 16 steps). No signals, no threads: the check
  raises inside the render, which then unwinds normally;
- size: the rendered text, and every string or list a template builds (`*`, `+`, `~`, `%`, padding
  and joining filters and methods, list growth), are capped at `max_chars` characters / items,
  checked *before* the operation where its size is known in advance and after it otherwise;
- `range()` is capped at `max_range` items (Jinja's own cap is 100,000), and integer arithmetic at
  `RENDER_MAX_INT_BITS` bits (`10 ** (10 ** 10)` would otherwise run for hours).

Printing `None` (a field the data loader filled with None because the row lacks it) raises
`NoneOutput`; testing it (`{% if x %}`, `x or ''`) is fine.

Measured when the limits were set, every bank template on the first 20 and the 3 longest rows of
every split of the real data: the longest rendered prompt is 8,160 characters (msra_ner) and the
slowest render about 30 ms, compilation included, so the defaults leave a wide margin.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.runtime import markup_join, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

RENDER_TIME_LIMIT_S = 1.0  # wall clock per render
RENDER_MAX_CHARS = 200_000  # rendered characters, and characters / items of any value built
RENDER_MAX_RANGE = 10_000  # items of one range()
RENDER_MAX_INT_BITS = 4096  # bits of an integer built by * or **


@dataclass(frozen=True)
class RenderLimits:
    time_s: float = RENDER_TIME_LIMIT_S
    max_chars: int = RENDER_MAX_CHARS
    max_range: int = RENDER_MAX_RANGE


DEFAULT_LIMITS = RenderLimits()


_SIZED = (str, list, tuple, dict, set, frozenset)
_GROWABLE = (list, dict, set)


class LimitExceeded(Exception):
    """A render ran past a limit (the caller names the template)."""


class NoneOutput(Exception):
    """The template printed None."""


class Budget:
    """The limits of one render in progress: its deadline and how much it has written."""

    def __init__(self, limits: RenderLimits, deadline: float | None):
        self.limits = limits
        self.deadline = deadline
        self.written = 0
        self.steps = 0

    def tick(self) -> None:
        """One step of work; every 16th reads the clock (a step is small: sizes are capped)."""
        self.steps += 1
        if self.steps & 15 or self.deadline is None:
            return
        if time.monotonic() > self.deadline:
            raise LimitExceeded(
                f"rendering took longer than the {self.limits.time_s:g} s limit (RENDER_TIME_LIMIT_S): "
                "an endless or huge loop?"
            )

    def size(self, n: int, what: str, verb: str = "would be") -> None:
        if n > self.limits.max_chars:
            raise LimitExceeded(
                f"{what} {verb} {n:,} or more characters (or list items) long, over the limit of "
                f"{self.limits.max_chars:,} (RENDER_MAX_CHARS)"
            )

    def value(self, v: Any, what: str) -> None:
        """After the fact: a value some operation built."""
        if isinstance(v, _SIZED):
            self.size(len(v), what, "is")

    def generate(self, template: Any, ctx: dict) -> str:
        """Render by streaming, so the deadline and the output size are checked as it goes."""
        out = []
        for chunk in template.generate(ctx):
            self.written += len(chunk)
            self.size(self.written, "the rendered text")
            self.tick()
            out.append(chunk)
        return "".join(out)


_ACTIVE: ContextVar[Budget | None] = ContextVar("weprompt_render_budget", default=None)


@contextlib.contextmanager
def budget(limits: RenderLimits = DEFAULT_LIMITS) -> Iterator[Budget]:
    b = Budget(limits, time.monotonic() + limits.time_s)
    token = _ACTIVE.set(b)
    try:
        yield b
    finally:
        _ACTIVE.reset(token)


def _current() -> Budget:
    """The active render's budget; outside `budget()` (a bare `Template.render`) sizes only."""
    return _ACTIVE.get() or Budget(DEFAULT_LIMITS, None)


# ---------------------------------------------------------------------------------------------
# Size estimates, before an operation builds its result


def approx_len(value: Any, cap: int | None = None, depth: int = 0) -> int:
    """About how many characters `str(value)` has; stops counting once past `cap` (the size limit)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if depth > 20 or not isinstance(value, list | tuple | dict | set | frozenset):
        return 8
    cap = _current().limits.max_chars if cap is None else cap
    total = 2
    for item in value.items() if isinstance(value, dict) else value:
        total += 2 + approx_len(item, cap - total, depth + 1)
        if total > cap:
            break
    return total


# Numbers in a %-format or a {:format} spec: padding widths and precisions.
_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?|\{[^{}]*?:[^{}]*?(\d+)?(?:\.(\d+))?[^{}\d]*\}")


def _format_size(fmt: str, *args: Any, **kwargs: Any) -> int:
    """An upper-ish bound for `fmt % args` / `fmt.format(...)`: the text, the values and the widths."""
    values = [*args, *kwargs.values()]
    widths = [int(w) for m in _WIDTH.finditer(fmt) for w in m.groups() if w and w != "*"]
    if "*" in fmt:
        widths += [a for a in values if isinstance(a, int)]
    return len(fmt) + sum(approx_len(v) for v in values) + sum(widths)


def _replace_size(s: Any, old: Any, new: Any, count: Any = -1) -> int:
    if not (isinstance(s, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    hits = s.count(old) if old else len(s) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(s) + hits * max(0, len(new) - len(old))


def _join_size(items: Any, sep: Any = "", *_: Any, **kw: Any) -> int:
    if not isinstance(items, _SIZED):
        return 0  # a generator: the result is checked afterwards
    sep = str(kw.get("d", sep))
    return sum(approx_len(x) for x in items) + len(sep) * max(0, len(items) - 1)


def _sum_size(items: Any, *_: Any, **__: Any) -> int:
    """`sum` of strings or lists (with a start value) concatenates them; of numbers it does not."""
    if not isinstance(items, _SIZED):
        return 0
    return sum(len(x) for x in items if isinstance(x, _SIZED))


def _int_arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return kwargs.get(name, args[i] if len(args) > i else default)


def _width(_s: Any, *args: Any, **kwargs: Any) -> int:
    width = _int_arg(args, kwargs, 0, "width", 0)
    return width if isinstance(width, int) else 0


def _indent_size(s: Any, *args: Any, **kwargs: Any) -> int:
    width = _int_arg(args, kwargs, 0, "width", 4)
    pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    return len(str(s)) + pad * (str(s).count("\n") + 1)


def _wordwrap_size(s: Any, *args: Any, **kwargs: Any) -> int:
    width = _int_arg(args, kwargs, 0, "width", 79)
    wrap = _int_arg(args, kwargs, 2, "wrapstring", None) or "\n"
    lines = len(str(s)) // max(1, width if isinstance(width, int) else 1) + 1
    return len(str(s)) + lines * len(str(wrap))


def _count_arg(name: str, i: int) -> Callable[..., int]:
    def size(_v: Any, *args: Any, **kwargs: Any) -> int:
        n = _int_arg(args, kwargs, i, name, 0)
        return n if isinstance(n, int) else 0

    return size


def _translate_size(s: str, table: Any) -> int:
    values = table.values() if isinstance(table, dict) else []
    return len(s) * max([1, *(len(v) for v in values if isinstance(v, str))])


# Estimated size of a filter's result from (value, *args, **kwargs), before the filter runs.
_FILTER_SIZE: dict[str, Callable[..., int]] = {
    "center": _width,
    "indent": _indent_size,
    "wordwrap": _wordwrap_size,
    "replace": lambda s, old, new, count=None: _replace_size(
        str(s), old, new, -1 if count is None else count
    ),
    "join": _join_size,
    "format": lambda v, *a, **kw: _format_size(str(v), *a, **kw),
    "batch": _count_arg("linecount", 0),
    "slice": _count_arg("slices", 0),
    "sum": _sum_size,
    "string": lambda v, *a, **kw: approx_len(v),
    "tojson": lambda v, *a, **kw: approx_len(v),
    "pprint": lambda v, *a, **kw: approx_len(v),
}

# The same for methods of a str, from (the string, *args, **kwargs).
_STR_METHOD_SIZE: dict[str, Callable[..., int]] = {
    "center": _width,
    "ljust": _width,
    "rjust": _width,
    "zfill": _width,
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t") * (tabsize if isinstance(tabsize, int) else 8),
    "replace": _replace_size,
    "join": lambda s, items: _join_size(items, s),
    "format": _format_size,
    "format_map": lambda s, m: _format_size(s, **(m if isinstance(m, dict) else {})),
    "translate": _translate_size,
}


def _estimate(size: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """`size(*args)`, without Jinja's internal keywords; 0 for arguments the operation itself will
    reject (it then raises its own, clearer error)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in ("_loop_vars", "_block_vars")}
    try:
        return size(*args, **kwargs)
    except (TypeError, ValueError, AttributeError):
        return 0


def _check_int(n_bits: int, op: str) -> None:
    if n_bits > RENDER_MAX_INT_BITS:
        raise LimitExceeded(
            f"'{op}' would build a number of about {n_bits:,} bits, over the limit of "
            f"{RENDER_MAX_INT_BITS:,} (RENDER_MAX_INT_BITS)"
        )


def _binop_size(op: str, left: Any, right: Any) -> int:
    """Check integer growth; return the size of a string / list result (0 when not one)."""
    ints = all(isinstance(x, int) for x in (left, right))
    if op == "*" and ints:
        _check_int(left.bit_length() + right.bit_length(), op)
    elif op == "**" and ints and right > 0 and abs(left) > 1:
        _check_int(left.bit_length() * right, op)
    if op == "*" and isinstance(right, int) and hasattr(left, "__len__"):
        return len(left) * right
    if op == "*" and isinstance(left, int) and hasattr(right, "__len__"):
        return len(right) * left
    if op == "+" and hasattr(left, "__len__") and hasattr(right, "__len__"):
        return len(left) + len(right)
    if op == "%" and isinstance(left, str):
        return _format_size(left, *(right if isinstance(right, tuple) else (right,)))
    return 0


# ---------------------------------------------------------------------------------------------
# The environment


class _GuardedCodeGenerator(CodeGenerator):
    """Routes every `{% for %}` iterable and every `~` through the environment's guards."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        guard = nodes.EnvironmentAttribute("guard_iter", lineno=node.iter.lineno)
        if not (isinstance(node.iter, nodes.Call) and node.iter.node == guard):
            node.iter = nodes.Call(guard, [node.iter], [], None, None, lineno=node.iter.lineno)
        super().visit_For(node, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.guard_concat(context.eval_ctx, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _limited_range(*args: int) -> range:
    rng = range(*args)
    limit = _current().limits.max_range
    if len(rng) > limit:
        raise LimitExceeded(
            f"range{args} has {len(rng):,} items, over the limit of {limit:,} (RENDER_MAX_RANGE)"
        )
    return rng


def _limited_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
    _current().size(n * max * 12, f"lipsum({n})")
    return generate_lorem_ipsum(n, html, min, max)


def _finalize(value: Any) -> Any:
    """Every `{{ ... }}` passes here before it is turned into text."""
    if value is None:
        raise NoneOutput
    b = _current()
    b.tick()
    b.size(approx_len(value), "a printed value")
    return value


def _guard_filter(name: str, func: Callable) -> Callable:
    estimate = _FILTER_SIZE.get(name)
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # context / environment

    def guarded(*args: Any, **kwargs: Any) -> Any:
        b = _current()
        b.tick()
        if estimate is not None:
            b.size(_estimate(estimate, *args[skip:], **kwargs), f"the filter '{name}'")
        result = func(*args, **kwargs)
        b.value(result, f"the result of the filter '{name}'")
        return result

    guarded.__dict__.update(getattr(func, "__dict__", {}))  # keeps jinja_pass_arg
    guarded.__name__ = guarded.__qualname__ = name
    return guarded


class _GuardedFilters(dict):
    """The environment's filters: each one, also one added later, is wrapped by `_guard_filter`."""

    def __setitem__(self, name: str, func: Callable) -> None:
        super().__setitem__(name, _guard_filter(name, func))


class LimitedEnvironment(SandboxedEnvironment):
    """Jinja's sandbox with the limits above (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, **kwargs: Any):
        super().__init__(finalize=_finalize, **kwargs)
        self.globals["range"] = _limited_range
        self.globals["lipsum"] = _limited_lipsum
        filters = _GuardedFilters()
        for name, func in self.filters.items():
            filters[name] = func
        self.filters = filters

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        b = _current()
        b.tick()
        b.size(_binop_size(operator, left, right), f"'{operator}'")
        result = super().call_binop(context, operator, left, right)
        b.value(result, f"the result of '{operator}'")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        b = _current()
        b.tick()
        method = __obj.__wrapped__ if hasattr(__obj, "__wrapped__") else __obj  # the sandbox wraps str.format
        receiver = getattr(method, "__self__", None)
        if isinstance(receiver, str) and (estimate := _STR_METHOD_SIZE.get(method.__name__)):
            b.size(_estimate(estimate, receiver, *args, **kwargs), f"str.{method.__name__}()")
        result = super().call(__context, __obj, *args, **kwargs)
        b.value(result, "the result of a call")
        if isinstance(receiver, _GROWABLE):  # list.append / extend, dict.update, ...
            b.size(len(receiver), f"a {type(receiver).__name__} grown by .{method.__name__}()", "is")
        return result

    def guard_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Every `{% for %}` loop iterates through this: each step checks the deadline."""
        b = _current()
        for item in iterable:
            b.tick()
            yield item

    def guard_concat(self, eval_ctx: Any, parts: tuple) -> str:
        """`a ~ b ~ ...`: refuses None like output does, and results over the size limit."""
        if any(p is None for p in parts):
            raise NoneOutput
        b = _current()
        b.tick()
        b.size(sum(approx_len(p) for p in parts), "'~'")
        return markup_join(parts) if eval_ctx.autoescape else str_join(parts)
