"""Site health and robots.txt reused within a day across candidates, and said so in the audit.

Real `vet run`s on the loopback demo web, two candidates of the same day whose usernames
exist nowhere (so no profile is rendered): the second case asks no site for robots.txt or
for its health check, its verdicts are the first one's, and the audit names each reused
result with the case and time it came from. A result older than a day is checked again.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from conftest import vet

from vetting.demo.run import demo_procedure
from vetting.domain.bundled import shipped_procedure
from vetting.store.workspace import Workspace

INV = "Inv. Lee"


def _events(ws: Path, case_id: str) -> list:
    return list(Workspace.open(ws, create=False).audit.events(case_id=case_id))


def _case(ws: Path, candidate: str) -> str:
    with sqlite3.connect(ws / "vetting.db") as db:
        return db.execute("SELECT id FROM 'case' WHERE candidate_id = ?", (candidate,)).fetchone()[0]


def _verdicts(ws: Path, case_id: str) -> dict[str, tuple[str, str]]:
    with sqlite3.connect(ws / "vetting.db") as db:
        rows = db.execute("SELECT key, outcome, reason FROM item WHERE case_id = ? AND kind = 'account'", (case_id,))
        return {key.split(":")[1]: (outcome, reason) for key, outcome, reason in rows}


def _run(ws: Path, auth: Path, name: str, username: str) -> str:
    vet("candidate", "add", "--name", name, "--username", username, "--authorization", str(auth),
        "--signed-on", "2026-10-01", "--by", INV, workspace=ws, check=True)
    candidate = name.lower().replace(" ", "-")
    vet("run", candidate, "--procedure", "kcpd-261-1-preemployment", "--by", INV, workspace=ws, check=True)
    return _case(ws, candidate)


def test_second_case_of_the_day_reuses_health_and_robots(tmp_path: Path, demo_web, auth_file: Path) -> None:
    (tmp_path / "demo-sites.json").write_text(
        demo_web.resolve(demo_web.sites_manifest_path().read_text(encoding="utf-8")), encoding="utf-8")
    data = demo_procedure(shipped_procedure(), demo_web, "demo-sites.json")
    data["steps"] = [s for s in data["steps"] if s["collector"] == "accounts"]
    (tmp_path / "proc.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    ws = tmp_path / "ws"
    vet("procedure", "approve", str(tmp_path / "proc.yaml"), "--by", "Capt. Rao", workspace=ws, check=True)

    first = _run(ws, auth_file, "Alpha Person", "zz-nobody-alpha")
    second = _run(ws, auth_file, "Beta Person", "zz-nobody-beta")

    first_events, second_events = _events(ws, first), _events(ws, second)
    checked = [e for e in first_events if e.action == "sites.health_checked"]
    assert len(checked) == 1 and "Murmur" in checked[0].payload["sites"]
    assert not [e for e in first_events if e.action in ("sites.health_reused", "robots.reused")]

    definite = {"exists", "missing", "indeterminate"}
    kept = {site for site, (known, random) in checked[0].payload["sites"].items()
            if known in definite and random in definite}
    assert "Murmur" in kept and "EveryName" in kept and "ShieldWall Social" not in kept  # a wall is checked again
    (reused,) = [e for e in second_events if e.action == "sites.health_reused"]
    assert set(reused.payload["sites"]) == kept
    for site, origin in reused.payload["sites"].items():
        assert origin["case"] == first and origin["fetched_at"] and len(origin["sha256"]) == 64
        assert [origin["known"], origin["random"]] == checked[0].payload["sites"][site]
    (robots,) = [e for e in second_events if e.action == "robots.reused"]
    assert robots.payload["hosts"] and all(o["case"] == first for o in robots.payload["hosts"].values())
    (rechecked,) = [e for e in second_events if e.action == "sites.health_checked"]
    assert set(rechecked.payload["sites"]) == set(checked[0].payload["sites"]) - kept

    # the second case sent no health request to a kept site: only the username's check
    manifest = yaml.safe_load((tmp_path / "demo-sites.json").read_text(encoding="utf-8"))
    kept_hosts = {s["uri_check"].split("/")[2] for s in manifest["sites"] if s["name"] in kept}
    with sqlite3.connect(ws / "vetting.db") as db:  # request URLs are committed in events: their values
        values = dict(db.execute("SELECT commitment, value FROM personal_value"))
    urls = [values.get(e.subject or "", e.subject or "") for e in second_events if e.action.startswith("request.")]
    to_kept = [u for u in urls if u.split("/")[2] in kept_hosts]
    assert to_kept and not [u for u in to_kept if u.endswith("/robots.txt") or "zz-nobody-beta" not in u]

    # same verdicts (the unreliable site stays unreliable), and each says where its health came from
    one, two = _verdicts(ws, first), _verdicts(ws, second)
    assert {k: v[0] for k, v in one.items()} == {k: v[0] for k, v in two.items()}
    assert two["EveryName"][0] == "indeterminate" and "unreliable" in two["EveryName"][1]

    # a day later nothing is reused
    with sqlite3.connect(ws / "vetting.db") as db:
        old = (datetime.now(UTC) - timedelta(hours=25)).isoformat()
        db.execute("UPDATE reuse_cache SET fetched_at = ?", (old,))
    third = _run(ws, auth_file, "Gamma Person", "zz-nobody-gamma")
    third_events = _events(ws, third)
    assert [e for e in third_events if e.action == "sites.health_checked"]
    assert not [e for e in third_events if e.action in ("sites.health_reused", "robots.reused")]


def test_reuse_cache_on_sqlite_and_postgres(tmp_path: Path, postgres) -> None:
    """The table is created on first use on both databases; a day's results come back, older
    ones do not, a newer result of the same key replaces the older one."""
    from sqlalchemy import create_engine

    from vetting.engine.daycache import DayCache, RobotsCache

    for url in (f"sqlite:///{tmp_path / 'c.db'}", postgres.new_database()):
        engine = create_engine(url)
        cache = DayCache(engine, "robots")
        robots = RobotsCache(cache, "Agency/1.0 (+https://a.example)", "case-1", "step")
        assert robots.get("http://a.example") is None
        robots.put("http://a.example", 200, b"User-agent: *\nDisallow: /x\n")
        robots.put("http://b.example", 503, b"down")  # not kept: fetched again next time
        cache.flush()
        later = RobotsCache(DayCache(engine, "robots"), "Agency/1.0 (+https://a.example)", "case-2", "step")
        assert later.get("http://a.example") == (200, b"User-agent: *\nDisallow: /x\n")
        assert later.get("http://b.example") is None
        assert later.reused["http://a.example"]["case"] == "case-1"
        other_ua = RobotsCache(DayCache(engine, "robots"), "Other/2.0 (+https://o.example)", "case-3", "step")
        assert other_ua.get("http://a.example") is None  # robots.txt answers are per User-Agent
        tomorrow = DayCache(engine, "robots", now=datetime.now(UTC) + timedelta(hours=25))
        assert tomorrow.load() == {}
        engine.dispose()
