"""The firewall: keep protected characteristics out of what hiring staff read.

Design invariant 6. Hiring decisions must not be made, or appear to be made, on race,
ethnicity, color, national origin, religion, sex, pregnancy, sexual orientation, gender
identity, disability or health, age, or genetic information (Title VII, the ADA, the ADEA,
GINA, the Pregnancy Discrimination Act). Internet content reveals these constantly, so every
mention is masked in the hiring-staff report: ``[protected: religion]`` replaces "Catholic".

The one exception is bias speech (policy 261-1 IV.A.6.a): there the protected words ARE the
conduct ("filthy immigrants"), so the caller passes the spans of flags from categories marked
``protected_conduct`` as ``keep_spans`` and mentions wholly inside them are kept.

Political opinion is not a protected characteristic here and is never masked: it is simply not
screened (no category may target it).

Detection is a curated lexicon (``vetting/data/protected_terms.txt``) plus patterns for ages,
birth dates and "born in <country>". It is matched on folded text (case, diacritics, ligatures,
zero-width characters) and plural forms, and it errs toward masking: an ordinary use of a word
("French fries") is masked too, because a missed mention cannot be taken back from a reader.
There is no size cap: everything is masked, in time linear in the text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from vetting.screening.names import FoldedText, fold, fold_text

__all__ = [
    "CHARACTERISTICS",
    "Mask",
    "MaskedText",
    "Mention",
    "find_protected",
    "load_lexicon",
    "mask_label",
    "mask_protected",
]

#: The protected characteristics, as used in ``Mention.characteristic``.
CHARACTERISTICS = (
    "race", "ethnicity", "color", "national_origin", "religion", "sex", "pregnancy",
    "sexual_orientation", "gender_identity", "disability_health", "age", "genetic_information",
)


@dataclass(frozen=True)
class Mention:
    """A protected characteristic mentioned at ``text[start:end]`` of the original text."""

    characteristic: str
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Mask:
    """One replacement: original ``[start, end)`` became output ``[out_start, out_end)``.

    The masked words are deliberately not stored: the masked text travels to hiring staff.
    """

    characteristic: str
    start: int
    end: int
    out_start: int
    out_end: int


@dataclass(frozen=True)
class MaskedText:
    """The text with every protected mention outside the keep spans replaced."""

    text: str
    masks: tuple[Mask, ...]

    def position(self, original: int) -> int:
        """Map an offset of the original text to the masked text (for highlighting a flag).
        An offset inside a mask maps to the start of its replacement."""
        shift = 0
        for m in self.masks:
            if original < m.start:
                break
            if original < m.end:
                return m.out_start
            shift = m.out_end - m.end
        return original + shift

    @property
    def characteristics(self) -> frozenset[str]:
        return frozenset(m.characteristic for m in self.masks)


def mask_label(characteristic: str) -> str:
    """The replacement text for a characteristic: ``[protected: national origin]``."""
    return f"[protected: {characteristic.replace('_', ' ')}]"


_LABEL = re.compile(r"\[protected: [a-z ]+\]")


# --- lexicon ---------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+")
# tokens of one phrase may be separated by these only (not by . , ; : ! ? or a line break)
_JOINER = re.compile(r"[ \t\-'/\u00a0]*")


def _plurals(word: str) -> set[str]:
    if not word.isalpha() or len(word) < 3:
        return {word}
    if word.endswith("man"):
        return {word, word[:-3] + "men"}
    if word.endswith("y") and word[-2] not in "aeiou":
        return {word, word[:-1] + "ies"}
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return {word, word + "es"}
    return {word, word + "s"}


@lru_cache(maxsize=1)
def load_lexicon() -> dict[tuple[str, ...], str]:
    """Token tuples (folded, with plurals) -> characteristic, from the data file."""
    text = resources.files("vetting").joinpath("data/protected_terms.txt").read_text("utf-8")
    lexicon: dict[tuple[str, ...], str] = {}
    section = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
            if section not in CHARACTERISTICS:
                raise ValueError(f"protected_terms.txt line {lineno}: unknown section {section!r}")
            continue
        if not section:
            raise ValueError(f"protected_terms.txt line {lineno}: term before any section")
        tokens = _TOKEN.findall(fold(line))
        if not tokens:
            continue
        for last in _plurals(tokens[-1]):
            lexicon.setdefault((*tokens[:-1], last), section)
    return lexicon


@lru_cache(maxsize=1)
def _index() -> tuple[dict[str, int], dict[tuple[str, ...], str]]:
    """First token -> longest phrase length starting with it (so lookups stay linear)."""
    lexicon = load_lexicon()
    longest: dict[str, int] = {}
    for key in lexicon:
        longest[key[0]] = max(longest.get(key[0], 0), len(key))
    return longest, lexicon


# --- patterns --------------------------------------------------------------------------------

_NUM_AGE = r"(?:1[0-1]\d|[1-9]?\d)"
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
_DATE = (r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{1,2}-\d{1,2}|" + _MONTH +
         r"\s+\d{1,2}(?:st|nd|rd|th)?(?:,?\s+\d{4})?|\d{1,2}(?:st|nd|rd|th)?\s+(?:of\s+)?" +
         _MONTH + r"(?:,?\s+\d{4})?)")
_WORD_AGE = (r"(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-]*(?:one|two|three|"
             r"four|five|six|seven|eight|nine))?|eighteen|nineteen)")
_DECADES = (r"(?:teens|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|"
            r"[1-9]0'?s)")
_NOT_AN_AGE = (r"(?!\s*(?:%|percent|min|minute|hour|hr|sec|second|mile|mi\b|km|lb|pound|kg|"
               r"mph|dollar|buck|k\b|times|x\b|feet|ft\b|inch|degree|points?|pts|days?|weeks?|"
               r"months?|am\b|pm\b|\.\d|,\d))")
_COUNTRIES = (
    "mexico|guatemala|el salvador|honduras|nicaragua|costa rica|panama|cuba|dominican republic|"
    "puerto rico|haiti|jamaica|colombia|venezuela|ecuador|peru|bolivia|chile|argentina|brazil|"
    "canada|ireland|italy|germany|france|poland|ukraine|russia|greece|portugal|spain|sweden|"
    "norway|netherlands|bosnia|serbia|croatia|albania|romania|hungary|china|japan|korea|"
    "vietnam|philippines|thailand|laos|cambodia|myanmar|burma|indonesia|malaysia|india|"
    "pakistan|bangladesh|nepal|sri lanka|afghanistan|iran|iraq|syria|lebanon|palestine|gaza|"
    "israel|jordan|egypt|turkey|saudi arabia|yemen|morocco|algeria|nigeria|ghana|kenya|"
    "ethiopia|eritrea|somalia|sudan|congo|liberia|south africa|england|scotland|wales|"
    "the uk|the philippines|the dominican republic|another country|overseas|abroad"
)
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("age", re.compile(r"(?<![\w'])(?:i'm|im|i\s+am|she's|he's|they're|she\s+is|he\s+is|aged?|"
                       r"age\s*:|turn(?:ed|ing|s)?)\s*(?:now\s+|only\s+|almost\s+|nearly\s+|"
                       r"just\s+)?" + _NUM_AGE + r"(?!\d)" + _NOT_AN_AGE)),
    ("age", re.compile(r"(?<!\d)" + _NUM_AGE + r"[\s-]*(?:years?|yrs?)[\s-]*old\b")),
    ("age", re.compile(r"(?<![\w'])(?:i'm|im|i\s+am|she's|he's|she\s+is|he\s+is|turn(?:ed|ing|s)?)"
                       r"\s+(?:now\s+|only\s+|almost\s+|nearly\s+|just\s+)?" + _WORD_AGE + r"\b")),
    ("age", re.compile(r"\b" + _WORD_AGE + r"[\s-]*(?:years?|yrs?)[\s-]*(?:old|young)\b")),
    ("age", re.compile(r"(?<![\d.])" + _NUM_AGE + r"\s*(?:y/o|yo|y\.o\.)(?!\w)")),
    ("age", re.compile(r"(?<!\d)" + _NUM_AGE + r"(?:st|nd|rd|th)\s+(?:birthday|bday|b-day)\b")),
    ("age", re.compile(r"\b(?:born|b\.)\s+(?:in\s+|on\s+)?(?:" + _DATE + r"|(?:19|20)\d{2})"
                       r"(?!\d)")),
    ("age", re.compile(r"\b(?:dob|d\.o\.b\.?|date\s+of\s+birth|birth\s*date|birthday)\s*:?\s*"
                       + _DATE)),
    ("age", re.compile(r"\bclass\s+of\s+(?:19|20)?'?\d{2}\b")),
    ("age", re.compile(r"\b(?:in\s+(?:my|his|her|their)\s+)(?:early\s+|mid[\s-]*|late\s+)?"
                       + _DECADES + r"\b")),
    ("age", re.compile(r"\b(?:over|under)\s+(?:the\s+age\s+of\s+)?(?:40|50|60|65|70)\s+"
                       r"(?:years?\s+old|and\b)")),
    ("national_origin", re.compile(
        r"\b(?:born|raised|grew\s+up|immigrated|emigrated|came\s+here|moved\s+here|deported|"
        r"my\s+(?:family|parents)\s+(?:is|are|came)|i'm|i\s+am)\s+(?:in|from|to)\s+"
        r"(?:" + _COUNTRIES + r")\b")),
    ("pregnancy", re.compile(r"\b(?:\d{1,2}|a\s+few|two|three|four|five|six|seven|eight|nine)\s+"
                             r"(?:weeks?|months?)\s+pregnant\b")),
    ("pregnancy", re.compile(r"\b(?:we're|we\s+are|i'm|i\s+am|she's|she\s+is)\s+expecting\b")),
    ("pregnancy", re.compile(r"\bbab(?:y|ies)\b(?:\s+[\w']+){0,2}\s+(?:is|are)\s+due\b")),
)


# --- detection and masking -------------------------------------------------------------------


def _lexicon_mentions(ft: FoldedText) -> Iterable[tuple[int, int, str]]:
    longest, lexicon = _index()
    folded = ft.folded
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(folded)]
    i, n = 0, len(tokens)
    while i < n:
        first = tokens[i][2]
        span = longest.get(first, 0)
        hit = 0
        if span:
            # extend while the separator is a joiner (space, hyphen, apostrophe, slash)
            words = [first]
            j = i
            while len(words) < span and j + 1 < n and _JOINER.fullmatch(
                    folded, tokens[j][1], tokens[j + 1][0]):
                j += 1
                words.append(tokens[j][2])
            for k in range(len(words), 0, -1):
                if tuple(words[:k]) in lexicon:
                    hit = k
                    yield tokens[i][0], tokens[i + k - 1][1], lexicon[tuple(words[:k])]
                    break
        i += hit or 1


def find_protected(text: str) -> list[Mention]:
    """Every mention of a protected characteristic in ``text``, in order, overlaps merged
    (the longer mention's characteristic wins). Offsets point into ``text`` as given. Words
    inside existing ``[protected: ...]`` labels are not mentions, so masked text is clean."""
    ft = fold_text(text)
    found: list[tuple[int, int, str]] = list(_lexicon_mentions(ft))
    for characteristic, rx in _PATTERNS:
        found += [(m.start(), m.end(), characteristic) for m in rx.finditer(ft.folded)
                  if m.end() > m.start()]
    found.sort(key=lambda t: (t[0], -t[1]))
    merged: list[list[int | str]] = []
    for s, e, c in found:
        if merged and s < merged[-1][1]:  # type: ignore[operator]
            last = merged[-1]
            if e - s > last[1] - last[0]:  # type: ignore[operator]
                last[2] = c
            last[1] = max(last[1], e)  # type: ignore[call-overload]
        else:
            merged.append([s, e, c])
    labels = [m.span() for m in _LABEL.finditer(text)]
    out = []
    for s, e, c in merged:
        a, b = ft.span(s, e)  # type: ignore[arg-type]
        if not _inside(a, b, labels):  # "[protected: religion]" is our label, not a mention
            out.append(Mention(str(c), a, b, text[a:b]))
    return out


def _inside(start: int, end: int, spans: Sequence[tuple[int, int]]) -> bool:
    return any(ks <= start and end <= ke for ks, ke in spans)


def mask_protected(text: str, keep_spans: Iterable[tuple[int, int]] = ()) -> MaskedText:
    """Replace every protected mention that is not WHOLLY inside a keep span.

    ``keep_spans`` are ``(start, end)`` offsets of flags from ``protected_conduct`` categories
    (``ScreeningResult.keep_spans()``). A mention straddling a keep span's edge is masked:
    the firewall errs toward privacy. Existing ``[protected: ...]`` labels are left alone, so
    masking twice changes nothing.
    """
    keep = sorted((int(s), int(e)) for s, e in keep_spans if e > s)
    pieces: list[str] = []
    masks: list[Mask] = []
    pos = out_len = 0
    for mention in find_protected(text):
        if _inside(mention.start, mention.end, keep):
            continue
        pieces.append(text[pos:mention.start])
        out_len += mention.start - pos
        label = mask_label(mention.characteristic)
        masks.append(Mask(mention.characteristic, mention.start, mention.end, out_len,
                          out_len + len(label)))
        pieces.append(label)
        out_len += len(label)
        pos = mention.end
    pieces.append(text[pos:])
    return MaskedText("".join(pieces), tuple(masks))
