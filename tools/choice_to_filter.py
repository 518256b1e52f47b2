"""Rewrite `choice(x)` calls in bank templates as promptsource's filter form `x | choice`.

promptsource has `choice` only as a filter, and so does our renderer (docs/bank.md, "Rendering:
promptsource parity"); templates written with the old `choice(...)` helper fail to render. The rewrite
keeps every draw in the same order, so a template renders exactly as before with the same seed.

    python tools/choice_to_filter.py [prompt_bank/templates/*.yaml ...]   # default: the whole bank

A literal list (`choice(['a', 'b'])`, or an existing `['a', 'b'] | choice`) is bound to a variable first,
`{% set choice_list_1 = ['a', 'b'] %}…{{ choice_list_1 | choice }}`: Jinja would draw a filter on a literal
once, while compiling (`choice_on_constant`). Binding a literal draws nothing, so the order of draws stays.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jinja2 import nodes  # noqa: E402

from weprompt.templates import ENV, load_templates  # noqa: E402

CALL = re.compile(r"(?<![\w.|])choice\(")
PRIMARY = re.compile(r"^(\[.*\]|[A-Za-z_][\w.]*(\(.*\))?)$", re.S)


def closing(s: str, i: int) -> int:
    """Index of the bracket closing the one at s[i] (quotes respected)."""
    depth, quote = 0, ""
    for j in range(i, len(s)):
        c = s[j]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return j
    raise ValueError(f"unbalanced brackets in: {s[i : i + 80]}")


def _is_primary(arg: str) -> bool:
    """A list literal, a name or a call chain: the filter applies to all of it without parentheses."""
    if not PRIMARY.match(arg):
        return False
    start = 0 if arg.startswith("[") else arg.find("(")
    return start < 0 or closing(arg, start) == len(arg) - 1


def convert(source: str) -> str:
    while m := CALL.search(source):
        open_at = m.end() - 1
        close_at = closing(source, open_at)
        arg = convert(source[open_at + 1 : close_at]).strip()
        new = f"{arg} | choice" if _is_primary(arg) else f"({arg}) | choice"
        rest = source[close_at + 1 :].lstrip()
        if rest[:1] in ("[", ".") or (rest[:1] == "|" and not rest.startswith("|||")):
            new = f"({new})"  # a subscript, attribute or filter follows: keep it on the draw
        source = source[: m.start()] + new + source[close_at + 1 :]
    return source


def _is_literal(expr: str) -> bool:
    try:
        node = ENV.parse("{{ " + expr + " }}").body[0].nodes[0]  # type: ignore[attr-defined]
        node.as_const(nodes.EvalContext(ENV))
        return True
    except Exception:
        return False


def hoist_literals(source: str) -> str:
    """`[...] | choice` on a literal list -> a variable bound just before the enclosing tag."""
    n = 0
    pos = 0
    while m := re.compile(r"\]\s*\|\s*choice\b").search(source, pos):
        end = m.start()
        # the '[' that opens the list ending at `end`
        start = next((i for i in range(end, -1, -1) if source[i] == "[" and closing(source, i) == end), None)
        literal = source[start : end + 1] if start is not None else ""
        if not literal or not _is_literal(literal) or (start and re.match(r"[\w\])]", source[start - 1])):
            pos = m.end()
            continue
        n += 1
        name = f"choice_list_{n}"
        while name in source:
            n += 1
            name = f"choice_list_{n}"
        tag = max(source.rfind("{%", 0, start), source.rfind("{{", 0, start))
        source = source[:start] + name + source[end + 1 :]
        strip = "-" if source[tag + 2 : tag + 3] == "-" else ""  # keep `{%-` trimming what precedes it
        source = source[:tag] + f"{{%{strip} set {name} = {literal} %}}" + source[tag:]
        pos = 0
    return source


def main(paths: list[str]) -> int:
    files = [Path(p) for p in paths] or sorted(Path("prompt_bank/templates").glob("*.yaml"))
    changed = 0
    for path in files:
        coll = load_templates(path)
        n = 0
        for t in coll.templates:
            for attr in ("jinja", "answer_choices"):
                value = getattr(t, attr)
                new = hoist_literals(convert(value)) if value else value
                if new != value:
                    setattr(t, attr, new)
                    n += 1
        if n:
            coll.save()
            changed += n
            print(f"{path}: {n} field(s) rewritten")
    print(f"{changed} field(s) rewritten in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
