"""audit.timeline: a case's trail for display."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine

from audit import AuditLog, case_timeline, describe


def test_case_timeline_and_describe(tmp_path: Path) -> None:
    log = AuditLog(create_engine(f"sqlite:///{tmp_path / 'a.db'}"), tmp_path / "k", "v/t")
    log.create_schema()
    log.append("case.opened", actor="Det. Ruiz", case_id="case-7", subject="cand-1",
               payload={"procedure": "f" * 64})
    log.append("case.opened", actor="Det. Ruiz", case_id="case-8")
    log.append("item.captured", actor="collector:pages/0.1.0", case_id="case-7",
               subject="item-1", payload={"url": "http://x/u", "artifacts": [{}, {}]})
    trail = case_timeline(log.engine, "case-7")
    assert [(e.seq, e.action) for e in trail] == [(0, "case.opened"), (2, "item.captured")]
    line = describe(trail[1])
    assert line.startswith("#2 ") and "collector:pages/0.1.0: item.captured item-1" in line
    assert line.endswith("url='http://x/u', 2 artifact(s)")
    assert describe(trail[0]).endswith("\u2026") and len(describe(trail[0], width=20)) < 120
    assert case_timeline(log.engine, "case-none") == []
