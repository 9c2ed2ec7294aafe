"""A pipeline given as a dict, written as the TOML text the Rust core validates (Python's
standard library reads TOML but does not write it)."""

from __future__ import annotations

import datetime
import numbers
import re
from typing import Any

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def dumps(pipeline: dict[str, Any]) -> str:
    """TOML text of a pipeline dict: nested dicts are tables; strings shaped ``YYYY-MM-DD`` and
    ``datetime.date`` values are TOML dates, as pipeline files write them."""
    lines: list[str] = []
    _table(pipeline, [], lines)
    return "\n".join(lines) + "\n"


def _table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    tables = [(k, v) for k, v in table.items() if isinstance(v, dict)]
    if path and (scalars or not tables):
        lines.append(f"[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars:
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables:
        _table(value, [*path, key], lines)


def _key(key: str) -> str:
    if not isinstance(key, str):
        raise TypeError(f"pipeline keys are strings, not {type(key).__name__} ({key!r})")
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped, every other
    character (beyond the BMP too) written as itself."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str):
        return value if _DATE.fullmatch(value) else _string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"a pipeline value cannot be a {type(value).__name__} ({value!r})")
