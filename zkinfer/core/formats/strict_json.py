"""The one JSON reader for everything that comes from outside: receipts, inputs, requests, evidence.

Python's `json` accepts what a hostile document uses to mean two things at once or to crash the
reader: duplicate keys (Python keeps the last, other readers the first, so a receipt can show one
output to a person and another to the verifier), `NaN`/`Infinity`, integers of thousands of digits
(a ValueError deep inside `int()`), and numbers beyond float32 (a model input or output that
overflows to inf after every finiteness check). This reader refuses all of them, naming the
JSON path of the first offender, so callers turn it into exit 2 / HTTP 422.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLOAT32_MAX: float = struct.unpack("<f", b"\xff\xff\x7f\x7f")[0]  # 3.4028235e38 (no numpy import for a constant)
MAX_INT_DIGITS = 39  # float32's largest finite value has 39 digits; i128 fits too


class _Refused:
    """A value the parser met and refused; found (with its path) by `_first_refusal`."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why


class _Duplicated(dict[str, Any]):
    """A JSON object that held the key `duplicate` twice (every other object is a plain dict)."""

    duplicate: str = ""


def _parse_int(text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        return _Refused(f"an integer of {digits} digits, beyond float32's range")
    value = int(text)
    return value if abs(value) <= FLOAT32_MAX else _Refused(f"{text} is beyond float32's range (±{FLOAT32_MAX:.4g})")


def _parse_float(text: str) -> float | _Refused:
    value = float(text)
    return (
        value if abs(value) <= FLOAT32_MAX else _Refused(f"{text[:40]} is beyond float32's range (±{FLOAT32_MAX:.4g})")
    )


def _parse_constant(name: str) -> _Refused:
    return _Refused(f"{name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    marked = _Duplicated(result)
    seen: set[str] = set()
    marked.duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))  # type: ignore[func-returns-value]
    return marked


_SUSPECT = (_Refused, dict, list)  # what can be or hold a refusal: numbers and strings never do


def _first_refusal(value: Any, path: str) -> str | None:
    """The path and reason of the first refused value, depth first; None when all is well. A path
    is spelled out only for what may hold a refusal, not for each of a receipt's thousands of plain
    numbers and strings."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, _Refused):
            return f"{where}: {item.why}"
        if isinstance(item, _Duplicated):
            return f"{where}: key {item.duplicate!r} appears twice (readers disagree on which one counts)"
        if isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in reversed(item.items()) if isinstance(v, _SUSPECT))
        elif isinstance(item, list):
            stack.extend(
                (item[i], f"{where}[{i}]") for i in range(len(item) - 1, -1, -1) if isinstance(item[i], _SUSPECT)
            )
    return None


class StrictJSONError(ValueError):
    """Not JSON, or JSON this project refuses; the message names the path at fault."""


def loads(data: bytes | str) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity and numbers outside float32's range.

    Raises StrictJSONError naming the offending path (`$.output.tensors[0].values[3]`).
    """
    try:
        parsed = json.loads(
            data,
            object_pairs_hook=_object,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StrictJSONError(f"not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise StrictJSONError("not valid JSON (nested too deeply)") from exc
    refusal = _first_refusal(parsed, "$")
    if refusal is not None:
        raise StrictJSONError(refusal)
    return parsed  # plain dicts and lists: an object with a duplicate key is always refused above


def load_file(
    path: Path, limit: int, fail: Callable[[str], Exception], what: str = "file", fixes: dict[str, str] | None = None
) -> Any:
    """A JSON file read strictly, refused before reading when over `limit` bytes; every problem is
    `fail(message)` naming the path (each document kind raises its own typed error). `fixes` adds
    the document's own advice to a message, by problem: "directory", "size", "format"."""
    fix = {key: f"; {text}" for key, text in (fixes or {}).items()}
    if path.is_dir():
        raise fail(f"{path}: is a directory, not a {what}{fix.get('directory', '')}")
    if not path.is_file():
        raise fail(f"{path}: no such {what}")
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise fail(f"{path}: over the {limit}-byte size limit{fix.get('size', '')}")
    try:
        return loads(data)
    except StrictJSONError as exc:
        raise fail(f"{path}: {exc}{fix.get('format', '')}") from exc
