"""How an item was reached: derived, told in words, chained back to its input, and shown to
hiring staff in the findings report (masked like everything else there)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from case_fixtures import add_item, build_case

from vetting.domain.models import Item
from vetting.engine.reached import describe_chain, describe_reached, reached_for
from vetting.reports.findings import findings_data
from vetting.review.validation import DecisionRequest, decide


@pytest.mark.parametrize(
    ("kind", "found_by", "meta", "reached", "words"),
    [
        ("page", "profile_urls:https://s.example/u/a", {}, None, "disclosed by the candidate"),
        ("page", "procedure source", {}, None, "listed by the procedure's step (procedure source)"),
        ("search_result", 'search:"Jane Doe"', {"query": '"Jane Doe"', "rank": 3}, None,
         'search query "Jane Doe" at rank 3'),
        ("search_result", "search:Jane Doe KC", {"query": "Jane Doe KC", "rank": 1}, None,
         "search query \u201cJane Doe KC\u201d at rank 1"),
        ("search_result", 'search:"Jane Doe" KC', {"query": '"Jane Doe" KC', "rank": 4}, None,
         'search query \u201c"Jane Doe" KC\u201d at rank 4'),
        ("search_query", "full_name", {"query": "Jane Doe"}, None,
         "the search backend's answer to the query \u201cJane Doe\u201d"),
        ("account", "usernames:janed", {"site": "Snapfolio", "username": "janed"}, None,
         "site check: Snapfolio for username janed"),
        ("page", "link:https://s.example/u/a", {}, {"via": "link", "from_url": "https://s.example/u/a",
                                                    "from_item": "item-1", "depth": 1, "rel_me": True, "site": ""},
         'link from https://s.example/u/a (depth 1, marked rel="me", from item item-1)'),
        ("page", "link:https://s.example/u/a", {}, None, "link from https://s.example/u/a"),
    ],
)
def test_reached_in_words(kind: str, found_by: str, meta: dict, reached: dict | None, words: str) -> None:
    assert describe_reached(reached_for(kind, found_by, meta, reached)) == words


def test_an_unknown_record_says_so() -> None:
    assert describe_reached({}) == "not recorded"
    assert describe_reached({"via": "teleport"}) == "not recorded"


def _item(item_id: str, reached: dict) -> Item:
    return Item(id=item_id, case_id="c", step_id="s", key=item_id, kind="page", url=f"https://x.example/{item_id}",
                outcome="captured", reached_json=json.dumps(reached), captured_at=__import__("datetime").datetime.now())


def test_chain_goes_back_to_the_input_and_stops_on_a_loop() -> None:
    a = _item("a", {"via": "disclosed", "input": "profile_urls:x", "depth": 0})
    b = _item("b", {"via": "link", "from_url": "https://x.example/a", "from_item": "a", "depth": 1})
    c = _item("c", {"via": "link", "from_url": "https://x.example/b", "from_item": "b", "depth": 2})
    items = {i.id: i for i in (a, b, c)}
    assert describe_chain(c, items.get) == ("link from https://x.example/b (depth 2, from item b) \u2190 "
                                            "link from https://x.example/a (depth 1, from item a) \u2190 "
                                            "disclosed by the candidate")
    loop1 = _item("l1", {"via": "link", "from_url": "u2", "from_item": "l2"})
    loop2 = _item("l2", {"via": "link", "from_url": "u1", "from_item": "l1"})
    loops = {"l1": loop1, "l2": loop2}
    assert describe_chain(loop1, loops.get).count("\u2190") <= 3
    assert describe_chain(b, {}.get) == "link from https://x.example/a (depth 1, from item a)"


def test_findings_report_names_how_each_page_was_reached(tmp_path: Path) -> None:
    b = build_case(tmp_path)
    found = add_item(b, "found", "A post about the weekend.")
    # a page reached by search, under a query that names a protected characteristic: masked
    with b.ws.session() as s:
        row = s.get(Item, found.id)
        row.reached_json = json.dumps({"via": "search", "query": '"Jane Doe" Baptist church', "rank": 2})
        s.add(row)
        s.commit()
    decide(b.ws, DecisionRequest(found.id, "validated", "her account", "Det. Ortiz"))
    (finding,) = findings_data(b.ws, b.plan.case.id).findings
    assert finding.reached.startswith("search query \u201c") and finding.reached.endswith("at rank 2")
    assert "Baptist" not in finding.reached and "[protected:" in finding.reached
    from vetting.reports.render import render_report

    out = tmp_path / "findings.html"
    render_report(b.ws, "findings", b.plan.case.id, "html", out, "Det. Ortiz")
    html = out.read_text()
    assert "How it was reached" in html and "at rank 2" in html and "Baptist" not in html


def test_unreached_pages_say_how_they_were_reached(tmp_path: Path) -> None:
    from vetting.domain.models import utcnow

    b = build_case(tmp_path)
    parent = add_item(b, "hub", "A link-in-bio page.")
    with b.ws.session() as s:
        s.add(Item(id="item-over-cap", case_id=b.plan.case.id, step_id="disclosed-profiles", key="page:over",
                   kind="page", url="https://folio.example/p/farm-11", outcome="not_collected",
                   reason="limit: 10 profile links followed per page", captured_at=utcnow(),
                   reached_json=json.dumps({"via": "link", "from_url": parent.url, "from_item": parent.id,
                                            "depth": 1, "rel_me": True})))
        s.commit()
    (over,) = [u for u in findings_data(b.ws, b.plan.case.id).unreached if u.url.endswith("farm-11")]
    assert over.reached.startswith(f"link from {parent.url} (depth 1")
    assert over.reached.endswith("\u2190 disclosed by the candidate")
