"""Results reused within a day across candidates: site health and robots.txt.

Both are properties of a site on a given day, not of a candidate: a site's known/random
health check says whether its answers can be trusted *today* (WhatsMyName's rationale), and
a robots.txt is what the site asks of every crawler. Fetching them again for every candidate
costs three of a site's four requests. So the accounts collector keeps them, per workspace,
for :data:`MAX_AGE`, and a later case reuses them: every reuse is an audit event naming the
result (its site or host, its verdicts or sha256) and when and by which case it was fetched,
so the record says exactly what a verdict rested on.

Kept in one table of its own (``reuse_cache``), created on first use on SQLite and
PostgreSQL alike. It is a cache: deleting it only costs requests. Only definite results are
kept (a health check that timed out or hit a wall, or a robots.txt that could not be
fetched, is fetched again next time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, String, Table, Text, and_, select
from sqlalchemy.engine import Engine

MAX_AGE = timedelta(hours=24)
_METADATA = MetaData()
REUSE_CACHE = Table(
    "reuse_cache", _METADATA,
    Column("kind", String(16), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("body", LargeBinary, nullable=True),
    Column("sha256", String(64), nullable=False),
    Column("fetched_at", String(40), nullable=False),
    Column("case_id", String(200), nullable=False),
    Column("step_id", String(200), nullable=False),
)
#: Health verdicts worth keeping for the day; errors and walls are checked again.
DEFINITE = {"exists", "missing", "indeterminate"}
_CREATED: set[int] = set()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reusable:
    """One kept result and where it came from."""

    key: str
    value: dict[str, Any]
    body: bytes | None
    sha256: str
    fetched_at: str
    case_id: str
    step_id: str

    def origin(self) -> dict[str, Any]:
        return {"fetched_at": self.fetched_at, "case": self.case_id, "step": self.step_id, "sha256": self.sha256}


class DayCache:
    """The workspace's kept results of one kind, read once, written in one transaction."""

    def __init__(self, engine: Engine, kind: str, now: datetime | None = None):
        self.engine = engine
        self.kind = kind
        self.now = now or _now()
        if id(engine) not in _CREATED:
            _METADATA.create_all(engine, checkfirst=True)
            _CREATED.add(id(engine))
        self._fresh: dict[str, Reusable] = {}
        self._pending: list[Reusable] = []

    def load(self) -> dict[str, Reusable]:
        """Every result of this kind fetched within :data:`MAX_AGE`."""
        since = (self.now - MAX_AGE).isoformat()
        table = REUSE_CACHE
        with self.engine.connect() as conn:
            rows = conn.execute(select(table).where(and_(table.c.kind == self.kind, table.c.fetched_at >= since)))
            self._fresh = {r.key: Reusable(r.key, json.loads(r.value), r.body, r.sha256, r.fetched_at, r.case_id,
                                           r.step_id) for r in rows}
        return self._fresh

    def keep(self, key: str, value: dict[str, Any], body: bytes | None, case_id: str, step_id: str) -> Reusable:
        digest = hashlib.sha256(body if body is not None else json.dumps(value, sort_keys=True).encode()).hexdigest()
        entry = Reusable(key, value, body, digest, _now().isoformat(), case_id, step_id)
        self._pending.append(entry)
        return entry

    def flush(self) -> None:
        """Write the kept results (replacing older ones of the same key) in one transaction."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        keys = [e.key for e in pending]
        with self.engine.begin() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                conn.execute(REUSE_CACHE.delete().where(and_(REUSE_CACHE.c.kind == self.kind,
                                                             REUSE_CACHE.c.key.in_(chunk))))
            conn.execute(REUSE_CACHE.insert(), [
                {"kind": self.kind, "key": e.key, "value": json.dumps(e.value, sort_keys=True), "body": e.body,
                 "sha256": e.sha256, "fetched_at": e.fetched_at, "case_id": e.case_id, "step_id": e.step_id}
                for e in {e.key: e for e in pending}.values()])


def health_key(site_json: dict[str, Any], network: str, user_agent: str) -> str:
    """A site's health is reused only for the same rules, network profile and User-Agent."""
    blob = json.dumps({"site": site_json, "network": network, "ua": user_agent}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


class RobotsCache:
    """robots.txt results for the guard's robots middleware (``sink.robots_cache``).

    ``get(root)`` returns (status, body) of a robots.txt fetched within the day, and notes the
    reuse; ``put(root, status, body)`` keeps a fresh 2xx or 4xx answer (5xx and network
    errors mean "disallow all" today and are fetched again next time).
    """

    def __init__(self, cache: DayCache, user_agent: str, case_id: str, step_id: str):
        self.cache = cache
        self.user_agent = user_agent
        self.case_id = case_id
        self.step_id = step_id
        self.kept = cache.load()
        self.reused: dict[str, dict[str, Any]] = {}

    def _key(self, root: str) -> str:
        return hashlib.sha256(f"{root}\n{self.user_agent}".encode()).hexdigest()

    def get(self, root: str) -> tuple[int, bytes] | None:
        entry = self.kept.get(self._key(root))
        if entry is None:
            return None
        self.reused[root] = entry.origin()
        return int(entry.value["status"]), entry.body or b""

    def put(self, root: str, status: int, body: bytes) -> None:
        if 200 <= status < 500:
            # Only a hash of the host is kept: a subdomain site's host is a candidate's username.
            entry = self.cache.keep(self._key(root), {"status": status}, body, self.case_id, self.step_id)
            self.kept[entry.key] = entry
