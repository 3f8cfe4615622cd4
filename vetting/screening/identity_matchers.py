"""The identifier matchers behind :func:`vetting.screening.identity.assess_identity`.

Each matcher looks for one class of the candidate's identifiers on a page (disclosed accounts
and cross-links, emails, phones in E.164, usernames, the full name, aliases and initials,
location) and reports what it finds, with where and the surrounding text, to the assessment's
collector; the location matcher also reports statements about the person that contradict the
candidate's city or state. Date of birth, age and birth year are in
:mod:`vetting.screening.identity_birth`; the descriptors after a name in :mod:`vetting.screening.identity_statements`.
Also :func:`normalize_url`, the comparable form of a URL that disclosed accounts and
cross-links are matched on. Pure functions: no I/O.
"""

from __future__ import annotations

import re
from contextlib import suppress
from itertools import islice
from urllib.parse import SplitResult, parse_qsl, unquote, urlencode, urlsplit

import phonenumbers

from vetting.screening.identity_evidence import CandidateIdentifiers, PageEvidence, _Collector, _Field, _original
from vetting.screening.identity_statements import STATE_BY_NAME, STATES, names_a_state, near_name_statements
from vetting.screening.names import (
    fold,
    fold_text,
    given_name_variants,
    initial_patterns,
    name_patterns,
    parse_name,
)

# --- URLs ------------------------------------------------------------------------------------

_TRACKING = re.compile(r"^(?:utm_\w+|fbclid|gclid|igshid|si|ref|ref_src)$", re.IGNORECASE)


def _split(url: str) -> SplitResult:
    """``urlsplit`` that never raises on hostile input ("http://[::1" is just text then)."""
    raw = url.strip()
    if "://" not in raw:
        raw = "http://" + raw.lstrip("/")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises on a bad port
        return parts
    except ValueError:
        return SplitResult("http", "", raw.split("://", 1)[1], "", "")


def normalize_url(url: str) -> str:
    """A comparable form of a URL: no scheme, lower-case host without ``www.``, no default
    port, no trailing slash, no fragment, no tracking parameters, remaining query sorted.

    The path keeps its case: many sites' paths are case-sensitive, and a disclosed-account
    match must never come from a near miss.
    """
    parts = _split(url)
    host = (parts.hostname or "").lower().rstrip(".").removeprefix("www.")
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" + ("" if port in (None, 80, 443) else f":{port}")
    path = unquote(parts.path).rstrip("/")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k)]
    q = urlencode(sorted(query))
    return netloc + path + ("?" + q if q else "")


def _is_under(page: str, disclosed: str) -> bool:
    """The page is the disclosed URL or a page beneath its path (a post of that account)."""
    if page == disclosed:
        return True
    if "?" in disclosed or "/" not in disclosed:
        return False  # a bare host is too broad to claim every page under it
    return page.startswith((disclosed + "/", disclosed + "?"))


# --- page fields -----------------------------------------------------------------------------


# --- the matchers ----------------------------------------------------------------------------

# accounts and cross-links

def _accounts(ids: CandidateIdentifiers, page: PageEvidence, fields: list[_Field],
              out: _Collector) -> None:
    disclosed = {normalize_url(u): u for u in ids.profile_urls if u.strip()}
    page_norm = normalize_url(page.url) if page.url else ""
    for norm, original in disclosed.items():
        if page_norm and _is_under(page_norm, norm):
            out.match("disclosed_account", original, None, 0, 0, where="url")
    if page.linked_from_disclosed:
        # the value names the disclosed profile that links here, never how the page was reached
        out.match("cross_link", page.linked_from or "a disclosed account links here", None, 0, 0,
                  where="linked_from_disclosed")
    for i, link in enumerate(page.links):
        norm = normalize_url(link)
        if norm in disclosed and not (page_norm and _is_under(page_norm, norm)):
            out.match("cross_link", disclosed[norm], None, 0, 0, where=f"links[{i}]")
    for norm, original in disclosed.items():
        if page_norm and _is_under(page_norm, norm):
            continue
        rx = re.compile(r"(?<![\w-])(?:www\.)?" + re.escape(fold(norm)) + r"(?![\w-]|/\w)")
        for f in fields:
            for m in rx.finditer(f.text.folded):
                out.match("cross_link", original, f, m.start(), m.end())


# email and phone

def _emails(ids: CandidateIdentifiers, page: PageEvidence, fields: list[_Field],
            out: _Collector) -> None:
    for email in {fold(e.strip()) for e in ids.emails if "@" in e}:
        rx = re.compile(r"(?<![\w.+-])" + re.escape(email) + r"(?![\w-]|\.\w)")
        for f in fields:
            for m in rx.finditer(f.text.folded):
                out.match("email", email, f, m.start(), m.end())
        for i, link in enumerate(page.links):
            if rx.search(fold(unquote(link))):
                out.match("email", email, None, 0, 0, where=f"links[{i}]")


_PHONE = re.compile(r"(?<![\d\w])\+?\d[\d \t().\-]{5,18}\d(?!\d)")
#: Numbers written without a country code are read as numbers of this region, unless the
#: candidate's own numbers say otherwise (then each of their regions is tried).
DEFAULT_PHONE_REGION = "US"


def e164(raw: str, region: str = DEFAULT_PHONE_REGION) -> str | None:
    """``raw`` in E.164 (``+18165550142``), or None when it cannot be a complete number.

    Parsed by Google's libphonenumber rules (the ``phonenumbers`` package): any punctuation,
    a national trunk prefix, ``+``/``00`` international forms. A number without its area code
    ("555-0142") is not a complete number and is never compared.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    # IS_POSSIBLE only: a local-only number ("555-0142", no area code) is not a whole number
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _candidate_phones(ids: CandidateIdentifiers) -> tuple[dict[str, str], list[str]]:
    """(E.164 -> the number as the candidate gave it, regions to read page numbers in)."""
    wanted: dict[str, str] = {}
    regions = [DEFAULT_PHONE_REGION]
    for raw in ids.phones:
        number = e164(raw)
        if number is None:
            continue
        wanted[number] = raw
        with suppress(phonenumbers.NumberParseException):
            region = phonenumbers.region_code_for_number(phonenumbers.parse(number))
            if region and region not in regions:
                regions.append(region)
    return wanted, regions


def _phones(ids: CandidateIdentifiers, page: PageEvidence, fields: list[_Field],
            out: _Collector) -> None:
    wanted, regions = _candidate_phones(ids)
    if not wanted:
        return
    # parsing is the costly part: a run of digits is parsed only when it holds one of the
    # candidate's national numbers, and each distinct run once
    nationals = {str(phonenumbers.parse(n).national_number) for n in wanted}
    parsed: dict[str, str | None] = {}

    def same(raw: str) -> str | None:
        if raw not in parsed:
            parsed[raw] = None
            if any(n in re.sub(r"\D", "", raw) for n in nationals):
                parsed[raw] = next((e for r in regions if (e := e164(raw, r)) in wanted), None)
        return parsed[raw]

    def find(raw: str) -> str | None:
        number = same(raw)
        if number is None and " " in raw.strip():
            # "816-555-0177 816-555-0178": a list of numbers read as one run; try its pieces
            tokens = raw.split()
            for i in range(len(tokens)):
                for j in range(i + 1, min(len(tokens), i + 4) + 1):
                    if (i, j) != (0, len(tokens)) and (number := same(" ".join(tokens[i:j]))):
                        return number
        return number

    for f in fields:
        for m in _PHONE.finditer(f.text.folded):
            number = find(m.group())
            if number:
                out.match("phone", number, f, m.start(), m.end())
    for i, link in enumerate(page.links):
        if link.lower().startswith("tel:"):
            number = same(unquote(link[4:]))
            if number:
                out.match("phone", number, None, 0, 0, where=f"links[{i}]")


# usernames

def _usernames(ids: CandidateIdentifiers, page: PageEvidence, fields: list[_Field],
               out: _Collector) -> None:
    name_tokens: set[str] = set()
    for n in [ids.full_name, *ids.aliases]:
        p = parse_name(n)
        if p:
            name_tokens |= {p.given, *p.middles, *p.surname.split()}
    parts = _split(page.url)
    segments = [fold(unquote(s)).lstrip("@") for s in parts.path.split("/") if s]
    labels = (parts.hostname or "").lower().split(".")
    made_of_name = _name_made_regex(ids)
    for u in {fold(x.strip()).lstrip("@") for x in ids.usernames if x.strip()}:
        if len(u) < 3:
            continue  # two letters are a coincidence, not an identifier
        # "alexrivera" is a handle any Alex Rivera may hold; "arivera96" is rarer
        strong = not (made_of_name and made_of_name.fullmatch(re.sub(r"[\W_]+", "", u)))
        if u in segments or (len(labels) >= 3 and labels[0] == u):
            out.match("username", u, None, 0, 0, where="url", strong=strong)
        free_text_ok = len(u) >= 4 and u not in name_tokens
        rx = re.compile(r"(?<![\w.@-])@?" + re.escape(u) + r"(?![\w@-]|\.\w)")
        for f in fields:
            if f.name != "author" and not free_text_ok:
                continue
            for m in rx.finditer(f.text.folded):
                out.match("username", u, f, m.start(), m.end(), strong=strong)


def _name_made_regex(ids: CandidateIdentifiers) -> re.Pattern[str] | None:
    """Matches a handle made only of the candidate's names and initials ("alexrivera",
    "riveraalex", "arivera"): such a handle is an identifier, but not a strong one."""
    parts: set[str] = set()
    for n in [ids.full_name, *ids.aliases]:
        p = parse_name(n)
        if p is None:
            continue
        for w in [p.given, *p.middles, *p.surname.replace("-", " ").split()]:
            w = re.sub(r"\W+", "", w)
            if w:
                parts |= {w, w[0]}
        parts |= {re.sub(r"\W+", "", v) for v in given_name_variants(p.given)}
    parts.discard("")
    if not parts:
        return None
    return re.compile("(?:" + "|".join(sorted(map(re.escape, parts), key=len, reverse=True)) + ")+")


# names

def _names(ids: CandidateIdentifiers, page: PageEvidence, fields: list[_Field],
           out: _Collector) -> list[tuple[int, int]]:
    """Find the full name, the aliases and their initial forms; return the folded spans of the
    name matches in the text (the places where statements about the person are looked for)."""
    main = parse_name(ids.full_name)
    forms: list[tuple[str, str]] = [("full_name", ids.full_name)]
    for alias in ids.aliases:
        p = parse_name(alias)
        if p is None:
            continue
        if not p.surname and main is not None and main.surname:
            alias = f"{alias} {main.surname}"  # a bare nickname only counts with the surname
        forms.append(("alias", alias))
    path = unquote(_split(page.url).path)
    slug = _Field("url", fold_text(re.sub(r"[-_.+/]", " ", path)))
    text_spans: list[tuple[int, int]] = []
    for kind, name in forms:
        for rx in name_patterns(name):
            for f in [*fields, slug]:
                for m in rx.finditer(f.text.folded):
                    if f.name == "text":
                        text_spans.append((m.start(), m.end()))
                    if f is slug:
                        out.match(kind, name, None, 0, 0, where="url")
                    else:
                        out.match(kind, name, f, m.start(), m.end())
    for _, name in forms:
        for rx in initial_patterns(name):
            for f in fields:
                # partial names are weak: the first ones on the page are enough to list
                for m in islice(rx.finditer(f.text.folded), MAX_PARTIAL_NAMES):
                    if not _written_as_initials(f, m.start(), m.end()):
                        continue
                    if f.name == "text":
                        text_spans.append((m.start(), m.end()))
                    out.match("partial_name", name, f, m.start(), m.end())
    return sorted(text_spans)


#: Initial forms ("Mari G.") read per field and pattern at most.
MAX_PARTIAL_NAMES = 200
_NEXT_CAPITALIZED = re.compile(r"[ \t]+[A-Z][a-z]")


def _written_as_initials(f: _Field, start: int, end: int) -> bool:
    """An initial form counts only as people write names: capital initials ("M. Gutierrez",
    "Mari G."), and a surname initial not followed by a capitalized word ("Mari G. Lopez" is
    a Lopez, "Mari G" in "Mari Gomez" never matched)."""
    a, b = f.text.span(start, end)
    words = re.findall(r"[^\W\d_]+", f.text.original[a:b])
    if not words or not words[0][0].isupper() or not words[-1][0].isupper():
        return False
    if len(words[-1]) == 1:  # given name + surname initial
        return not _NEXT_CAPITALIZED.match(f.text.original, b)
    return True


# location

_STATES = STATES
_STATE_BY_NAME = STATE_BY_NAME
_CITY_ABBR = {"st": r"(?:st\.?|saint)", "saint": r"(?:st\.?|saint)", "ft": r"(?:ft\.?|fort)",
              "fort": r"(?:ft\.?|fort)", "mt": r"(?:mt\.?|mount)", "mount": r"(?:mt\.?|mount)"}
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")
_MINOR = frozenset({"of", "the", "de", "la", "le", "du", "del", "on", "upon", "and"})


def _state_forms(state: str) -> tuple[str, str]:
    """(ABBR, folded full name) of a state as given; the abbreviation may be empty."""
    s = state.strip().rstrip(".")
    if len(s) == 2 and s.upper() in _STATES:
        return s.upper(), fold(_STATES[s.upper()])
    abbr = _STATE_BY_NAME.get(fold(s), "")
    return abbr, fold(s)


def _city_regex(city: str) -> re.Pattern[str] | None:
    words = _WORD.findall(fold(city))
    if not words:
        return None
    body = r"[\s.]+".join(_CITY_ABBR.get(w, re.escape(w)) for w in words)
    return re.compile(r"(?<![\w-])" + body + r"(?![\w-])")


def _capitalized(s: str) -> bool:
    words = [w for w in _WORD.findall(s) if w.lower() not in _MINOR]
    return bool(words) and all(w[0].isupper() for w in words)


def _state_after(f: _Field, end: int, abbr: str, state_name: str) -> bool:
    """The candidate's state is named within 40 characters after the city, same sentence."""
    window = re.split(r"[!?\n]|\.\s", f.text.folded[end:end + 40], maxsplit=1)[0]
    if state_name and re.search(r"(?<!\w)" + re.escape(state_name).replace(r"\ ", r"\s+")
                                + r"(?!\w)", window):
        return True
    if abbr:
        # abbreviations count in upper case only: "IN", "OR", "ME", "OK" are also words
        a, b = f.text.span(end, end + len(window))
        return re.search(r"(?<![A-Za-z])" + abbr + r"(?![A-Za-z])", f.text.original[a:b]) is not None
    return False


def _location(ids: CandidateIdentifiers, fields: list[_Field], name_spans: list[tuple[int, int]],
              out: _Collector) -> None:
    abbr, state_name = _state_forms(ids.state) if ids.state.strip() else ("", "")
    city_rx = _city_regex(ids.city) if ids.city.strip() else None
    if city_rx is not None:
        for f in fields:
            for m in city_rx.finditer(f.text.folded):
                if _state_after(f, m.end(), abbr, state_name):
                    out.match("location", f"{ids.city}, {ids.state}", f, m.start(), m.end())
                elif _capitalized(_original(f, m.start(), m.end())):
                    # a lower-case "independence" is a word, "Independence" may be the city
                    out.match("location", ids.city, f, m.start(), m.end())
    initials = city_initials(ids.city, abbr)
    if initials:
        rx = re.compile(r"(?<![\w@#/.-])(?:" + "|".join(sorted(initials, key=len, reverse=True))
                        + r")(?![\w@/-]|\.\w)")
        for f in fields:
            for m in rx.finditer(f.text.folded):
                # "KC" or "KCMO" in capitals only: "kc" in running text may be anything
                if _original(f, m.start(), m.end()).isupper():
                    out.match("location", f"{ids.city} ({m.group().upper()})", f, m.start(), m.end())
    _location_contradictions(ids, fields, name_spans, city_rx, abbr, state_name, out)


def city_initials(city: str, state_abbr: str = "") -> frozenset[str]:
    """The folded initials of a city of two or more words, alone and with the state's
    abbreviation: Kansas City, MO gives "kc" and "kcmo". A one-word city has none."""
    words = [w for w in _WORD.findall(fold(city)) if w not in _MINOR]
    if len(words) < 2:
        return frozenset()
    short = "".join(w[0] for w in words)
    return frozenset({short} | ({short + state_abbr.lower()} if state_abbr else set()))


_LIVES = re.compile(
    r"(?<![\w'])(?:"
    r"(?:(?:i|we)\s+(?:now\s+|currently\s+|still\s+)?live|i'm\s+living|i\s+am\s+living|lives|"
    r"living|based|residing|resides|located)\s+in"
    r"|(?:i'm|im|i\s+am|is|hails?|hailing)\s+from"
    r"|resident\s+of"
    r"|(?:moved|moving|relocated|relocating)\s+to"
    r")\s+"
    r"|(?:^|\n)[ \t]*(?:location|lives\s+in|current\s+city|city)\s*:\s*"
    r"|(?:^|\n)[ \t]*from[ \t]+")  # a profile line "From Denver, CO"
_PLACE_WORD = r"(?:(?:St|Ft|Mt)\.|[A-Z][\w'-]*)"
_PLACE = re.compile(r"(" + _PLACE_WORD + r"(?:[ \t]+(?:" + _PLACE_WORD + r"|of|de|la))*"
                    r"(?:,[ \t]*[A-Z][\w]*(?:[ \t]+[A-Z]\w*)?)?)")
_NOT_PLACES = frozenset({"the", "my", "a", "an", "here", "there", "home", "town", "work", "it",
                         "this", "that", "his", "her", "their", "our", "your", "i", "he", "she",
                         "we", "they", "january", "february", "march", "april", "may", "june",
                         "july", "august", "september", "october", "november", "december",
                         "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                         "sunday", "heaven", "hell", "fear", "love", "faith", "god"})
_FIRST_PERSON_TAIL = re.compile(r"(?:^|[^\w'])(?:i|i'm|im|i've|we|we're|me)(?:[^\w\n]+\w+){0,2}"
                                r"[^\w\n]*$")


_NOT_SELF = re.compile(r"'s\b|\b(?:my|his|her|their|whose|and|with|friend|brother|sister|"
                       r"mother|mom|father|dad|son|daughter|wife|husband|cousin|uncle|aunt)\b")


def _about_the_person(f: _Field, trigger_start: int, trigger: str,
                      name_spans: list[tuple[int, int]]) -> bool:
    """A location or age statement counts only when it is about the person, not a relative:
    first person ("I live in"), a profile field ("Location: ..." or a line starting "Lives
    in"), or right after the candidate's own name ("Alex Rivera, who lives in")."""
    words = trigger.split()
    if ":" in trigger or (words and words[0] in ("i", "we", "i'm", "im")):
        return True
    window_start = max(0, trigger_start - 200)  # bounded: a page may be one 2 MB line
    line_start = f.text.folded.rfind("\n", window_start, trigger_start) + 1 or window_start
    prefix = f.text.folded[max(line_start, window_start):trigger_start]
    if not prefix.strip(" \t-*•|:>"):
        return True
    if _FIRST_PERSON_TAIL.search(prefix[-40:]):
        return True
    return any(0 <= trigger_start - e <= 40 and "\n" not in f.text.folded[e:trigger_start]
               and not _NOT_SELF.search(f.text.folded[e:trigger_start])
               for _, e in name_spans)


# news style right after the name: "Taylor Brooks, 58, of Springfield" (the age makes "of" a
# residence), or "Taylor Brooks of Springfield, Illinois" (a state makes it a place, not "of Acme")
_NAME_AGE_OF = re.compile(r"\s*,\s*(?:age\s+|aged\s+)?\d{1,2}\s*,\s*of\s+")
_NAME_OF = re.compile(r"\s*,?\s*of\s+")


def _location_contradictions(ids: CandidateIdentifiers, fields: list[_Field],
                             name_spans: list[tuple[int, int]], city_rx: re.Pattern[str] | None,
                             abbr: str, state_name: str, out: _Collector) -> None:
    if city_rx is None and not state_name:
        return
    expected = ", ".join(x for x in (ids.city, ids.state) if x)
    initials = city_initials(ids.city, abbr)

    def check(f: _Field, start: int, end: int, need_state: bool) -> None:
        a, _ = f.text.span(end, end)
        pm = _PLACE.match(f.text.original, a)
        if pm is None:
            return
        place = pm.group(1).rstrip(".,")
        words = _WORD.findall(fold(place))
        if not words or words[0] in _NOT_PLACES:
            return
        if need_state and not _names_a_state(place.partition(",")[2]):
            return
        if not _place_fits(place, city_rx, abbr, state_name, initials):
            out.contradict("location", place, expected, f, start, end + len(place))

    for f in fields:
        spans = name_spans if f.name == "text" else []
        for t in _LIVES.finditer(f.text.folded):
            if _about_the_person(f, t.start(), t.group(), spans):
                check(f, t.start(), t.end(), need_state=False)
        for s, e in spans:
            m = _NAME_AGE_OF.match(f.text.folded, e)
            if m:
                check(f, s, m.end(), need_state=False)
                continue
            m = _NAME_OF.match(f.text.folded, e)
            if m:
                check(f, s, m.end(), need_state=True)
        if f.name != "text":
            continue
        # the descriptors right after the name: "Maria Gutierrez, Phoenix AZ, born 1971"
        for st in near_name_statements(f.text, spans):
            if st.kind == "place" and not _place_fits(st.value, city_rx, abbr, state_name, initials):
                out.contradict("location", st.value, expected, f, st.start, st.end)


_names_a_state = names_a_state


def _place_fits(place: str, city_rx: re.Pattern[str] | None, abbr: str, state_name: str,
                initials: frozenset[str] = frozenset()) -> bool:
    """Does a stated place agree with the candidate's city/state? "Kansas City, KS" does not
    agree with Kansas City, MO; "Kansas City area", "KC" and "Missouri" do."""
    city_part, _, state_part = place.partition(",")
    city_folded = fold(city_part).strip()
    if city_folded in initials:
        return not state_part.strip() or fold(state_part.strip()) in (state_name, abbr.lower())
    sp = state_part.strip().rstrip(".")
    if sp and _names_a_state(sp) and state_name and not (fold(sp) == state_name or sp == abbr):
        return False
    if city_rx is not None and city_rx.match(city_folded):
        return True
    return bool(state_name) and (city_folded == state_name or city_part.strip() == abbr)
