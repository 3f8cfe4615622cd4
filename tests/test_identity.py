"""Identity assessment: the rules of invariant 3, attacked with same-name strangers."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from conftest import AUTH_PDF
from hypothesis import given, settings
from hypothesis import strategies as st

from vetting.screening.identity import (
    IDENTITY_MAX_CHARS,
    CandidateIdentifiers,
    IdentityLevel,
    PageEvidence,
    assess_identity,
    meets_minimum,
    normalize_url,
)

AS_OF = date(2026, 11, 24)  # the candidate is 30 on this date


def alex(**overrides: object) -> CandidateIdentifiers:
    base = {
        "full_name": "Alex Rivera",
        "aliases": ["Alexander Rivera"],
        "date_of_birth": date(1996, 4, 12),
        "city": "Kansas City",
        "state": "MO",
        "emails": ["alex.rivera@mail.example"],
        "phones": ["816-555-0142"],
        "usernames": ["arivera96"],
        "profile_urls": ["https://social.example/u/arivera96", "http://127.0.0.11:8080/p/alex"],
    }
    base.update(overrides)
    return CandidateIdentifiers(**base)  # type: ignore[arg-type]


def assess(text: str = "", url: str = "https://elsewhere.example/page", **kw: object):
    page = PageEvidence(url=url, text=text, **kw)  # type: ignore[arg-type]
    return assess_identity(alex(), page, as_of=AS_OF)


def kinds(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {m.kind for m in result.matches}


# --- same-name strangers never reach probable -----------------------------------------------

STRANGERS = [
    "Alex Rivera lives in Omaha, Nebraska. I was born in 1971.",
    "Alex Rivera, 52, of Omaha was honored by the Rotary club.",
    "Alex Rivera (born 1970) is a painter based in Denver.",
    "Alex Rivera is from Denver. I'm 45 years old.",
    "I'm Alex Rivera. I live in Omaha, NE and I'm 61.",
    "Location: Omaha, NE\nAlex Rivera\nAge: 19",
    "ALEXANDER RIVERA, 70, of Denver, died Tuesday.",
    "Álex Rivera lives in Phoenix. Alex Rivera, 23, was there too.",
    "Rivera, Alex. Lives in Denver. Born: 1980",
    # a stranger mentioned next to the candidate's city still has the wrong age
    "Alex Rivera, 44, visited Kansas City last week. He lives in Boise.",
    "Alex Rivera, 58, of Springfield, Illinois, fled from police while driving to Kansas City.",
]


@pytest.mark.parametrize("text", STRANGERS)
def test_same_name_stranger_never_probable(text: str) -> None:
    result = assess(text)
    assert not meets_minimum(result.level, "probable"), (result.level, result.reasons)
    assert result.contradictions, "the stranger's other city or age must be listed"
    assert "full_name" in kinds(result) or "alias" in kinds(result)


@pytest.mark.parametrize(
    "text",
    [
        "Alex Rivera",
        "ALEX RIVERA posted a photo",
        "Rivera, Alexander J.",
        "Alex Rivera and Alex Rivera and Alex Rivera",  # repetition is still one identifier
    ],
)
def test_name_alone_is_never_more_than_possible(text: str) -> None:
    result = assess(text)
    assert result.level == IdentityLevel.POSSIBLE
    assert result.identifiers == ("name",)
    assert any("name alone" in r for r in result.reasons)


# --- disclosed accounts and cross-links -------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://social.example/u/arivera96",
        "http://social.example/u/arivera96/",
        "https://WWW.Social.Example/u/arivera96",
        "https://social.example:443/u/arivera96#top",
        "https://social.example/u/arivera96?utm_source=x",
        "https://social.example/u/arivera96/posts/17",  # a post under the disclosed account
        "http://127.0.0.11:8080/p/alex",
    ],
)
def test_disclosed_account_is_confirmed(url: str) -> None:
    result = assess("", url=url)
    assert result.level == IdentityLevel.CONFIRMED
    assert "disclosed_account" in kinds(result)
    assert [m.where for m in result.matches if m.kind == "disclosed_account"] == ["url"]


@pytest.mark.parametrize(
    "url",
    [
        "https://social.example/u/arivera966",
        "https://social.example/u/ARIVERA96x",
        "https://other.example/u/arivera96-fan",
        "http://127.0.0.11:8081/p/alex",  # another port is another site
        "https://social.example/u",
    ],
)
def test_near_miss_urls_are_not_the_disclosed_account(url: str) -> None:
    result = assess("", url=url)
    assert "disclosed_account" not in kinds(result)
    assert result.level != IdentityLevel.CONFIRMED


def test_linked_from_disclosed_is_confirmed() -> None:
    result = assess("A page with no identifier at all", linked_from_disclosed=True,
                    found_by="disclosed_url")
    assert result.level == IdentityLevel.CONFIRMED
    assert [m.where for m in result.matches] == ["linked_from_disclosed"]


def test_link_from_disclosed_without_rel_me_is_one_identifier_only() -> None:
    # the candidate's profile links to a friend's or a shared page: evidence, not a confirmation
    plain = assess("Photos by the studio", linked_from_disclosed=True, linked_from="https://social.example/u/arivera96",
                   linked_rel_me=False)
    assert plain.level == IdentityLevel.POSSIBLE
    assert [(m.kind, m.value) for m in plain.matches] == [("cross_link", "https://social.example/u/arivera96")]
    assert any('no rel="me"' in r for r in plain.reasons)
    assert assess("Alex Rivera's studio", linked_from_disclosed=True, linked_rel_me=False).level == IdentityLevel.PROBABLE


def test_link_to_disclosed_account_is_one_identifier_only() -> None:
    # anyone can link to the candidate's profile: it counts, but does not confirm on its own
    result = assess("Great post", links=["https://www.social.example/u/arivera96/"])
    assert result.level == IdentityLevel.POSSIBLE
    assert [(m.kind, m.where) for m in result.matches] == [("cross_link", "links[0]")]
    with_name = assess("Alex Rivera wrote this", links=["https://social.example/u/arivera96"])
    assert with_name.level == IdentityLevel.PROBABLE


def test_disclosed_url_written_in_the_text_is_a_cross_link() -> None:
    result = assess("Follow me at www.social.example/u/arivera96 !")
    assert "cross_link" in kinds(result)
    assert "cross_link" not in kinds(assess("see social.example/u/arivera966"))


# --- independent identifiers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "url", "level", "classes"),
    [
        ("Alex Rivera, mail me: alex.rivera@mail.example. I'm @arivera96 everywhere.",
         "https://forum.example/t/9", "confirmed", ("email", "name", "username")),
        ("Alexander Rivera — call +1 (816) 555-0142", "https://forum.example/u/arivera96",
         "confirmed", ("name", "phone", "username")),
        ("Alex Rivera of Kansas City, MO, born April 12, 1996.", "https://news.example/x",
         "confirmed", ("date_of_birth", "location", "name")),
        ("Alex Rivera of Kansas City, MO. I'm 30.", "https://news.example/x",
         "probable", ("date_of_birth", "location", "name")),  # three weak identifiers
        ("Alex Rivera, alex.rivera@mail.example", "https://forum.example/t/9",
         "probable", ("email", "name")),
        ("Alex Rivera and Alexander Rivera", "https://forum.example/alex-rivera",
         "possible", ("name",)),  # name and alias are one class, the URL slug too
        ("Kansas City, Missouri, MO", "https://forum.example/t/9", "possible", ("location",)),
        ("Nothing about anyone.", "https://forum.example/t/9", "not_attributable", ()),
        ("Alex Rivera, alex.rivera@mail.example, @arivera96. I live in Omaha.",
         "https://forum.example/t/9", "probable", ("email", "name", "username")),
        ("Alex Rivera, alex.rivera@mail.example. I live in Omaha.",
         "https://forum.example/t/9", "possible", ("email", "name")),
    ],
)
def test_levels(text: str, url: str, level: str, classes: tuple[str, ...]) -> None:
    result = assess(text, url=url)
    assert result.identifiers == classes, [(m.kind, m.value, m.where) for m in result.matches]
    assert result.level == level, result.reasons


@pytest.mark.parametrize(
    ("text", "kind", "present"),
    [
        ("write to ALEX.RIVERA@MAIL.EXAMPLE", "email", True),
        ("write to xalex.rivera@mail.example", "email", False),
        ("write to alex.rivera@mail.example.org", "email", False),
        ("call 816.555.0142", "phone", True),
        ("call +1 816 555 0142", "phone", True),
        ("call 816-555-0143", "phone", False),
        ("order no. 98165550142999", "phone", False),
        ("I'm @arivera96 on every site", "username", True),
        ("arivera96: nice", "username", True),
        ("arivera966 is someone else", "username", False),
        ("xarivera96 is someone else", "username", False),
        ("arivera96@othermail.example", "username", False),
        ("Kansas City, MO", "location", True),
        ("Kansas City, Missouri", "location", True),
        ("the Kansas City area", "location", True),
        ("kansas city chiefs fan", "location", False),  # lower-case city alone does not count
        ("born on April 12, 1996", "date_of_birth", True),
        ("DOB: 04/12/1996", "date_of_birth", True),
        ("posted on April 12, 1996", "date_of_birth", False),  # no birth context
        ("my birthday is April 12!", "date_of_birth", True),
        ("I'm 30 and loving it", "date_of_birth", True),
        ("I'm 29.", "date_of_birth", True),  # one year of tolerance
        ("I'm 31 years old", "date_of_birth", True),
        ("I'm 30 minutes away", "date_of_birth", False),
        ("I was born in 1996", "date_of_birth", True),
        ("I was born in 1995", "date_of_birth", True),
        ("30 years old | Kansas City", "date_of_birth", True),
        ("My son is 30 years old", "date_of_birth", False),
    ],
)
def test_single_identifiers(text: str, kind: str, present: bool) -> None:
    assert (kind in kinds(assess(text))) is present


def test_username_and_email_in_links_and_url() -> None:
    result = assess("", url="https://arivera96.blog.example/2024/01/post",
                    links=["mailto:alex.rivera@mail.example", "tel:+18165550142"])
    assert {(m.kind, m.where) for m in result.matches} == {
        ("username", "url"), ("email", "links[0]"), ("phone", "links[1]")}
    assert result.level == IdentityLevel.CONFIRMED


def test_short_username_is_not_matched_in_free_text() -> None:
    ids = alex(usernames=["rivera", "ar"])
    page = PageEvidence(url="https://x.example/p", text="Rivera said ar ar")
    assert "username" not in {m.kind for m in assess_identity(ids, page, as_of=AS_OF).matches}
    page = PageEvidence(url="https://x.example/rivera", text="")
    assert "username" in {m.kind for m in assess_identity(ids, page, as_of=AS_OF).matches}


# --- nicknames, diacritics, surnames -----------------------------------------------------------


@pytest.mark.parametrize(
    ("full_name", "text", "matched"),
    [
        ("José Pérez", "Jose Perez", True),
        ("Jose Perez", "JOSÉ PÉREZ", True),
        ("Alex Rivera", "Alexander Rivera", True),
        ("Alexander Rivera", "Alex Rivera", True),
        ("Robert Smith", "Bob Smith", True),
        ("Elizabeth Moore", "Liz Moore", True),
        ("Alex Rivera", "Alex Rivas", False),
        ("José Pérez", "José Peralta", False),
        ("Robert Smith", "Bob Smithers", False),
    ],
)
def test_name_variants(full_name: str, text: str, matched: bool) -> None:
    ids = CandidateIdentifiers(full_name=full_name)
    result = assess_identity(ids, PageEvidence(url="https://x.example/", text=text), as_of=AS_OF)
    assert ("full_name" in {m.kind for m in result.matches}) is matched
    assert result.level == (IdentityLevel.POSSIBLE if matched else IdentityLevel.NOT_ATTRIBUTABLE)


def test_single_word_alias_needs_the_surname() -> None:
    ids = alex(aliases=["Lexi"])
    page = PageEvidence(url="https://x.example/", text="Lexi went out. Lexi Rivera came home.")
    result = assess_identity(ids, page, as_of=AS_OF)
    aliases = [m for m in result.matches if m.kind == "alias"]
    assert len(aliases) == 1 and "Lexi Rivera" in aliases[0].snippet


# --- contradictions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "contradicted"),
    [
        ("I'm 45.", True),
        ("I'm 28 and tired", True),  # two years off: outside the tolerance
        ("I'm 29 and tired", False),
        ("I just turned 40!", True),
        ("Age: 19", True),
        ("I was born in 1990", True),
        ("I was born in 1997", False),
        ("I was born on May 3, 1996", True),
        ("I live in Omaha", True),
        ("I'm from Denver, CO", True),
        ("Lives in Omaha, Nebraska", True),
        ("Location: Kansas City, KS", True),  # the other Kansas City
        ("I live in Kansas City", False),
        ("I live in Missouri", False),
        ("I'm from the Kansas City area", False),
        ("My brother lives in Omaha", False),  # a relative, not the person
        ("My son is 5 years old and my dad is 70.", False),
        ("My mom was born in 1960", False),
        ("This gift is from Target", False),
        ("I moved to Denver in 2019", True),
        ("we live in Denver", True),
        ("From Denver, CO\nLoves dogs", True),
        ("Alex Rivera, 30, of Springfield, was there", True),
        ("Alex Rivera of Springfield, Illinois, was there", True),
        ("Alex Rivera of Acme Corp said", False),  # an employer, not a residence
        ("Alex Rivera, 30, of Kansas City, was there", False),
        ("Alex Rivera of Kansas City, Missouri", False),
        ("A gift from Denver friends", False),
        ("29 years old | Kansas City", False),
        ("45 years old | Omaha", True),
    ],
)
def test_contradictions(text: str, contradicted: bool) -> None:
    assert bool(assess(text).contradictions) is contradicted, assess(text).contradictions


def test_contradiction_about_the_named_person_but_not_a_relative_of_them() -> None:
    assert assess("Alex Rivera, who lives in Omaha, spoke.").contradictions
    assert not assess("Alex Rivera's brother lives in Omaha.").contradictions


def test_age_is_judged_at_the_page_date() -> None:
    # 22 when the post was written in 2018, though 30 today
    old_post = assess("I'm 22 and ready", published=datetime(2018, 6, 1))
    assert not old_post.contradictions
    assert "date_of_birth" in kinds(old_post)
    assert assess("I'm 22 and ready").contradictions


def test_where_and_snippet_point_into_the_original_text() -> None:
    text = "Intro. " * 30 + "Contact Álex Rivera at alex.rivera@mail.example please"
    result = assess(text)
    by_kind = {m.kind: m for m in result.matches}
    email = by_kind["email"]
    field, offset = email.where.split(":")
    assert field == "text"
    assert text[int(offset):].startswith("alex.rivera@mail.example")
    assert "alex.rivera@mail.example" in email.snippet
    name = by_kind["full_name"]
    assert text[int(name.where.split(":")[1]):].startswith("Álex Rivera")


def test_title_and_author_fields_are_searched() -> None:
    result = assess("", title="Alex Rivera's page", author="@arivera96")
    wheres = {m.where.split(":")[0] for m in result.matches}
    assert wheres == {"title", "author"}
    assert result.level == IdentityLevel.PROBABLE


def test_huge_page_is_capped() -> None:
    # an email past the cap is not searched: a hostile page cannot make assessment unbounded
    text = "x " * (IDENTITY_MAX_CHARS // 2) + " alex.rivera@mail.example"
    result = assess(text)
    assert "email" not in kinds(result)
    assert "email" in kinds(assess("x " * 1000 + " alex.rivera@mail.example"))


# --- levels ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "minimum", "ok"),
    [
        ("confirmed", "confirmed", True),
        ("probable", "confirmed", False),
        ("confirmed", "possible", True),
        ("possible", "probable", False),
        ("not_attributable", "possible", False),
        ("not_attributable", "not_attributable", True),
        (IdentityLevel.PROBABLE, "probable", True),
    ],
)
def test_meets_minimum(level: str, minimum: str, ok: bool) -> None:
    assert meets_minimum(level, minimum) is ok


def test_meets_minimum_rejects_unknown_levels() -> None:
    with pytest.raises(ValueError):
        meets_minimum("certain", "confirmed")
    with pytest.raises(ValueError):
        meets_minimum("confirmed", "Confirmed")


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://WWW.Example.com/u/Alex/", "example.com/u/Alex"),
        ("http://example.com:80/u/alex#x", "example.com/u/alex"),
        ("example.com/u/alex", "example.com/u/alex"),
        ("https://example.com/p?id=7&utm_source=tw&fbclid=1", "example.com/p?id=7"),
        ("https://example.com:8443/a", "example.com:8443/a"),
        ("https://example.com/a%20b", "example.com/a b"),
    ],
)
def test_normalize_url(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


# --- hostile pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://[::1", "http://x:99999/", "", "::::", "http://a b/c",
                                 "javascript:alert(1)", "https://social.example/u/arivera96%"])
def test_hostile_urls_do_not_crash(url: str) -> None:
    result = assess("Alex Rivera", url=url, links=[url, "http://[bad"])
    assert result.level in set(IdentityLevel)
    assert isinstance(normalize_url(url), str)


def test_repeated_contradictions_are_listed_once() -> None:
    text = "Alex Rivera, alex.rivera@mail.example, @arivera96. " + "I live in Omaha. " * 5000
    result = assess(text)
    assert len(result.contradictions) == 1
    assert result.level == IdentityLevel.PROBABLE


def test_contradictions_count_per_class() -> None:
    # a joke about age twice over is one contradicted class, not two
    text = "Alex Rivera, alex.rivera@mail.example, @arivera96. I'm 99 years old. I was born in 1927."
    result = assess(text)
    assert {c.kind for c in result.contradictions} == {"date_of_birth"}
    assert len(result.contradictions) == 2
    assert result.level == IdentityLevel.PROBABLE


@pytest.mark.parametrize(
    "text",
    [
        "I live in Aaaa Bbbb Cccc " * 20_000,  # one long line, many statements
        "Alex J. " * 60_000,
        "Rivera, " * 60_000,
        "8-" * 200_000,
        "born " * 100_000,
    ],
)
def test_pathological_pages_stay_small(text: str) -> None:
    result = assess(text)
    assert len(result.matches) <= 10 and len(result.contradictions) <= 10


def test_missing_fields_are_treated_as_empty() -> None:
    page = PageEvidence(url=None, title=None, text=None, author=None, links=None)  # type: ignore[arg-type]
    assert assess_identity(alex(), page, as_of=AS_OF).level == IdentityLevel.NOT_ATTRIBUTABLE


@pytest.mark.parametrize(
    ("username", "strong"),
    [
        ("arivera96", True),
        ("alexrivera", False),
        ("alex.rivera", False),
        ("rivera_alex", False),
        ("arivera", False),
        ("alexanderrivera", False),
        ("alec_r", False),  # alec: a nickname of Alexander in the dataset
        ("riverakc", True),
    ],
)
def test_handles_made_only_of_the_name_are_weak(username: str, strong: bool) -> None:
    ids = alex(usernames=[username], emails=[], phones=[])
    page = PageEvidence(url=f"https://other.example/{username}",
                        text="Alex Rivera of Kansas City, MO")
    result = assess_identity(ids, page, as_of=AS_OF)
    (match,) = [m for m in result.matches if m.kind == "username"]
    assert match.strong is strong
    # name + location + handle: three identifiers; a name-made handle cannot confirm
    assert result.level == (IdentityLevel.CONFIRMED if strong else IdentityLevel.PROBABLE)


# --- the identity table: page/candidate pairs through the real screening ------------------------
#
# Each row is a page and the candidate it is screened for, with the level docs/screening.md's
# rules give. The whole table runs through vetting.screening.assessment.assess_case on a real SQLite
# workspace (approved procedure, candidates added with authorizations, items as the collector
# stores them), the path every collected page takes.

MARIA = {"id": "maria-gutierrez", "full_name": "Maria Gutierrez", "date_of_birth": "1994-05-03",
         "city": "Kansas City", "state": "MO", "emails": ["Maria.Gutierrez@Mail.Example"],
         "phones": ["816-555-0177"], "usernames": ["mgutz94"],
         "profile_urls": ["https://social.example/u/mgutz94"]}
CASEY = {"id": "casey-navarro", "full_name": "Casey Navarro", "date_of_birth": "1998-07-02", "city": "Independence",
         "state": "MO", "emails": [], "phones": ["816-555-0143"], "usernames": ["cnavarro"], "profile_urls": []}
LIZ = {"id": "elizabeth-moore", "full_name": "Elizabeth Moore", "date_of_birth": "1990-02-01",
       "city": "Overland Park", "state": "KS", "emails": ["liz.moore@mail.example"],
       "phones": ["+44 20 7946 0958"], "usernames": ["lizzym90"], "profile_urls": []}


def _age_today(dob: str) -> int:
    born, today = date.fromisoformat(dob), date.today()
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


M_AGE = _age_today(MARIA["date_of_birth"])
# (candidate, what the row attacks, page text, page url, page links, expected level)
IDENTITY_TABLE = [
    # namesakes elsewhere
    (MARIA, "namesake: other city and birth year", "Maria Gutierrez, Phoenix AZ, born 1971", "", [], "not_attributable"),
    (MARIA, "namesake: city and state as a profile card", "Maria Gutierrez\nPhoenix, AZ\nborn 1971", "", [], "not_attributable"),
    (MARIA, "namesake: other state only", "Maria Gutierrez, Phoenix, Arizona", "", [], "not_attributable"),
    (MARIA, "namesake: news style age and town", "Maria Gutierrez, 58, of Springfield, was honored.", "", [], "not_attributable"),
    (MARIA, "namesake: lives elsewhere", "Maria Gutierrez lives in Denver.", "", [], "not_attributable"),
    (MARIA, "namesake: of a city and state", "Maria Gutierrez of Omaha, Nebraska, spoke at the meeting.", "", [], "not_attributable"),
    (MARIA, "namesake: the person named is somebody's sister", "My sister Maria Gutierrez lives in Denver.", "", [], "not_attributable"),
    (MARIA, "namesake: age before the name", "The driver, a 52-year-old Maria Gutierrez, was not hurt.", "", [], "not_attributable"),
    # same city, other age
    (MARIA, "same city, other age", "Maria Gutierrez, 61, of Kansas City, MO, retired.", "", [], "not_attributable"),
    (MARIA, "same city, other birth year", "Maria Gutierrez of Kansas City, Missouri, born in 1971", "", [], "not_attributable"),
    (MARIA, "same city, same age: three weak identifiers", f"Maria Gutierrez, {M_AGE}, of Kansas City, MO", "", [], "probable"),
    (MARIA, "same city, full date of birth", "Maria Gutierrez (born May 3, 1994) of Kansas City, MO", "", [], "confirmed"),
    (MARIA, "a relative's city is not hers", "Maria Gutierrez's mother lives in Phoenix.", "", [], "possible"),
    (MARIA, "a list of people is not a place", "Maria Gutierrez, Jordan Smith and Ann Lee", "", [], "possible"),
    (MARIA, "a degree is not a state", "Maria Gutierrez, MD, answers your questions", "", [], "possible"),
    (MARIA, "a degree, then her city", "Maria Gutierrez, PA, Kansas City, MO", "", [], "probable"),
    (MARIA, "a degree, then another city", "Maria Gutierrez, MD, Phoenix, AZ", "", [], "not_attributable"),
    # names, initials and nicknames
    (MARIA, "a name alone", "Maria Gutierrez posted a photo", "", [], "possible"),
    (MARIA, "clipped given name", "Mari Gutierrez won the 5K", "", [], "possible"),
    (MARIA, "initials alone", "Thanks to M. Gutierrez for the ride", "", [], "possible"),
    (MARIA, "initials + phone + KC", "Mari G. · KC · call or text 816.555.0177", "", [], "confirmed"),
    (MARIA, "initials + KC", "Mari G. from KC", "", [], "probable"),
    (MARIA, "an initial followed by another surname", "Mari G. Lopez, KC", "", [], "possible"),
    (MARIA, "another surname in her city", "Maria Gomez of Kansas City, MO", "", [], "possible"),
    (MARIA, "lower-case kc is not the city", "met up in kc last night", "", [], "not_attributable"),
    (MARIA, "born in <year> in free text", "Proud KC native, born in 1994. Maria Gutierrez", "", [], "probable"),
    (MARIA, "N years old after the name", f"Maria Gutierrez is {M_AGE} years old.", "", [], "probable"),
    (MARIA, "age N among initials and KC", f"Mari G., age {M_AGE}, KC", "", [], "probable"),
    (MARIA, "another age among initials and KC", "Mari G., age 61, KC", "", [], "not_attributable"),
    (MARIA, "an age about a thing, not her", "Maria Gutierrez sold the house. The house is 61 years old.", "", [], "possible"),
    (LIZ, "nickname from the dataset + city", "Liz Moore from Overland Park, KS", "", [], "probable"),
    (LIZ, "another nickname from the dataset", "Betsy Moore shared a recipe", "", [], "possible"),
    (LIZ, "nickname namesake elsewhere", "Beth Moore, 70, of Nashville, Tennessee", "", [], "not_attributable"),
    (CASEY, "a dataset nickname with dots + her city", "K.C. Navarro from Independence, MO", "", [], "probable"),
    (CASEY, "the same city name in another state", "Casey Navarro, Independence, KS", "", [], "not_attributable"),
    # phone numbers in several formats
    (MARIA, "phone alone (+1 and parentheses)", "Call +1 (816) 555-0177 today", "", [], "possible"),
    (MARIA, "phone with spaces + name", "Maria Gutierrez 816 555 0177", "", [], "probable"),
    (MARIA, "phone with trunk 1 + initials + KC", "M. Gutierrez, KC, 1-816-555-0177", "", [], "confirmed"),
    (MARIA, "tel: link + name + city", "Maria Gutierrez, Kansas City, MO", "", ["tel:+18165550177"], "confirmed"),
    (MARIA, "another number", "Maria Gutierrez 816-555-0178", "", [], "possible"),
    (MARIA, "a number without its area code", "Maria Gutierrez 555-0177", "", [], "possible"),
    (LIZ, "UK number in national format", "Elizabeth Moore, 020 7946 0958", "", [], "probable"),
    (LIZ, "UK number in international format", "Liz Moore +44 20 7946 0958", "", [], "probable"),
    # e-mail case, usernames, accounts
    (MARIA, "e-mail in capitals + name", "Maria Gutierrez MARIA.GUTIERREZ@MAIL.EXAMPLE", "", [], "probable"),
    (MARIA, "e-mail in a mailto link alone", "Contact me", "", ["mailto:maria.gutierrez@mail.example"], "possible"),
    (LIZ, "e-mail written in mixed case alone", "write to Liz.Moore@mail.example", "", [], "possible"),
    (MARIA, "a username alone in text", "follow @mgutz94", "", [], "possible"),
    (MARIA, "a username alone in the url", "", "https://pics.example/u/mgutz94", [], "possible"),
    (MARIA, "username + name + city", "Maria Gutierrez, Kansas City, MO", "https://pics.example/u/mgutz94", [], "confirmed"),
    (MARIA, "the disclosed account", "", "https://social.example/u/mgutz94", [], "confirmed"),
    (MARIA, "a post under the disclosed account", "", "https://social.example/u/mgutz94/posts/7", [], "confirmed"),
    (MARIA, "a link to the disclosed account + name", "Maria Gutierrez", "", ["https://social.example/u/mgutz94"], "probable"),
    # strong identifiers against contradictions
    (MARIA, "three strong-backed identifiers and a contradiction", "Maria Gutierrez, maria.gutierrez@mail.example, @mgutz94. I live in Omaha.", "", [], "probable"),
    (MARIA, "two identifiers and a contradiction", "Maria Gutierrez, maria.gutierrez@mail.example, lives in Denver.", "", [], "possible"),
]


@pytest.fixture(scope="module")
def screened_table(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[str, list, list]]:
    import json
    from pathlib import Path

    from vetting.domain.approvals import approve
    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.domain.models import Assessment, Item, utcnow
    from vetting.engine.steps import open_case
    from vetting.screening.assessment import assess_case
    from vetting.store.workspace import Workspace

    tmp = tmp_path_factory.mktemp("identity-table")
    ws = Workspace.open(tmp / "ws")
    approve(ws, Path(__file__).resolve().parent.parent / "procedures" / "kcpd-261-1.yaml", "Capt. Rao")
    plans = {}
    for person in (MARIA, LIZ, CASEY):
        auth = tmp / f"{person['id']}.pdf"
        auth.write_bytes(AUTH_PDF)
        add_candidate(ws, CandidateInput(**person, authorization={"file": auth.name, "signed_on": "2026-10-01"}),
                      auth, "Inv. Lee")
        plans[person["id"]] = open_case(ws, person["id"], "kcpd-261-1-preemployment", "Inv. Lee")
    with ws.session() as s:
        for i, (person, _, text, url, links, _) in enumerate(IDENTITY_TABLE):
            page_url = url or f"https://pages.example/row/{i}"
            s.add(Item(id=f"item-row-{i}", case_id=plans[person["id"]].case.id, step_id="web-search",
                       key=f"row:{i}", kind="page", url=page_url, final_url=page_url, status=200,
                       outcome="captured", text=text, links_json=json.dumps(links), captured_at=utcnow()))
        s.commit()
    for plan in plans.values():
        assess_case(ws, plan.case, plan.candidate, plan.loaded)
    with ws.session() as s:
        rows = {a.item_id: a for a in s.exec(__import__("sqlmodel").select(Assessment))}
    return {i: (rows[f"item-row-{i}"].identity_level, json.loads(rows[f"item-row-{i}"].matches_json),
                json.loads(rows[f"item-row-{i}"].contradictions_json)) for i in range(len(IDENTITY_TABLE))}


def test_identity_table_is_large_enough() -> None:
    assert len(IDENTITY_TABLE) >= 30
    assert len({row[1] for row in IDENTITY_TABLE}) == len(IDENTITY_TABLE)  # every row attacks something


@pytest.mark.parametrize("row", range(len(IDENTITY_TABLE)), ids=[r[1] for r in IDENTITY_TABLE])
def test_identity_table(row: int, screened_table: dict) -> None:
    person, what, text, url, links, expected = IDENTITY_TABLE[row]
    level, matches, contradictions = screened_table[row]
    assert level == expected, (what, text, [(m["kind"], m["value"]) for m in matches],
                               [(c["kind"], c["value"]) for c in contradictions])


def _worked_examples() -> list[tuple[str, str]]:
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "screening.md").read_text(encoding="utf-8")
    section = doc.split("### Worked examples", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[3].startswith("`") and cells[0] != "page says":
            rows.append((cells[0], cells[3].strip("`")))
    return rows


def test_docs_worked_examples_are_what_the_code_does() -> None:
    rows = _worked_examples()
    assert len(rows) >= 15
    ids = CandidateIdentifiers(full_name=MARIA["full_name"], date_of_birth=date(1994, 5, 3), city="Kansas City",
                               state="MO", emails=MARIA["emails"], phones=MARIA["phones"],
                               usernames=MARIA["usernames"], profile_urls=MARIA["profile_urls"])
    for says, level in rows:
        url = "https://pages.example/doc"
        if says.startswith("(the page `"):
            url, says = says.split("`")[1], ""
        says = says.replace(" (in 2026)", "")
        result = assess_identity(ids, PageEvidence(url=url, text=says), as_of=date(2026, 11, 24))
        assert result.level == level, (says, result.reasons)


# --- properties: more evidence never lowers the level, a contradiction never raises it ---------

FRAGMENTS = ["Maria Gutierrez", "Mari G.", "M. Gutierrez", "KC", "Kansas City, MO", "Phoenix AZ", "born 1971",
             "born in 1994", "816.555.0177", "+1 (816) 555-0178", "maria.gutierrez@mail.example", "@mgutz94",
             "I live in Omaha.", "I'm 61.", "my brother lives in Denver", ", ", ". ", "\n", " | ", " (", ")",
             "age 52", "Maria Gomez", "Jr.", "MD", "Lorem ipsum", "é", "\u200b", "12/05/1994"]


def _maria() -> CandidateIdentifiers:
    return CandidateIdentifiers(full_name="Maria Gutierrez", date_of_birth=date(1994, 5, 3), city="Kansas City",
                                state="MO", emails=["maria.gutierrez@mail.example"], phones=["816-555-0177"],
                                usernames=["mgutz94"], profile_urls=["https://social.example/u/mgutz94"])


_RANK = {lvl: i for i, lvl in enumerate(IdentityLevel)}


def _level(text: str) -> IdentityLevel:
    return assess_identity(_maria(), PageEvidence(url="https://pages.example/p", text=text), as_of=AS_OF).level


PAGES = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=14).map("".join)


@settings(max_examples=300, deadline=None)
@given(PAGES)
def test_a_strong_identifier_never_lowers_the_level(text: str) -> None:
    assert _RANK[_level(text + "\nWrite to maria.gutierrez@mail.example")] >= _RANK[_level(text)]


@settings(max_examples=300, deadline=None)
@given(PAGES)
def test_a_contradiction_never_raises_the_level(text: str) -> None:
    assert _RANK[_level(text + "\nI live in Omaha, Nebraska.")] <= _RANK[_level(text)]
