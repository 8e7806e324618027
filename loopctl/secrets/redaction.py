"""What `redact` masks: every form of each known secret, found in one pass, and the well-known secret shapes.

Known secrets live in a registry with scopes: a value remembered while an iteration runs is forgotten when that
iteration ends (each iteration mints its own tokens), one remembered outside any iteration stays for the process.
So iteration 500 of a `loop` masks what it needs, not what 499 iterations before it knew; and each scope has its
own automaton, so what an iteration remembers never rebuilds what the process knew before it.
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, quote_plus

from loopctl.secrets.shapes import MASK as MASK
from loopctl.secrets.shapes import mask_shapes

_MIN_SECRET_LENGTH = 4
# Shorter values are masked as they are, but not as base64: a base64 form of a few bytes is too likely in any text.
_MIN_ENCODED_LENGTH = 8
# An HTTP auth scheme in front of a credential: the credential alone is a secret too.
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|Digest|Negotiate|ApiKey)\s+(\S+)$", re.IGNORECASE)
# A value already masked (or cut inside its mask) is left alone: redacting twice must not change the text.
_QUERY_TOKEN = re.compile(r"([?&](?:token|access_token|jwt)=)(?![*…])[^&\s#'\"]++", re.IGNORECASE)
# `scheme://user:password@host`: whatever the password, even one never seen before.
# Bounded, and starting only where the scheme starts: a long run of letters and dots is read once, not per dot.
_URL_PASSWORD = re.compile(r"(://(?<=[a-z0-9+.-]://)[^/\s:@]{0,256}+:)[^/\s@]{1,4096}+@", re.IGNORECASE)


class _Layer:
    """One scope's forms and the automaton that finds them, built on the next search after a change."""

    __slots__ = ("automaton", "forms")

    def __init__(self) -> None:
        self.forms: set[str] = set()
        self.automaton: Any = None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where this scope's forms occur in `text`, overlapping occurrences merged, in order."""
        if not self.forms:
            return []
        if self.automaton is None:
            import ahocorasick

            self.automaton = ahocorasick.Automaton()
            for form in self.forms:
                self.automaton.add_word(form, len(form))
            self.automaton.make_automaton()
        merged: list[tuple[int, int]] = []
        for end, length in self.automaton.iter(text):
            start, stop = end + 1 - length, end + 1
            # Matches arrive by end position: a longer one may start before those already merged.
            while merged and start <= merged[-1][1]:
                start = min(start, merged[-1][0])
                stop = max(stop, merged.pop()[1])
            merged.append((start, stop))
        return merged


class Registry:
    """The forms `redact` masks: the process's own, and a stack of scopes (an iteration's) over them.

    Each scope has its own automaton, so a value remembered in an iteration rebuilds that iteration's alone, never
    the (perhaps large) set the process knew before it.
    """

    def __init__(self) -> None:
        self._layers: list[_Layer] = [_Layer()]  # the process's own, then one per open scope

    def add(self, form: str) -> None:
        if any(form in layer.forms for layer in self._layers):
            return
        top = self._layers[-1]
        top.forms.add(form)
        top.automaton = None

    def __len__(self) -> int:
        return sum(len(layer.forms) for layer in self._layers)

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Forms added inside are forgotten on the way out; those known before stay."""
        self._layers.append(_Layer())
        try:
            yield
        finally:
            self._layers.pop()

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where known forms occur in `text`, overlapping occurrences merged: one pass per scope, whatever their
        number of forms."""
        found = [spans for spans in (layer.spans(text) for layer in self._layers) if spans]
        if len(found) <= 1:
            return found[0] if found else []
        merged: list[tuple[int, int]] = []
        for start, stop in heapq.merge(*found):
            if merged and start <= merged[-1][1]:
                start, last = merged.pop()
                stop = max(stop, last)
            merged.append((start, stop))
        return merged


REGISTRY = Registry()


def iteration_scope() -> contextlib.AbstractContextManager[None]:
    """Around one iteration: the tokens it minted and the secrets it read are forgotten when it ends."""
    return REGISTRY.scope()


def remember(value: str) -> None:
    """Add a value and every form it travels in to `redact`: URL-encoded, JSON-escaped, without its auth scheme,
    and base64 (standard and URL-safe, at each of the three byte offsets it can sit at inside a longer blob),
    of the value and of `Bearer <value>`."""
    if len(value) < _MIN_SECRET_LENGTH:
        return
    for form in (value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]):
        REGISTRY.add(form)
    if len(value) >= _MIN_ENCODED_LENGTH:
        for raw in (value.encode(), f"Bearer {value}".encode()):
            for form in base64_forms(raw):
                REGISTRY.add(form)
    bare = _AUTH_SCHEME.match(value)
    if bare:
        remember(bare[1])


def base64_forms(raw: bytes) -> set[str]:
    """The base64 characters that depend on `raw` alone, wherever it sits in an encoded stream.

    After `k` bytes of something else, `raw` starts `k` bytes into a 3-byte group: the characters that mix it with
    its neighbours (and any padding) are left out, so one form matches padded, unpadded and embedded encodings.
    """
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode("ascii")
        first, last = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        core = encoded[first:last]
        forms.update((core, core.replace("+", "-").replace("/", "_")))
    return {form for form in forms if len(form) >= _MIN_ENCODED_LENGTH}


def redact(text: str) -> str:
    """Every known secret (in each of its forms) and every well-known secret shape in `text` replaced by `***`."""
    spans = REGISTRY.spans(text)
    if spans:
        pieces, at = [], 0
        for start, stop in spans:
            pieces += [text[at:start], MASK]
            at = stop
        text = "".join([*pieces, text[at:]])
    text = _QUERY_TOKEN.sub(rf"\g<1>{MASK}", _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text))
    return mask_shapes(text)
