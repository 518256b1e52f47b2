"""Rewrite `choice(x)` calls in bank templates as promptsource's filter form `x | choice`.

promptsource has `choice` only as a filter, and so does our renderer (docs/bank.md, "Rendering:
promptsource parity"); templates written with the old `choice(...)` helper fail to render. The rewrite
keeps every draw in the same order, so a template renders exactly as before with the same seed.

    python tools/choice_to_filter.py [prompt_bank/templates/*.yaml ...]   # default: the whole bank

A literal argument (`choice(['a', 'b'])`) becomes `['a', 'b'] | choice`, which `weprompt bank validate`
then flags (`choice_on_constant`): bind it to a variable by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from weprompt.templates import load_templates  # noqa: E402

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


def main(paths: list[str]) -> int:
    files = [Path(p) for p in paths] or sorted(Path("prompt_bank/templates").glob("*.yaml"))
    changed = 0
    for path in files:
        coll = load_templates(path)
        n = 0
        for t in coll.templates:
            for attr in ("jinja", "answer_choices"):
                value = getattr(t, attr)
                if value and CALL.search(value):
                    setattr(t, attr, convert(value))
                    n += 1
        if n:
            coll.save()
            changed += n
            print(f"{path}: {n} field(s) rewritten")
    print(f"{changed} field(s) rewritten in {len(files)} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
