"""Completion text from token ids as they come: `stop` strings, and what is safe to stream yet.

Byte-level BPE splits a character across tokens, and a stop string across tokens, so a streamed
piece is held back while it ends in half a character or in the start of a stop string.
"""

from __future__ import annotations

from collections.abc import Callable

REPLACEMENT = "\ufffd"  # what decoding half a UTF-8 character gives


def find_stop(text: str, stop: list[str]) -> int | None:
    """Where the first stop string starts in `text`, or None."""
    found = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return min(found) if found else None


class Detokenizer:
    def __init__(self, decode: Callable[[list[int]], str], stop: list[str]) -> None:
        self.decode = decode
        self.stop = [s for s in stop if s]
        self.ids: list[int] = []
        self.emitted = 0  # characters of the text already given out
        self.stopped = False
        self.text = ""

    def push(self, token: int) -> str:
        """Add a token; the text now safe to give out (the completion's text so far, less what was given)."""
        self.ids.append(token)
        text = self.decode(self.ids)
        cut = find_stop(text, self.stop)
        if cut is not None:
            self.stopped = True
            self.text = text[:cut]
            return self._take(len(self.text))
        self.text = text
        whole = len(text.rstrip(REPLACEMENT))
        safe = whole
        for s in self.stop:
            for k in range(min(len(s) - 1, whole), 0, -1):
                if text[:whole].endswith(s[:k]):
                    safe = min(safe, whole - k)
                    break
        return self._take(safe)

    def finish(self) -> str:
        """The rest of the text, once no token follows."""
        return self._take(len(self.text))

    def _take(self, end: int) -> str:
        if end <= self.emitted:
            return ""
        piece, self.emitted = self.text[self.emitted : end], end
        return piece
