"""The firewall: protected characteristics never reach hiring staff, except as bias conduct."""

from __future__ import annotations

import random
import re
from importlib import resources

import pytest

from vetting.screening.firewall import (
    CHARACTERISTICS,
    find_protected,
    load_lexicon,
    mask_label,
    mask_protected,
)
from vetting.screening.leads import Category, Rule, screen
from vetting.screening.names import fold


def _data_terms() -> list[tuple[str, str]]:
    """(characteristic, term) read straight from the data file, not through the module."""
    text = resources.files("vetting").joinpath("data/protected_terms.txt").read_text("utf-8")
    out, section = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line:
            out.append((section, line))
    return out


TERMS = _data_terms()


def test_lexicon_covers_every_characteristic() -> None:
    sections = {c for c, _ in TERMS}
    assert sections == set(CHARACTERISTICS) - set()  # every one has curated terms
    assert len(TERMS) >= 300
    assert set(load_lexicon().values()) == sections


POLITICAL_WORDS = ["democrat", "democrats", "republican", "republicans", "gop", "liberal",
                   "conservative", "progressive", "libertarian", "socialist", "communist",
                   "trump", "biden", "maga", "green party", "pro life", "pro choice", "nra",
                   "vote", "election", "protest", "union", "left wing", "right wing"]


def test_political_words_are_not_in_the_lexicon() -> None:
    lexicon = load_lexicon()
    for word in POLITICAL_WORDS:
        assert tuple(fold(word).split()) not in lexicon, word


@pytest.mark.parametrize(
    "text",
    [
        "I voted Republican and I'm proud of it.",
        "Democrats have the better health plan.",
        "MAGA! Trump 2028.",
        "Biden was right about infrastructure.",
        "I'm a progressive, a union member and a socialist.",
        "Pro-life march downtown; pro-choice counter-protest.",
        "Conservative values, liberal arts degree.",
        "Proud NRA member. Back the Blue.",
    ],
)
def test_political_opinion_is_never_masked(text: str) -> None:
    assert find_protected(text) == []
    assert mask_protected(text).text == text


@pytest.mark.parametrize(
    ("text", "characteristic", "found"),
    [
        ("proud Catholic", "religion", "Catholic"),
        ("two CATHOLICS", "religion", "CATHOLICS"),
        ("Católicos unidos", "religion", "Católicos"),
        ("at the mosque", "religion", "mosque"),
        ("Jehovah’s Witnesses came by", "religion", "Jehovah’s Witnesses"),
        ("Mexican-American family", "national_origin", "Mexican-American"),
        ("I was born in Mexico", "national_origin", "born in Mexico"),
        ("she is Nigerian", "national_origin", "Nigerian"),
        ("Hispanic heritage month", "ethnicity", "Hispanic"),
        ("an African American man", "race", "African American"),
        ("black women in tech", "race", "black women"),
        ("my skin tone", "color", "skin tone"),
        ("dark-skinned", "color", "dark-skinned"),
        ("I'm pregnant!", "pregnancy", "pregnant"),
        ("12 weeks pregnant", "pregnancy", "12 weeks pregnant"),
        ("on maternity leave", "pregnancy", "maternity leave"),
        ("proud to be gay", "sexual_orientation", "gay"),
        ("LGBTQ+ ally", "sexual_orientation", "LGBTQ"),
        ("bio: she/her", "gender_identity", "she/her"),
        ("non-binary and proud", "gender_identity", "non-binary"),
        ("a trans woman", "gender_identity", "trans woman"),
        ("female officer", "sex", "female"),
        ("living with ADHD", "disability_health", "ADHD"),
        ("my PTSD", "disability_health", "PTSD"),
        ("type 1 diabetic", "disability_health", "diabetic"),
        ("panic attacks again", "disability_health", "panic attacks"),
        ("my 23andMe results", "genetic_information", "23andMe"),
        ("BRCA1 carrier", "genetic_information", "BRCA1"),
        ("sickle cell", "genetic_information", "sickle cell"),
        ("I'm 52", "age", "I'm 52"),
        ("I am 61 and retired", "age", "I am 61"),
        ("52 years old", "age", "52 years old"),
        ("a 52-year-old officer", "age", "52-year-old"),
        ("born in 1970", "age", "born in 1970"),
        ("born on April 3, 1970", "age", "born on April 3, 1970"),
        ("DOB: 04/12/1996", "age", "DOB: 04/12/1996"),
        ("class of '98", "age", "class of '98"),
        ("in my late forties", "age", "in my late forties"),
        ("my 40th birthday", "age", "40th birthday"),
        ("baby boomers", "age", "baby boomers"),
        ("I'm fifty-two", "age", "I'm fifty-two"),
        ("forty two years young", "age", "forty two years young"),
        ("he turned sixty", "age", "turned sixty"),
    ],
)
def test_find_protected(text: str, characteristic: str, found: str) -> None:
    mentions = find_protected(text)
    assert [(m.characteristic, m.text) for m in mentions] == [(characteristic, found)]
    assert all(text[m.start:m.end] == m.text for m in mentions)


@pytest.mark.parametrize(
    "text",
    [
        "I'm 100% sure",
        "I'm 5 minutes away",
        "7 years of service",
        "3 years ago",
        "email me",  # "male" inside a word
        "a racing bike",
        "Gaynor street",
        "transit authority",
        "praise the report",
        "black truck, white fence",
        "Temperature 98.6",
    ],
)
def test_ordinary_text_is_not_masked(text: str) -> None:
    assert find_protected(text) == []


def test_phrases_do_not_join_across_sentence_punctuation() -> None:
    assert [m.text for m in find_protected("trans. Woman")] == ["trans"]
    assert [m.text for m in find_protected("trans-woman")] == ["trans-woman"]


def test_mask_replaces_with_labels_and_records_offsets() -> None:
    text = "I'm 52, a proud Catholic. Nice day."
    masked = mask_protected(text)
    assert masked.text == "[protected: age], a proud [protected: religion]. Nice day."
    assert [(m.characteristic, text[m.start:m.end]) for m in masked.masks] == [
        ("age", "I'm 52"), ("religion", "Catholic")]
    for m in masked.masks:
        assert masked.text[m.out_start:m.out_end] == mask_label(m.characteristic)
    assert masked.characteristics == {"age", "religion"}
    nice = text.index("Nice")
    assert masked.text[masked.position(nice):].startswith("Nice day.")
    assert masked.position(text.index("Catholic") + 3) == masked.masks[1].out_start


def test_masking_is_idempotent() -> None:
    once = mask_protected("A Muslim and a Jew walked in; national origin: Somali.")
    twice = mask_protected(once.text)
    assert twice.text == once.text and twice.masks == ()


def test_keep_spans_keep_only_mentions_wholly_inside() -> None:
    text = "Those filthy immigrants again. I'm Catholic."
    start = text.index("filthy")
    keep = [(start, start + len("filthy immigrants"))]
    masked = mask_protected(text, keep)
    assert masked.text == "Those filthy immigrants again. I'm [protected: religion]."
    # a keep span that cuts a mention in half does not protect it
    half = mask_protected(text, [(start, start + len("filthy immig"))])
    assert "immigrants" not in half.text


def test_bias_speech_flags_keep_their_words_and_nothing_else() -> None:
    cats = (
        Category("bias-speech", "Bias", "IV.A.6.a",
                 [Rule("b", patterns=[r"\bfilthy (immigrant|muslim)s?\b"])],
                 protected_conduct=True),
        Category("weapons", "Weapons", "IV.C.1.e", [Rule("w", terms=["Catholic school baton"])]),
    )
    text = "Filthy Muslims everywhere. My Catholic school baton. Muslims are my neighbours."
    result = screen(text, cats)
    masked = mask_protected(text, result.keep_spans())
    assert masked.text.startswith("Filthy Muslims everywhere.")
    assert "Catholic" not in masked.text  # inside a flag, but not a protected-conduct one
    assert masked.text.endswith("[protected: religion] are my neighbours.")


# --- property: a protected term outside a keep span never survives -----------------------------

FILLER = [
    "the", "weather", "was", "nice", "today", "we", "walked", "to", "the", "park", "with",
    "coffee", "and", "a", "truck", "after", "the", "meeting", "report", "about", "bicycle",
    "garden", "music", "dinner", "lunch", "yesterday", "tomorrow", "office", "window", "paper",
    "notebook",
]
SEPARATORS = [", ", ". ", "; ", "! ", "\n", " : ", "? "]
ACCENTS = {"a": "á", "e": "é", "i": "í", "o": "ó", "u": "ú", "n": "ñ", "c": "ç"}


def _variant(term: str, rng: random.Random) -> str:
    words = term.split()
    last = words[-1]
    if rng.random() < 0.3 and last.isalpha() and last[-1] in "tlnrdkmpg" and not last.endswith("man"):
        words[-1] = last + "s"
    joined = ""
    for i, w in enumerate(words):
        joined += (rng.choice([" ", "-", "  ", "/"]) if i else "") + w
    out = []
    for ch in joined:
        r = rng.random()
        if ch.isalpha() and r < 0.1 and ch.lower() in ACCENTS:
            ch = ACCENTS[ch.lower()]
        elif r < 0.15:
            ch += "\u200b" if ch.isalpha() else ""
        out.append(ch)
    text = "".join(out)
    case = rng.choice(["lower", "upper", "title", "random"])
    if case == "upper":
        return text.upper()
    if case == "title":
        return text.title()
    if case == "random":
        return "".join(c.upper() if rng.random() < 0.5 else c for c in text)
    return text


def _age_piece(rng: random.Random) -> str:
    n = rng.randint(18, 99)
    return rng.choice([f"I'm {n}", f"I am {n}", f"{n} years old", f"born in {rng.randint(1930, 2008)}",
                       f"{n}-year-old", f"AGE: {n}"])


def test_filler_is_clean() -> None:
    assert find_protected(" ".join(FILLER)) == []


@pytest.mark.parametrize("seed", range(200))
def test_no_protected_term_survives_outside_keep_spans(seed: int) -> None:
    rng = random.Random(seed)
    pieces: list[tuple[str, bool]] = []
    for _ in range(rng.randint(3, 14)):
        kind = rng.random()
        if kind < 0.45:
            pieces.append((" ".join(rng.choice(FILLER) for _ in range(rng.randint(1, 6))), False))
        elif kind < 0.9:
            pieces.append((_variant(rng.choice(TERMS)[1], rng), True))
        else:
            pieces.append((_age_piece(rng), True))
    text, spans = "", []
    for i, (piece, protected) in enumerate(pieces):
        if i:
            text += rng.choice(SEPARATORS)
        spans.append((len(text), len(text) + len(piece), protected))
        text += piece
    # keep spans: random runs of whole pieces
    keep: list[tuple[int, int]] = []
    for _ in range(rng.randint(0, 3)):
        a = rng.randrange(len(spans))
        b = min(len(spans) - 1, a + rng.randint(0, 2))
        keep.append((spans[a][0], spans[b][1]))
    masked = mask_protected(text, keep)
    assert find_protected(mask_protected(text).text) == []  # with nothing kept, nothing is left

    def kept(s: int, e: int) -> bool:
        return any(ks <= s and e <= ke for ks, ke in keep)

    covered = set()
    for m in masked.masks:
        covered.update(range(m.start, m.end))
    for s, e, protected in spans:
        if not protected or kept(s, e):
            continue
        visible = {i for i in range(s, e) if text[i] not in "\u200b"}
        assert visible <= covered, (text[s:e], text, keep)

    # independent check on the output: cut out what was kept and the labels, then look for
    # every outside protected piece, folded, as a whole word
    out = masked.text
    holes = sorted((masked.position(ks), masked.position(ke)) for ks, ke in keep)
    rest, pos = [], 0
    for hs, he in holes:
        if hs > pos:
            rest.append(out[pos:hs])
        pos = max(pos, he)
    rest.append(out[pos:])
    remaining = fold(re.sub(r"\[protected: [a-z ]+\]", " ", "\n".join(rest)))
    for s, e, protected in spans:
        if protected and not kept(s, e):
            needle = fold(text[s:e])
            assert not re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", remaining), (
                needle, masked.text)


def test_large_text_is_masked_entirely() -> None:
    # no cap: a mention at the very end of a long text is masked like the first one
    text = "Catholic. " + "the park was nice. " * 50_000 + "Catholic"
    masked = mask_protected(text)
    assert "Catholic" not in masked.text
    assert len(masked.masks) == 2


@pytest.mark.parametrize("text,masked", [
    ("Baby Navarro is due in March", "Baby Navarro is due"),
    ("our babies are due in June", "babies are due"),
    ("Sunday service at St. Mark's", "Sunday service"),
    ("Ma sœur est enceinte et musulmane", "enceinte"),
    ("Mein Bruder ist schwul und schwerbehindert", "schwerbehindert"),
    ("después de la quimioterapia", "quimioterapia"),
])
def test_demo_corpus_mentions_are_masked(text: str, masked: str) -> None:
    from vetting.screening.firewall import mask_protected

    out = mask_protected(text)
    assert masked not in out.text and "[protected: " in out.text


def test_a_due_date_that_is_not_a_baby_is_not_masked() -> None:
    from vetting.screening.firewall import mask_protected

    assert mask_protected("the report is due in March").masks == ()
