"""The pages step following profile links (``limits.max_depth``): real `vet run` crawls of the
demo web's Linkring/Folio chain, through the guard, checking what is captured at depths 0, 1
and 2, the recorded chain, the per-page cap, and how `vet review` tells a page reached by
search that a disclosed profile also links to."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml
from conftest import REPO, vet

from spiders.links import PROFILE_LINKS_PER_PAGE, comparable, profile_links, profile_pattern

# --- which links count as profiles (pure) --------------------------------------------------------

PAGE = """<html><head><base href="https://me.example/x/"><link rel="me" href="https://keys.example/alex"></head><body>
<a href="https://pics.example/u/alex" rel="nofollow me">pics</a>
<a href="https://pics.example/u/friend">a friend's pics (shape of a profile)</a>
<a href="https://pics.example/u/alex/photo/3">a photo, not a profile</a>
<a href="https://shop.example/buy">a shop</a>
<a href="mailto:alex@mail.example" rel="me">mail</a>
<a href="javascript:alert(1)" rel="me">js</a>
<a href="../x/" rel="me">this page itself</a>
<a href="https://PICS.example/u/alex/#top" rel="me">the same link again</a>
<a href="other" rel="me">relative</a>
</body></html>"""


def test_profile_links_are_rel_me_or_site_list_shapes() -> None:
    patterns = [("Pics", profile_pattern("https://pics.example/u/{account}"))]
    links, over = profile_links(PAGE, "https://me.example/x/", patterns)
    assert [(x.url, x.rel_me, x.site) for x in links] == [
        ("https://keys.example/alex", True, ""),
        ("https://pics.example/u/alex", True, "Pics"),
        ("https://me.example/x/other", True, ""),
        ("https://pics.example/u/friend", False, "Pics"),
    ]
    assert over == []
    # without a site list only rel=me links count
    links, _ = profile_links(PAGE, "https://me.example/x/")
    assert all(x.rel_me for x in links) and len(links) == 3


def test_profile_links_are_capped_per_page() -> None:
    many = "".join(f'<a rel="me" href="https://p.example/{i}">{i}</a>' for i in range(25))
    links, over = profile_links(many, "https://me.example/")
    assert len(links) == PROFILE_LINKS_PER_PAGE and len(over) == 25 - PROFILE_LINKS_PER_PAGE
    assert links[0].url == "https://p.example/0"  # document order


@pytest.mark.parametrize("template", ["https://pics.example/u/", "{account}", "not a url {account}"])
def test_templates_without_account_or_host_give_no_pattern(template: str) -> None:
    assert profile_pattern(template) is None


def test_hostile_markup_does_not_crash() -> None:
    links, _ = profile_links(b"<a rel=me href='http://[::1'>x</a><a rel=me href='http://x:99999/'>y</a>" * 3,
                             "http://a.example/")
    assert all(comparable(x.url) for x in links)


# --- real crawls ---------------------------------------------------------------------------------

FOLIO_SITES = {"format": "vetting-sites/1", "sites": [
    {"name": "Folio", "check_url": "{folio}/p/{account}", "profile_url": "{folio}/p/{account}",
     "exists": {"status": [200], "contains": "class=\"profile\""},
     "missing": {"status": [404], "contains": "No profile"}, "known_account": "mellis"}]}


def crawl(tmp_path: Path, demo_web, auth_file: Path, depth: int, urls: list[str], search: bool = False) -> Path:
    """`vet run` of a procedure whose pages step has ``max_depth`` = depth; returns the workspace."""
    data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
    data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.05, "concurrency_per_domain": 4},
                            search={"backend": "searxng", "url": demo_web.base_url("search")})
    pages, accounts, web_search = data["steps"]
    pages["limits"] = {"max_pages": 25, "max_depth": depth, "timeout_seconds": 600}
    accounts["sites"] = "folio-sites.json"  # the site list: Folio's profile shape counts as a profile
    (tmp_path / "folio-sites.json").write_text(demo_web.resolve(json.dumps(FOLIO_SITES)))
    web_search["queries"] = ['"{full_name}"']
    data["steps"] = [pages, accounts] + ([web_search] if search else [])
    proc = tmp_path / "proc.yaml"
    proc.write_text(yaml.safe_dump(data, sort_keys=False))
    ws = tmp_path / "ws"
    vet("procedure", "approve", str(proc), "--by", "Capt. Rao", workspace=ws, check=True)
    url_args = [a for u in urls for a in ("--url", demo_web.resolve(u))]
    vet("candidate", "add", "--name", "Morgan Ellis", "--city", "Kansas City", "--state", "MO", *url_args,
        "--authorization", str(auth_file), "--signed-on", "2026-10-01", "--by", "Inv. Lee", workspace=ws, check=True)
    result = vet("run", "morgan-ellis", "--procedure", "kcpd-261-1-preemployment", "--by", "Inv. Lee",
                 workspace=ws, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    return ws


def items(ws: Path, demo_web) -> dict[str, dict]:
    """Pages-step items by URL with placeholders put back ({folio}/p/mellis)."""
    back = {v: "{" + k + "}" for k, v in demo_web.placeholders.items()}
    out = {}
    with sqlite3.connect(ws / "vetting.db") as db:
        rows = db.execute("SELECT id, key, url, outcome, reason, reached_json, step_id FROM item").fetchall()
    for item_id, key, url, outcome, reason, reached, step in rows:
        for base, name in back.items():
            url = url.replace(base, name)
            reached = reached.replace(base, name)
        out[url if step == "disclosed-profiles" else f"{step}:{url}"] = {
            "id": item_id, "key": key, "outcome": outcome, "reason": reason, "reached": json.loads(reached)}
    return out


def request_events(ws: Path) -> list[tuple[str, str]]:
    """(action, URL) of every request event; URLs are committed in the log, revealed here."""
    from vetting.store.personal import Revealer
    from vetting.store.workspace import Workspace

    opened = Workspace.open(ws)
    with opened.session() as s:
        reveal = Revealer(s, "morgan-ellis")
        return [(e.action, reveal(e.subject or "")) for e in opened.audit.events()
                if e.action.startswith("request.")]


def test_depth_0_follows_nothing(tmp_path: Path, demo_web, auth_file: Path) -> None:
    ws = crawl(tmp_path, demo_web, auth_file, 0, ["{linkring}/mellis"])
    got = items(ws, demo_web)
    assert set(got) == {"{linkring}/mellis"}
    assert got["{linkring}/mellis"]["reached"]["via"] == "disclosed"
    assert got["{linkring}/mellis"]["outcome"] == "captured"


def test_depth_1_follows_profile_links_of_disclosed_pages_only(tmp_path: Path, demo_web, auth_file: Path) -> None:
    ws = crawl(tmp_path, demo_web, auth_file, 1, ["{linkring}/mellis", "{linkring}/link-farm", "{folio}/p/farm-3"])
    got = items(ws, demo_web)
    mellis = got["{linkring}/mellis"]
    portfolio = got["{folio}/p/mellis"]
    assert portfolio["outcome"] == "captured"
    assert portfolio["reached"] == {"via": "link", "from_url": "{linkring}/mellis", "from_item": mellis["id"],
                                    "depth": 1, "rel_me": True, "site": "Folio"}
    # a plain link counts when it has the shape of a profile on the procedure's site list
    studio = got["{folio}/p/mellis-studio"]["reached"]
    assert (studio["rel_me"], studio["site"], studio["depth"]) == (False, "Folio", 1)
    # followed links meet the same guard as any request: robots.txt, a redirect to a private address
    robots = got["{social}/private-area/mellis"]
    assert (robots["outcome"], robots["reason"].split(":")[0]) == ("refused", "robots.txt")
    assert robots["reached"]["from_item"] == mellis["id"] and robots["reached"]["depth"] == 1
    private = got["{hostile}/redirect-private"]
    assert private["outcome"] == "refused" and private["reason"] == "address: 10.0.0.5 is private"
    assert private["reached"]["via"] == "link"
    # not profiles: Linkring's about page, the news site
    assert "{linkring}/about" not in got and "{news}/" not in got
    # depth 2 is not reached at max_depth 1
    assert "{linkring}/mellis-archive" not in got
    # the link farm: 10 followed, the other 2 recorded as not collected with the cap
    farm = {u: x for u, x in got.items() if "/p/farm-" in u}
    assert len(farm) == 12
    assert sum(x["outcome"] == "captured" for x in farm.values()) == PROFILE_LINKS_PER_PAGE
    skipped = [x for x in farm.values() if x["outcome"] == "not_collected"]
    assert len(skipped) == 2 and all("10 profile links followed per page" in x["reason"] for x in skipped)
    # farm-3 is also one of the step's inputs: recorded as that, never as a link, never twice
    assert farm.pop("{folio}/p/farm-3")["reached"]["via"] == "disclosed"
    assert all(x["reached"]["from_item"] == got["{linkring}/link-farm"]["id"] for x in farm.values())
    # every followed request went through the guard: robots.txt of each new host was asked for
    events = request_events(ws)
    folio = demo_web.base_url("folio")
    assert ("request.allowed", folio + "/robots.txt") in events
    assert ("request.allowed", folio + "/p/mellis") in events
    assert not any(a.startswith("request") and s == demo_web.base_url("linkring") + "/about" for a, s in events)


def test_depth_2_follows_one_more_link_and_review_tells_the_chain(tmp_path: Path, demo_web,
                                                                  auth_file: Path) -> None:
    ws = crawl(tmp_path, demo_web, auth_file, 2, ["{linkring}/mellis"], search=True)
    got = items(ws, demo_web)
    portfolio = got["{folio}/p/mellis"]
    archive = got["{linkring}/mellis-archive"]
    assert archive["outcome"] == "captured"
    assert archive["reached"]["depth"] == 2 and archive["reached"]["from_item"] == portfolio["id"]
    assert archive["reached"]["from_url"] == "{folio}/p/mellis"
    assert "{folio}/p/mellis-2019" not in got  # depth 3
    # the portfolio links back to the disclosed page: captured once, not again
    with sqlite3.connect(ws / "vetting.db") as db:
        keys = [k for (k,) in db.execute("SELECT key FROM item")]
    assert keys.count(f"page:{demo_web.base_url('linkring')}/mellis") == 1
    assert len(keys) == len(set(keys))
    # the search step found the portfolio too: its item says so, whatever links to it
    searched = [x for u, x in got.items() if u.startswith("web-search:") and u.endswith("/p/mellis")]
    assert searched and searched[0]["reached"] == {"via": "search", "query": '"Morgan Ellis"',
                                                   "rank": searched[0]["reached"]["rank"]}
    case = sqlite3.connect(ws / "vetting.db").execute("SELECT id FROM \"case\"").fetchone()[0]
    review = vet("review", case, workspace=ws)
    assert review.returncode == 0, review.stderr
    text = " ".join(review.stdout.split())
    folio, linkring = demo_web.base_url("folio"), demo_web.base_url("linkring")
    # the depth-2 page: its whole chain back to the disclosed profile
    assert (f"reached: link from {folio}/p/mellis (depth 2" in text
            and f"link from {linkring}/mellis (depth 1" in text and "disclosed by the candidate" in text)
    # the page reached by search: the chain says search, the identity names the disclosed profile linking to it
    assert f'reached: search query "Morgan Ellis" at rank {searched[0]["reached"]["rank"]}' in text
    assert f"the disclosed profile {linkring}/mellis links to this page" in text
    assert "(linked_from_disclosed)" not in text
    # the depth-2 page is not confirmed by the chain: the candidate controls only the disclosed page
    with sqlite3.connect(ws / "vetting.db") as db:
        levels = dict(db.execute("SELECT item_id, identity_level FROM assessment").fetchall())
    assert levels[portfolio["id"]] == "confirmed"  # linked rel="me" from the disclosed page
    assert levels[archive["id"]] != "confirmed"
    # the studio page is linked from the disclosed page without rel="me": evidence, not confirmation
    assert levels[got["{folio}/p/mellis-studio"]["id"]] != "confirmed"


def test_a_resumed_step_follows_the_links_of_pages_it_does_not_fetch_again(tmp_path: Path, demo_web,
                                                                          auth_file: Path) -> None:
    """Killed after the disclosed page was saved but before its links were: the resumed run
    takes the links the saved page recorded, without fetching it a second time."""
    ws = crawl(tmp_path, demo_web, auth_file, 1, ["{linkring}/mellis"])
    before = items(ws, demo_web)
    assert before["{folio}/p/mellis"]["outcome"] == "captured"
    with sqlite3.connect(ws / "vetting.db") as db:  # the state a kill leaves: step running, links not saved
        db.execute("DELETE FROM assessment")
        db.execute("DELETE FROM item WHERE reached_json LIKE '%\"via\": \"link\"%'")
        db.execute("UPDATE steprun SET status = 'running' WHERE step_id = 'disclosed-profiles'")
        db.execute("UPDATE \"case\" SET status = 'open', completed_at = NULL")
    assert "{folio}/p/mellis" not in items(ws, demo_web)
    disclosed = ("request.allowed", demo_web.base_url("linkring") + "/mellis")
    fetched_before = request_events(ws).count(disclosed)
    assert fetched_before >= 1
    result = vet("run", "morgan-ellis", "--procedure", "kcpd-261-1-preemployment", "--by", "Inv. Lee",
                 workspace=ws, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    after = items(ws, demo_web)
    assert after["{folio}/p/mellis"]["outcome"] == "captured"
    assert after["{folio}/p/mellis"]["reached"]["from_item"] == before["{linkring}/mellis"]["id"]
    assert set(after) == set(before)
    assert request_events(ws).count(disclosed) == fetched_before  # not fetched again by the resumed run
