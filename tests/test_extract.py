"""Extraction of what an investigator reads from hostile HTML: links, rel=me links, no crash."""

from __future__ import annotations

from spiders.extract import extract


def test_links_and_rel_me_links() -> None:
    page = extract('<a href="/a" rel="Me nofollow">a</a><a href="https://x.example/b">b</a>'
                   '<a href="mailto:x@y.example" rel="me">m</a><link rel="me" href="/head-link">',
                   "https://site.example/p/")
    assert page.links == ["https://site.example/a", "https://x.example/b"]
    assert page.me_links == ["https://site.example/a"]


def test_hostile_hrefs_are_skipped_not_fatal() -> None:
    page = extract('<a href="http://[::1">x</a><a href="http://h:99999/">y</a><a href="/ok" rel="me">ok</a>',
                   "http://a.example/")
    assert "http://a.example/ok" in page.links and page.me_links == ["http://a.example/ok"]
