"""Showing untrusted text: a receipt's strings reach terminals, logs and notebooks.

A model name or digest can carry escape sequences that clear the screen or paint a fake green
PASS over a FAIL (`\\r\\x1b[2K...`), or bidirectional overrides that reorder what is read.
`visible` turns every control and format character into a printable escape and bounds the
length, so what is shown is what the document says, never an instruction to the terminal.
"""

from __future__ import annotations

import unicodedata

MAX_SHOWN = 4000


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, limit: int = MAX_SHOWN) -> str:
    """`text` with control (Cc), format (Cf), line/paragraph separator and surrogate characters
    escaped, cut to `limit` characters."""
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text) - limit} more characters)"
    if text.isprintable():  # the common case: nothing to escape
        return text
    return "".join(_escape(c) if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") else c for c in text)
