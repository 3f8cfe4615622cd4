"""Collected text made safe to read: invisible controls are shown, never interpreted.

Captured titles, texts and URLs come from strangers. Two kinds of character in them act on
the reader instead of being read:

* bidirectional controls (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates,
  U+200E/U+200F marks, U+061C the Arabic letter mark) reorder what follows, so
  ``https://example.com/\u202egnp.exe`` *displays* as ``.../exe.png``: the spoof works;
* C0 and C1 control characters (U+0000-U+001F, U+007F-U+009F), among them ESC, which starts
  a terminal escape sequence (colours, cursor moves, window titles, hyperlinks) and has no
  business in an HTML file.

:func:`visible` replaces each of them by a visible token, ``⟨U+202E⟩``, so the reader sees
that the text carries one and where. Line feeds and tabs stay (excerpts keep their lines);
a CR before a line feed is dropped as a line ending, a lone CR is shown. The reports apply it
to every expression they print (the Jinja environment's ``finalize``, and the ``visible``
filter), the terminal views to every collected value they print.
"""

from __future__ import annotations

import re

__all__ = ["BIDI_CONTROLS", "visible"]

#: The bidirectional formatting characters of Unicode (UAX #9, table 1), plus U+061C.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

_SHOWN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f" + BIDI_CONTROLS + "]")


def _token(match: re.Match[str]) -> str:
    return f"\u27e8U+{ord(match.group()):04X}\u27e9"


def visible(value: object) -> str:
    """``value`` as text with every bidi control and C0/C1 control shown as ``⟨U+XXXX⟩``.

    The tokens contain no character HTML or a terminal treats specially, so the result can be
    escaped (or marked safe, when the input was) as usual.
    """
    text = value if isinstance(value, str) else str(value)
    if not _SHOWN.search(text):
        return text
    return _SHOWN.sub(_token, text.replace("\r\n", "\n"))
