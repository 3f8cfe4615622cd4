"""Identity assessment: the rules of invariant 3, attacked with same-name strangers."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from vetting.identity import (
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
