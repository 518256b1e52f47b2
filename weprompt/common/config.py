"""The one config system: typed dataclasses, YAML on disk.

`load_config(MyConfig, "run.yaml", overrides=["train.lr=3e-4"])` builds nested dataclasses from YAML,
rejects unknown keys (naming the key, where it is, and the nearest valid one) and checks types strictly:
a bool is not a number, a number is not a string, a list is not a scalar. Floats also accept numeric
strings (YAML 1.1 reads `1e-4` as one). An error caused by an override names the override.
`dump_config` writes the resolved config back so a run directory records exactly what ran.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import yaml

from weprompt.common.atomic import atomic_write_text
from weprompt.common.errors import UserError


class DataclassInstance(Protocol):  # what dataclasses.fields accepts (typeshed's, which is typing-only)
    __dataclass_fields__: ClassVar[dict[str, Any]]


T = TypeVar("T", bound=DataclassInstance)
Key = tuple[str | int, ...]  # a key path: ("train", "optim", "max_lr"), list items by index

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


class ConfigError(UserError, ValueError):
    """A config file or override that does not fit its dataclass.

    `key` is the key path of the offending value or unknown key (empty when not known); `detail` is the
    message without the file name, for restating the error as the fault of an override."""

    def __init__(self, message: str, key: Key = (), detail: str | None = None):
        super().__init__(message)
        self.key, self.detail = key, detail or message


def _dotted(key: Key) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in key).lstrip(".")


def _fail(where: str, key: Key, reason: str) -> ConfigError:
    """An error about the value at `key`: '<file>.a.b: reason'."""
    if not key:
        return ConfigError(f"{where}: {reason}", key, reason)
    return ConfigError(f"{where}.{_dotted(key)}: {reason}", key, f"{_dotted(key)}: {reason}")


def _nearest(key: str, valid: list[str]) -> str:
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f"; did you mean '{match[0]}'?" if match else f"; valid keys: {', '.join(sorted(valid))}"


def _show(value: Any) -> str:
    """`value` as YAML would write it, and its type: 'true (bool)', '[1, 2] (list)'."""
    if value is None:
        return "null"
    try:
        text = yaml.safe_dump(value, default_flow_style=True, width=1 << 20)
    except yaml.YAMLError:
        text = repr(value)
    text = text.strip().removesuffix("...").strip()
    return f"{text if len(text) <= 60 else text[:57] + '...'} ({type(value).__name__})"


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a type hint: a class, never an instance
        return f"a mapping (section {tp.__name__})"
    if typing.get_origin(tp) in (list, tuple):
        return "a list"
    if typing.get_origin(tp) is dict:
        return "a mapping"
    if typing.get_origin(tp) is typing.Literal:
        return f"one of {list(typing.get_args(tp))}"
    return _TYPE_NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _scalar(value: Any, tp: type, where: str, key: Key) -> Any:
    """int, float, bool, str: that type; a bool is not a number, an int is a float, so is a numeric string."""
    if isinstance(value, bool):
        ok = tp is bool
    elif tp is float and isinstance(value, str):
        ok = _NUMBER.fullmatch(value.strip()) is not None
    else:
        ok = isinstance(value, (int, float) if tp is float else tp)
    if not ok:
        raise _fail(where, key, f"expected {_TYPE_NAMES[tp]}, got {_show(value)}")
    if tp is float and not math.isfinite(float(value)):
        raise _fail(where, key, f"expected a finite number, got {_show(value)}")
    return float(value) if tp is float else value


def _coerce(value: Any, tp: Any, where: str, key: Key = (), default: Any = None) -> Any:
    """`value` as type `tp`; a section (dataclass) is laid over `default`, the field's own default, when
    that is an instance of it, so a partial section keeps the defaults its owner set."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a type hint: a class, never an instance
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected {_type_name(tp)}, got {_show(value)}")
        return _build(tp, value, where, key, default if isinstance(default, tp) else None)
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, typing.get_args(tp), where, key, default)
    if origin is typing.Literal:
        if not any(type(value) is type(a) and value == a for a in typing.get_args(tp)):
            raise _fail(where, key, f"expected {_type_name(tp)}, got {_show(value)}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _fail(where, key, f"expected a list, got {_show(value)}")
        (arg, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(v, arg, where, (*key, i)) for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, key, f"expected a mapping, got {_show(value)}")
        _, vt = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(v, vt, where, (*key, k)) for k, v in value.items()}
    if tp in _TYPE_NAMES:
        return _scalar(value, tp, where, key)
    return value


def _coerce_union(value: Any, args: tuple, where: str, key: Key, default: Any = None) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    error = None
    for arg in options:
        try:
            return _coerce(value, arg, where, key, default)
        except ConfigError as e:
            error = e
    if len(options) == 1 and error is not None and error.key != key:
        raise error  # the value has the right kind; something inside it does not fit
    names = [_type_name(a) for a in options] + (["null"] if type(None) in args else [])
    raise _fail(where, key, f"expected {' or '.join(names)}, got {_show(value)}")


def _field_default(f: dataclasses.Field, base: Any) -> Any:
    """What field `f` holds when a config does not set it: `base`'s value when the section is laid over an
    owner's default instance, else the field's own default (None when it has none)."""
    if base is not None:
        return getattr(base, f.name)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _build(cls: type[T], data: dict, where: str, key: Key, base: Any = None) -> T:
    """`cls` from `data`; fields `data` leaves out keep `base`'s values when given, else their defaults."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        if name not in fields:
            at = f"{where}.{_dotted(key)}" if key else where
            hint = _nearest(str(name), list(fields))
            detail = f"unknown key '{name}' in {_dotted(key) or 'the top level'}{hint}"
            raise ConfigError(f"{at}: unknown key '{name}'{hint}", (*key, name), detail)
        default = _field_default(fields[name], base) if isinstance(value, dict) else None
        kwargs[name] = _coerce(value, hints[name], where, (*key, name), default)
    if base is not None:  # the owner's defaults for what the section leaves out
        kwargs.update({n: copy.deepcopy(getattr(base, n)) for n in fields if n not in kwargs})
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise _fail(where, key, str(e)) from e


def from_dict(cls: type[T], data: dict, where: str = "config") -> T:
    """Build dataclass `cls` from a plain mapping, recursively, with strict key and type checking."""
    return _build(cls, data, where, ())


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def _yaml_problem(e: yaml.YAMLError) -> str:
    """One line: what is wrong and where (line, column), for a one-line CLI error."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _override_key(override: str) -> tuple[list[str], str]:
    if "=" not in override:
        raise ConfigError(f"override '{override}' must look like key.sub=value (no '=' in it)")
    dotted, raw = override.split("=", 1)
    parts = dotted.strip().split(".")
    if not all(p.strip() for p in parts):
        raise ConfigError(f"override '{override}': '{dotted}' is not a key path like train.optim.max_lr")
    return [p.strip() for p in parts], raw


def apply_override(data: dict, override: str) -> None:
    """Set `a.b.c=value` (value parsed as YAML) in the nested mapping `data`, creating sections."""
    parts, raw = _override_key(override)
    node = data
    for i, p in enumerate(parts[:-1]):
        child = node.get(p)
        if child is None:
            child = node[p] = {}
        elif not isinstance(child, dict):
            section = ".".join(parts[: i + 1])
            raise ConfigError(
                f"override '{override}': {section} is {_show(child)}, not a section, so it has no key "
                f"'{parts[i + 1]}'"
            )
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        raise ConfigError(f"override '{override}': the value is not valid YAML ({_yaml_problem(e)})") from e


def blame_override(error: ConfigError, overrides: list[str] | None) -> ConfigError:
    """`error` restated as the fault of the last override on its key path, if one is; else `error`."""
    if not error.key:
        return error
    for o in reversed(overrides or []):
        try:
            parts = tuple(_override_key(o)[0])
        except ConfigError:
            continue
        n = min(len(parts), len(error.key))
        if parts[:n] == error.key[:n]:
            return ConfigError(f"override '{o}': {error.detail}", error.key, error.detail)
    return error


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> T:
    """Load YAML at `path` (or defaults if None), apply `a.b=value` overrides, build `cls`."""
    data = read_yaml_mapping(path)
    for o in overrides or []:
        apply_override(data, o)
    try:
        return from_dict(cls, data, str(path) if path is not None else "config")
    except ConfigError as e:
        blamed = blame_override(e, overrides)
        if blamed is e:
            raise
        raise blamed from e


def read_yaml_mapping(path: str | os.PathLike | None) -> dict:
    """The top-level mapping of YAML file `path` ({} for None or an empty file)."""
    if path is None:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise ConfigError(f"config file not found: {path}") from e
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML: {_yaml_problem(e)}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def dump_config(cfg: Any, path: str | os.PathLike) -> None:
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), allow_unicode=True, sort_keys=False))
