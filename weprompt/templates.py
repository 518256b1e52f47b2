"""Prompt templates in promptsource's YAML format, rendered in Jinja's sandbox.

A task file (`prompt_bank/templates/<task>.yaml`) holds `dataset: <task>` and `templates:` mapping
template ids (UUIDs) to `!Template` objects with `id, name, jinja, answer_choices, metadata
(!TemplateMetadata: original_task, choices_in_prompt, metrics, languages, + extra keys), reference`.
` ||| ` splits the rendered text into input and target; `answer_choices` is itself a template whose
rendering is split on ` ||| `. Files are written as UTF-8 (never \\uXXXX), atomically, in a canonical
diff-friendly layout; saving an unchanged collection writes the original bytes back.
"""

from __future__ import annotations

import functools
import random
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, pass_context
from jinja2.runtime import Context

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError
from weprompt.sandbox import (
    DEFAULT_LIMITS,
    LimitedEnvironment,
    LimitExceeded,
    NoneOutput,
    RenderLimits,
    budget,
)

SEPARATOR = "|||"
# How a rendered input and its target are joined into one training / scoring text. Training encodes
# `input + TARGET_SEP` and `target` separately and concatenates the ids, and evaluation scores a
# target (or answer choice) as the continuation of `input + TARGET_SEP`: keep both on this one rule.
TARGET_SEP = "\n"
# Few-shot prompts join demonstrations (input + TARGET_SEP + target) with this.
SHOT_SEP = "\n\n"
STANDARD_METADATA = ("original_task", "choices_in_prompt", "metrics", "languages")


class TemplateError(UserError):
    pass


class RenderLimitError(TemplateError):
    """Rendering ran past a time or size limit of `weprompt.sandbox` (an endless loop, `'a' * 10**9`)."""


class MissingValueError(TemplateError):
    """The template prints a value that is None: a field the example lacks (the loader fills it with None)."""


@dataclass
class TemplateMetadata:
    original_task: bool | None = None
    choices_in_prompt: bool | None = None
    metrics: list[str] | None = None
    languages: list[str] | None = None
    extra: dict = field(default_factory=dict)  # e.g. annotator names; promptsource's loader tolerates them


@dataclass
class Template:
    name: str
    jinja: str
    answer_choices: str | None = None
    metadata: TemplateMetadata = field(default_factory=TemplateMetadata)
    reference: str = ""
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def body_key(self) -> str:
        """The body modulo whitespace: two templates with the same key are duplicates."""
        return "".join(self.jinja.split())


@dataclass
class Rendered:
    input: str
    target: str | None  # None when the template has no ` ||| `
    answer_choices: list[str] | None


# ---------------------------------------------------------------------------------------------
# Rendering


# promptsource's helpers, so that a template renders the same here and under its `Template.apply`
# (tests/interop/test_promptsource_parity.py): the filters `choice`, `most_frequent`, `highlight` and
# the global `zip`. promptsource's `choice` draws from the module `random`; ours draws from the render's
# own `random.Random(seed)`, the same algorithm, so seeding `random` with that seed gives the same draws.
_RNG: ContextVar[random.Random | None] = ContextVar("weprompt_template_rng", default=None)
# promptsource replaces `|||` inside string fields by this before rendering and puts it back after the
# split, so that a field's own `|||` never splits input from target.
PIPE_PROTECTOR = "3ed2dface8203c4c9dfb1a5dc58e41e0"


@contextmanager
def seeded(seed: int) -> Iterator[random.Random]:
    """The generator the `choice` filter draws from while rendering (one per render)."""
    token = _RNG.set(random.Random(seed))
    try:
        yield _RNG.get()  # type: ignore[misc]
    finally:
        _RNG.reset(token)


@pass_context  # never folded at compile time: Jinja evaluates filters on constants while compiling
def choice_filter(_context: Context, items: Sequence):
    """`x | choice`: a random element of `x`, from the render's seeded generator.

    promptsource's filter has no context, so Jinja folds `['a', 'b'] | choice` into one draw when it
    compiles the template; the validator's `choice_on_constant` rule keeps such calls out of the bank.
    """
    return (_RNG.get() or random).choice(items)


def most_frequent(items: Sequence) -> list | None:
    """`x | most_frequent`: the items that occur most often, in order of first occurrence (None if empty)."""
    if not items:
        return None
    counts = Counter(items)
    top = max(counts.values())
    return [item for item, n in counts.items() if n == top]


def _make_env() -> LimitedEnvironment:
    env = LimitedEnvironment(undefined=StrictUndefined, keep_trailing_newline=False)
    env.filters["highlight"] = lambda s: s  # promptsource's wraps a <span>; only its UI asks for it
    env.filters["choice"] = choice_filter
    env.filters["most_frequent"] = most_frequent
    env.globals["zip"] = zip
    return env


ENV = _make_env()
_COMPILED: dict[str, object] = {}


def compile_jinja(source: str):
    """Compile (cached); raises TemplateSyntaxError with `.lineno`."""
    if source not in _COMPILED:
        if len(_COMPILED) > 20000:
            _COMPILED.clear()
        _COMPILED[source] = ENV.from_string(source)
    return _COMPILED[source]


def render(
    template: Template, example: dict, seed: int = 0, limits: RenderLimits = DEFAULT_LIMITS
) -> Rendered:
    """Render one example within `limits` (time, size: see weprompt.sandbox).

    Raises RenderLimitError past a limit and MissingValueError when the template prints a None; other
    Jinja errors propagate as they are (the validator and sampler report them; callers name the task
    and the example).
    """
    ctx = {k: v.replace(SEPARATOR, PIPE_PROTECTOR) if isinstance(v, str) else v for k, v in example.items()}
    body = compile_jinja(template.jinja)
    choices_source = compile_jinja(template.answer_choices) if template.answer_choices else None
    choices = None
    try:
        with budget(limits) as b, seeded(seed):
            if choices_source is not None:
                choices = [_unprotect(c) for c in b.generate(choices_source, ctx).split(SEPARATOR)]
                ctx["answer_choices"] = choices
            text = b.generate(body, ctx)
    except LimitExceeded as e:
        raise RenderLimitError(f"{_label(template)}: {e}") from None
    except NoneOutput:
        raise MissingValueError(f"{_label(template)}: {_none_message(template, example)}") from None
    if SEPARATOR in text:
        head, _, tail = text.partition(SEPARATOR)
        return Rendered(_unprotect(head), _unprotect(tail), choices)
    return Rendered(_unprotect(text), None, choices)


def _unprotect(part: str) -> str:
    return part.replace(PIPE_PROTECTOR, SEPARATOR).strip()


def _label(template: Template) -> str:
    return f"template '{template.name}' ({template.id})"


def _none_message(template: Template, example: dict) -> str:
    """Which of the fields the template uses hold None (at the top, else inside), for the error."""
    used = sorted(referenced_fields(template.jinja) | referenced_fields(template.answer_choices or ""))
    top = [f for f in used if f in example and example[f] is None]
    if top:
        return (
            f"field{'s' * (len(top) > 1)} {', '.join(repr(f) for f in top)} {'are' if len(top) > 1 else 'is'} "
            "None (missing from this example) and the template prints it; print it only when present, e.g. "
            f"{{% if {top[0]} %}}...{{% endif %}} or ({top[0]} or '')"
        )
    inner = [f for f in used if _holds_none(example.get(f))]
    where = f" (fields with a None inside: {', '.join(repr(f) for f in inner)})" if inner else ""
    return f"the template prints a None value{where}; the example lacks what it refers to"


def _holds_none(value: object, depth: int = 0) -> bool:
    if value is None:
        return True
    if depth > 3:
        return False
    if isinstance(value, dict):
        return any(_holds_none(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_none(v, depth + 1) for v in value)
    return False


def check_syntax(source: str) -> tuple[int, str] | None:
    try:
        compile_jinja(source)
        return None
    except TemplateSyntaxError as e:
        return (e.lineno or 1, e.message or str(e))


def referenced_fields(source: str) -> set[str]:
    """The data fields a template source names (a fresh set; the parse is cached per source)."""
    return set(_referenced_fields(source))


@functools.lru_cache(maxsize=20000)
def _referenced_fields(source: str) -> frozenset[str]:
    from jinja2 import meta

    return frozenset(meta.find_undeclared_variables(ENV.parse(source))) - {"answer_choices"}


# ---------------------------------------------------------------------------------------------
# YAML: loading (promptsource's tags) and canonical writing


class _DuplicateKey(Exception):
    def __init__(self, key: str, first: int, second: int, template: bool):
        super().__init__(key)
        self.key, self.first, self.second, self.template = key, first, second, template


class _NoDuplicateKeys:
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        # PyYAML keeps the last of two equal keys without a word: two templates with one id would
        # silently lose one of them, two `jinja:` keys one body.
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue
            line, key = key_node.start_mark.line + 1, (key_node.tag, key_node.value)
            if key in seen:
                raise _DuplicateKey(key_node.value, seen[key], line, value_node.tag == "!Template")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]


class _Loader(_NoDuplicateKeys, yaml.SafeLoader):
    """The pure-Python loader: the fallback, and the one whose error messages the bank reports."""


_CLoader: type[yaml.CSafeLoader] | None = None
if hasattr(yaml, "CSafeLoader"):

    class _LibYAMLLoader(_NoDuplicateKeys, yaml.CSafeLoader):
        """libyaml's parser, when PyYAML was built with it: the same constructors, ~8x faster on the bank."""

    _CLoader = _LibYAMLLoader


def _construct_metadata(loader: yaml.SafeLoader, node: yaml.Node) -> TemplateMetadata:
    data = loader.construct_mapping(node, deep=True)
    known = {k: data.pop(k) for k in STANDARD_METADATA if k in data}
    return TemplateMetadata(**known, extra=data)


def _construct_template(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
    data = loader.construct_mapping(node, deep=True)
    data["__line__"] = node.start_mark.line + 1
    return data


_Loader.add_constructor("!TemplateMetadata", _construct_metadata)
_Loader.add_constructor("!Template", _construct_template)
if _CLoader is not None:
    _CLoader.add_constructor("!TemplateMetadata", _construct_metadata)
    _CLoader.add_constructor("!Template", _construct_template)


def _is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(str(value))) == str(value).lower()
    except ValueError:
        return False


@dataclass
class TemplateCollection:
    """All templates of one task, in file order."""

    task: str
    templates: list[Template]
    path: Path | None = None
    _source_text: str | None = None
    _source_canonical: str | None = None

    def by_id(self, template_id: str) -> Template:
        for t in self.templates:
            if t.id == template_id:
                return t
        raise TemplateError(f"task '{self.task}': no template with id '{template_id}'")

    def by_name(self, name: str) -> Template:
        for t in self.templates:
            if t.name == name:
                return t
        raise TemplateError(f"task '{self.task}': no template named '{name}'")

    def to_yaml(self) -> str:
        return dump_templates(self.task, self.templates)

    def _canonical_source(self) -> str:
        """The canonical YAML of the file as it was read (made on first need: dumping is slow in Python)."""
        if self._source_canonical is None:
            self._source_canonical = parse_templates(self._source_text or "", str(self.path)).to_yaml()
        return self._source_canonical

    def save(self, path: Path | None = None) -> Path:
        """Atomic write; an unchanged collection writes back exactly the bytes it was read from."""
        target = path or self.path
        if target is None:
            raise TemplateError(f"task '{self.task}': the collection has no file yet; pass save() a path")
        path = Path(target)
        text = self.to_yaml()
        if self._source_text is not None and path == self.path and text == self._canonical_source():
            text = self._source_text
        atomic_write_text(path, text)
        self.path, self._source_text, self._source_canonical = path, text, self.to_yaml()
        return path


def _yaml_error(e: yaml.YAMLError, text: str, where: str) -> TemplateError:
    """One line: `file:line: what`, the line being where the problem is (or, when the parser only notices
    it at the end of the file, e.g. an unclosed quote, where the unclosed construct starts)."""
    if isinstance(e, yaml.reader.ReaderError):  # a character YAML does not allow: position, no mark
        line = text.count("\n", 0, e.position) + 1
        char = e.character if isinstance(e.character, int) else ord(e.character)
        return TemplateError(f"{where}:{line}: invalid YAML: {e.reason} (character #x{char:04x})")
    mark, context = getattr(e, "problem_mark", None), getattr(e, "context_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    if context is not None and getattr(e, "context", None):
        problem += f" ({e.context} on line {context.line + 1})"
        if mark is None or mark.index >= len(text.rstrip()):
            mark = context
    if isinstance(e, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        problem += " (known tags: !Template, !TemplateMetadata)"
    else:
        problem = f"invalid YAML: {problem}"
    return TemplateError(f"{where}{f':{mark.line + 1}' if mark else ''}: {problem}")


def _load_yaml(text: str):
    """The document, parsed by libyaml when available. Any failure there is parsed again by the
    pure-Python loader, so an error is reported exactly as it always was (file:line: what)."""
    if _CLoader is not None:
        try:
            return yaml.load(text, Loader=_CLoader)  # noqa: S506 - a CSafeLoader subclass with two tags
        except (yaml.YAMLError, _DuplicateKey):
            pass
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass with two tags


def parse_templates(text: str, where: str) -> TemplateCollection:
    try:
        raw = _load_yaml(text)
    except yaml.YAMLError as e:
        raise _yaml_error(e, text, where) from None
    except _DuplicateKey as e:
        what = f"template id '{e.key}'" if e.template else f"key '{e.key}'"
        raise TemplateError(
            f"{where}:{e.second}: {what} appears twice in one mapping (lines {e.first} and {e.second}); "
            "YAML would silently keep only the second"
            + ("; give one of the two templates a new id" if e.template else "")
        ) from None
    if not isinstance(raw, dict) or "dataset" not in raw:
        raise TemplateError(f"{where}: expected a mapping with 'dataset' and 'templates'")
    task = str(raw["dataset"]) + (f"/{raw['subset']}" if raw.get("subset") else "")
    templates = []
    for key, data in (raw.get("templates") or {}).items():
        line = data.pop("__line__", "?") if isinstance(data, dict) else "?"
        loc = f"{where}:{line}: template '{key}'"
        if not isinstance(data, dict):
            raise TemplateError(f"{loc}: expected a !Template mapping")
        if not _is_uuid(key):
            raise TemplateError(f"{loc}: id is not a UUID")
        if str(data.get("id", key)) != str(key):
            raise TemplateError(f"{loc}: key and field 'id' ({data.get('id')}) differ")
        for required in ("name", "jinja"):
            if not isinstance(data.get(required), str) or not data[required]:
                raise TemplateError(f"{loc}: field '{required}' is missing or not a string")
        unknown = set(data) - {"id", "name", "jinja", "answer_choices", "metadata", "reference"}
        if unknown:
            raise TemplateError(f"{loc}: unknown field '{sorted(unknown)[0]}'")
        meta = data.get("metadata") or TemplateMetadata()
        if not isinstance(meta, TemplateMetadata):
            raise TemplateError(f"{loc}: field 'metadata' must be tagged !TemplateMetadata")
        templates.append(
            Template(
                id=str(key),
                name=data["name"],
                jinja=data["jinja"],
                answer_choices=data.get("answer_choices"),
                metadata=meta,
                reference=data.get("reference") or "",
            )
        )
    return TemplateCollection(task, templates)


def load_templates(path: str | Path) -> TemplateCollection:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template file not found: {path}") from None
    except UnicodeDecodeError as e:
        raise TemplateError(f"{path}: not UTF-8 ({e.reason} at byte {e.start})") from None
    coll = parse_templates(text, str(path))
    coll.path, coll._source_text = path, text  # the canonical form is made when save() needs it
    return coll


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Multi-line strings as literal blocks (readable diffs); PyYAML falls back to quotes if it must.
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _metadata_representer(dumper: yaml.SafeDumper, meta: TemplateMetadata) -> yaml.Node:
    data = {k: getattr(meta, k) for k in STANDARD_METADATA}
    data.update(meta.extra)
    return dumper.represent_mapping("!TemplateMetadata", data)


def _template_representer(dumper: yaml.SafeDumper, t: Template) -> yaml.Node:
    data = {
        "answer_choices": t.answer_choices,
        "id": t.id,
        "jinja": t.jinja,
        "metadata": t.metadata,
        "name": t.name,
        "reference": t.reference,
    }
    return dumper.represent_mapping("!Template", data)


_Dumper.add_representer(str, _str_representer)
_Dumper.add_representer(TemplateMetadata, _metadata_representer)
_Dumper.add_representer(Template, _template_representer)


def dump_templates(task: str, templates: list[Template]) -> str:
    dataset, _, subset = task.partition("/")
    doc: dict = {"dataset": dataset}
    if subset:
        doc["subset"] = subset
    doc["templates"] = {t.id: t for t in templates}
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=10_000)
