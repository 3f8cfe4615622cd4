"""Text folding and personal-name matching shared by identity, screening and the firewall.

Everything that compares words in this package compares *folded* text: Unicode compatibility
decomposition, diacritics removed, case folded, typographic apostrophes and dashes made plain,
invisible characters (zero-width space, soft hyphen) dropped. "JOSÉ", "Jose\u0301" and "jose"
are the same word, and "g\u200bun" is "gun", so neither a name match nor a screening term nor a
protected word can be dodged by an accent or a hidden character.

Because flags and masks must point into the *original* text, folding keeps a map from each
folded character back to the original span (:class:`FoldedText`).

Name matching is deliberately tolerant of how people write a name (nicknames from the
``nicknames`` package's dataset, clipped given names, accents, middle initials, "Last, First",
initials such as "Mari G." or "M. Gutierrez") and deliberately strict about the surname: "Alex
Rivera" matches "Alexander J. Rivera" and "RIVERA, Alexander" but never "Alex Rivers".
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = [
    "FoldedText",
    "PersonName",
    "fold",
    "fold_text",
    "given_name_variants",
    "initial_patterns",
    "load_nicknames",
    "name_patterns",
    "parse_name",
    "same_given_name",
]

# Characters that NFKD does not decompose but that readers treat as a plain letter.
_SPECIAL: dict[str, str] = {
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th",
    "ı": "i", "ħ": "h", "Ħ": "h", "ŧ": "t", "ŋ": "n",
    "\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
}
# Invisible characters used (deliberately or not) to break words apart.
_INVISIBLE = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")


@lru_cache(maxsize=8192)
def _fold_char(ch: str) -> str:
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    if ch in _INVISIBLE:
        return ""
    decomposed = unicodedata.normalize("NFKD", ch)
    out = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    # casefold can re-introduce marks ("İ" -> "i̇"); strip them again.
    out = "".join(_SPECIAL.get(c, c) for c in out if not unicodedata.combining(c))
    return out


def fold(text: str) -> str:
    """Return ``text`` folded for comparison (see the module docstring)."""
    if text.isascii():
        return text.lower()
    return "".join(_fold_char(ch) for ch in text)


@dataclass(frozen=True)
class FoldedText:
    """A folded copy of a text that remembers where each folded character came from.

    ``starts`` and ``ends`` are ``None`` when folding kept every character one-for-one
    (always true for ASCII), so the common case costs no memory.
    """

    original: str
    folded: str
    starts: tuple[int, ...] | None = None
    ends: tuple[int, ...] | None = None

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of the folded text to the original text.

        The original span is widened over characters that folded to nothing (combining marks,
        zero-width characters) right after the match, so masking a word also removes the
        accent that was typed as a separate character.
        """
        if self.starts is None or self.ends is None:
            return start, end
        n = len(self.folded)
        if start >= n:
            return len(self.original), len(self.original)
        if end <= start:
            s = self.starts[start]
            return s, s
        return self.starts[start], self.ends[min(end, n) - 1]


def fold_text(text: str) -> FoldedText:
    """Fold ``text`` and keep the offset map back to the original (see :class:`FoldedText`)."""
    if text.isascii():
        return FoldedText(text, text.lower())
    pieces = [_fold_char(ch) for ch in text]
    folded = "".join(pieces)
    if len(folded) == len(text) and all(len(p) == 1 for p in pieces):
        return FoldedText(text, folded)
    # end of original char i = start of the next char that produced output (absorbs marks)
    n = len(text)
    src_end = [0] * n
    nxt = n
    for i in range(n - 1, -1, -1):
        src_end[i] = nxt
        if pieces[i]:
            nxt = i
    starts: list[int] = []
    ends: list[int] = []
    for i, piece in enumerate(pieces):
        for _ in piece:
            starts.append(i)
            ends.append(src_end[i])
    return FoldedText(text, folded, tuple(starts), tuple(ends))


# --- nicknames -------------------------------------------------------------------------------

#: A given name written as the first letters of the candidate's given name ("Alex" for
#: Alexander, "Mari" for Maria) counts when it keeps at least this many letters: clipping is
#: how most English nicknames are made, and the dataset does not list every clipped form.
MIN_CLIPPED_LETTERS = 4


@lru_cache(maxsize=1)
def load_nicknames() -> tuple[tuple[str, frozenset[str]], ...]:
    """``(formal, nicknames)`` pairs from the ``nicknames`` package's dataset, folded.

    The dataset (Carlton Northern's hand-curated names.csv, Apache-2.0, maintained upstream
    and pinned in pyproject.toml) has about 2,700 name/nickname pairs of English given names.
    """
    from nicknames import NickNamer

    groups: list[tuple[str, frozenset[str]]] = []
    for formal, nicks in sorted(NickNamer.default_lookup().items()):
        folded = frozenset(fold(n).strip() for n in nicks if n.strip())
        if formal.strip() and folded:
            groups.append((fold(formal).strip(), folded))
    return tuple(groups)


@lru_cache(maxsize=1)
def _nickname_index() -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]]]:
    """(formal -> nicknames, nickname -> formals), built once from :func:`load_nicknames`."""
    nicknames_of: dict[str, frozenset[str]] = {}
    formals_of: dict[str, set[str]] = {}
    for formal, nicks in load_nicknames():
        nicknames_of[formal] = nicknames_of.get(formal, frozenset()) | nicks
        for n in nicks:
            formals_of.setdefault(n, set()).add(formal)
    return nicknames_of, {k: frozenset(v) for k, v in formals_of.items()}


@lru_cache(maxsize=4096)
def given_name_variants(name: str) -> frozenset[str]:
    """Every folded given name that may stand for ``name`` (itself included).

    From the dataset: a formal name gives its nicknames; a nickname gives the formal names it
    is short for. By rule: a clipped form of at least :data:`MIN_CLIPPED_LETTERS` letters
    ("Mari" for Maria). Never two hops: "Alex" gives Alexander and Alexandra but not Sandra
    (Alexandra's other nickname), because each hop multiplies the people a name could belong
    to, and identity errs toward "not the same".
    """
    key = fold(name).strip()
    nicknames_of, formals_of = _nickname_index()
    out = {key} | nicknames_of.get(key, frozenset()) | formals_of.get(key, frozenset())
    if key.isalpha():
        out |= {key[:i] for i in range(MIN_CLIPPED_LETTERS, len(key))}
    return frozenset(out)


def same_given_name(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` can be the same person's given name (either way round)."""
    return fold(b).strip() in given_name_variants(a) or fold(a).strip() in given_name_variants(b)


# --- parsing and patterns --------------------------------------------------------------------

_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq", "dds"})
_PARTICLES = frozenset({
    "de", "del", "della", "der", "den", "di", "da", "dos", "das", "do", "du", "la", "le",
    "van", "von", "st", "saint", "bin", "ibn", "al", "el", "ter", "ten", "y", "e",
})
_TOKEN = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


@dataclass(frozen=True)
class PersonName:
    """A parsed personal name, folded: given name, middle names, surname (may be compound)."""

    given: str
    middles: tuple[str, ...]
    surname: str

    @property
    def display(self) -> str:
        return " ".join([self.given, *self.middles, self.surname]).strip()


def parse_name(name: str) -> PersonName | None:
    """Parse "First [Middle...] Last" or "Last, First [Middle...]"; ``None`` if no letters.

    Generational suffixes (Jr., III) are dropped; surname particles (de la, van, St.) stay with
    the surname, so "Juan de la Cruz" has the surname "de la cruz".
    """
    folded = fold(name)
    if "," in folded:
        last, _, rest = folded.partition(",")
        last_tokens = [t for t in _TOKEN.findall(last) if t not in _SUFFIXES]
        rest_tokens = [t for t in _TOKEN.findall(rest) if t not in _SUFFIXES]
        if last_tokens and rest_tokens:
            return PersonName(rest_tokens[0], tuple(rest_tokens[1:]), " ".join(last_tokens))
        folded = last + " " + rest
    tokens = [t for t in _TOKEN.findall(folded) if t.strip(".") not in _SUFFIXES]
    if not tokens:
        return None
    if len(tokens) == 1:
        return PersonName(tokens[0], (), "")
    i = len(tokens) - 1
    while i - 1 >= 1 and tokens[i - 1] in _PARTICLES:
        i -= 1
    return PersonName(tokens[0], tuple(tokens[1:i]), " ".join(tokens[i:]))


def _alt(words: set[str] | frozenset[str]) -> str:
    ordered = sorted(words, key=lambda w: (-len(w), w))
    return "(?:" + "|".join(_word_regex(w) for w in ordered) + ")"


def _word_regex(word: str) -> str:
    # inside a name, a space or hyphen may be written either way ("rivera-lopez", "rivera lopez")
    parts = [re.escape(p) for p in re.split(r"[\s-]+", word) if p]
    return r"[\s-]+".join(parts)


@lru_cache(maxsize=1024)
def name_patterns(name: str) -> tuple[re.Pattern[str], ...]:
    """Compiled patterns that find ``name`` in FOLDED text, in its usual written forms.

    Forms: given (or any nickname) + up to two middle tokens (an initial, or one of the
    person's own middle names, or a quoted nickname) + surname; and "Surname, Given [Middle]".
    The surname must be the whole surname token: "Rivera" never matches "Rivers" or
    "Rivera-Smith". A name with no surname matches as a single whole word.
    """
    parsed = parse_name(name)
    if parsed is None:
        return ()
    given = _alt(given_name_variants(parsed.given))
    left, right = r"(?<![\w@-])", r"(?![\w@]|-\w)"
    if not parsed.surname:
        return (re.compile(left + given + right),)
    mids: set[str] = set()
    for m in parsed.middles:
        mids |= given_name_variants(m)
    middle_choices = [r"[a-z]\.?", r"[\"'(]" + given + r"[\"')]"]
    if mids:
        middle_choices.append(_alt(mids))
    middle = r"(?:\s+(?:" + "|".join(middle_choices) + r")){0,2}"
    surname = _word_regex(parsed.surname)
    forward = left + given + middle + r"\s+" + surname + right
    reverse = left + surname + r"\s*,\s*" + given + middle + right
    return (re.compile(forward), re.compile(reverse))


@lru_cache(maxsize=1024)
def initial_patterns(name: str) -> tuple[re.Pattern[str], ...]:
    """Patterns that find ``name`` written with initials, in FOLDED text: the given name (or an
    equivalent) with the surname's initial ("Mari G.", "Alex R"), and the given name's initial
    with the full surname ("M. Gutierrez"). Partial names: weaker than the full name, and the
    caller checks the original text's case (an initial is a capital letter; "Mari G. Lopez" is
    someone whose surname is Lopez).
    """
    parsed = parse_name(name)
    if parsed is None or not parsed.surname:
        return ()
    given = _alt(given_name_variants(parsed.given))
    left = r"(?<![\w@.-])"
    surname_initial = re.escape(parsed.surname[0])
    given_initial = re.escape(parsed.given[0])
    surname = _word_regex(parsed.surname)
    return (
        re.compile(left + given + r"(?:\s+[a-z]\.)?\s+" + surname_initial + r"(?:\.|(?![\w@'-]))"),
        re.compile(left + given_initial + r"(?:\.\s*|\s+)" + surname + r"(?![\w@]|-\w)"),
    )
