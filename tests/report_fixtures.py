"""Workspaces with decided cases for the report tests, built without the crawler.

The reactor cannot run inside pytest, so the steps' outcomes are written the way the engine
writes them (step records plus ``step.started``/``step.finished`` audit events), items are
inserted with real stored evidence, and every decision goes through the real
``vetting.review.validation.decide``/``concur`` (which re-hash the evidence and check identity).
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlmodel import select

from vetting.domain.approvals import approve
from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.domain.models import Assessment, Case, Item, StepRun, utcnow
from vetting.engine.steps import CasePlan, open_case
from vetting.review.validation import DecisionRequest, concur, decide
from vetting.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "procedures" / "kcpd-261-1.yaml"
PROCEDURE_ID = "kcpd-261-1-preemployment"
INVESTIGATOR = "Det. Sam Ortiz"
SECOND = "Sgt. Lee Park"

HOSTILE_TEXT = ('I was pointing my rifle at the fence. <script>alert(1)</script>'
                '<img src=x onerror=alert(2)><a href="javascript:alert(3)">x</a>'
                '<style>body{display:none}</style><div style="position:fixed;top:0;left:0;width:100%;'
                'height:100%;background:red"> \u202egnp.exe ' + "W" * 400 + ' <!-- unclosed comment <table><tr><td>')
HOSTILE_TITLE = 'Range </title><script>alert(4)</script><b onmouseover=alert(5)>day \u202e' + "M" * 200
GUN = "Me at the lake last summer, pointing my rifle at the neighbours' dog for fun."
CLEAN = "Volunteered at the food bank with the youth league this weekend."
DRUGS = "Friday night: keg stand, then a bong in the parking lot before my shift."
PRIVATE_NOTE = "Draft post I never published: the boss is an idiot."  # never validated
REJECTED = "Another Jane Doe from Ohio won a pie contest."


def png(width: int = 48, height: int = 24, rgb: tuple[int, int, int] = (200, 210, 220)) -> bytes:
    """A small valid PNG (solid colour) made without an imaging library."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@dataclass
class Built:
    ws: Workspace
    plans: dict[str, CasePlan] = field(default_factory=dict)
    items: dict[str, Item] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)

    def case_id(self, candidate_id: str) -> str:
        return self.plans[candidate_id].case.id


def new_workspace(root: Path) -> Workspace:
    ws = Workspace.open(root / "ws")
    approve(ws, SHIPPED, "Capt. Dana Whitfield")
    return ws


def add_candidate_case(b: Built, root: Path, candidate_id: str, full_name: str) -> CasePlan:
    """A candidate (with a date of birth the findings report must NOT show) and their case."""
    auth = root / f"{candidate_id}-auth.pdf"
    auth.write_bytes(f"%PDF-1.4\n% I authorize the background investigation. {full_name}\n".encode())
    add_candidate(b.ws, CandidateInput(
        id=candidate_id, full_name=full_name, date_of_birth=date(1996, 4, 12), city="Kansas City", state="MO",
        usernames=[candidate_id.replace("-", "")], profile_urls=[f"https://social.example/u/{candidate_id}"],
        authorization={"file": auth.name, "signed_on": "2026-10-01"}), auth, INVESTIGATOR)
    plan = open_case(b.ws, candidate_id, PROCEDURE_ID, INVESTIGATOR)
    b.plans[candidate_id] = plan
    return plan


def run_steps(b: Built, candidate_id: str, failed: str | None = None, refused: int = 1) -> None:
    """Record every step finished as the engine would, with refused requests in the first."""
    ws, case_id = b.ws, b.case_id(candidate_id)
    with ws.session() as s:
        runs = list(s.exec(select(StepRun).where(StepRun.case_id == case_id).order_by(StepRun.position)))
    for run in runs:
        status = "failed" if run.step_id == failed else "completed"
        ws.record("step.started", actor=INVESTIGATOR, case_id=case_id, subject=run.step_id,
                  payload={"position": run.position, "attempt": 1, "resumed": False,
                           "collector": run.collector, "inputs": []})
        for n in range(refused if run.position == 0 else 0):
            ws.record("request.refused", actor=f"collector:{run.collector}/0.1.0", case_id=case_id,
                      subject=f"http://10.0.0.{n + 1}/admin?<script>x</script>",
                      payload={"step": run.step_id, "method": "GET", "reason": f"address: 10.0.0.{n + 1} is private",
                               "status": None})
        run.status, run.attempts, run.started_at, run.finished_at = status, 1, utcnow(), utcnow()
        run.error = "timeout: the search service did not answer" if status == "failed" else None
        with ws.session() as s:
            s.merge(run)
            s.commit()
        ws.record("step.finished", actor="system:engine", case_id=case_id, subject=run.step_id,
                  payload={"position": run.position, "status": status, "error": run.error, "attempts": 1,
                           "requests_allowed": 3, "requests_refused": refused if run.position == 0 else 0,
                           "items": 1})
    with ws.session() as s:
        case = s.get(Case, case_id)
        assert case is not None
        case.status, case.completed_at = "complete", utcnow()
        s.add(case)
        s.commit()
    ws.audit.checkpoint()


def flag(text: str, phrase: str, category: str, policy: str, discredit: bool = False) -> dict:
    start = text.index(phrase)
    return {"category_id": category, "rule_id": "r", "policy": policy, "start": start, "end": start + len(phrase),
            "matched_text": phrase, "excerpt": phrase, "requires_discredit": discredit}


def add_item(b: Built, candidate_id: str, key: str, text: str, *, title: str = "A public post",
             flags: list[dict] | None = None, outcome: str = "captured", reason: str = "",
             screenshot: bytes | None = None) -> Item:
    """An item with stored response, text and screenshot evidence, and its screening."""
    ws, case_id = b.ws, b.case_id(candidate_id)
    url = f"https://social.example/u/{candidate_id}/posts/{key}"
    artifacts = []
    if outcome == "captured":
        body = f"<html><head><title>{title}</title></head><body>{text}</body></html>".encode()
        for kind, data, suffix in (("response", body, ".html"), ("text", text.encode(), ".txt"),
                                   ("screenshot", screenshot if screenshot is not None else png(), ".png")):
            rel, digest = ws.store_bytes(data, suffix)
            artifacts.append({"kind": kind, "path": rel, "sha256": digest})
    item = Item(id=f"item-{candidate_id}-{key}", case_id=case_id, step_id="disclosed-profiles",
                key=f"page:{key}", kind="page", url=url, final_url=url, status=200 if outcome == "captured" else None,
                outcome=outcome, reason=reason, title=title if outcome == "captured" else "",
                text=text if outcome == "captured" else "", artifacts_json=json.dumps(artifacts),
                captured_at=utcnow(), found_by="profile_urls", collector="collector:pages/0.1.0")
    with ws.session() as s:
        s.add(item)
        s.commit()
        if outcome == "captured":
            s.add(Assessment(item_id=item.id, case_id=case_id, identity_level="confirmed",
                             matches_json=json.dumps([{"kind": "disclosed_account", "value": url, "where": "url",
                                                       "snippet": url},
                                                      {"kind": "username", "value": candidate_id, "where": "text",
                                                       "snippet": candidate_id}]),
                             flags_json=json.dumps(flags or []), screened_at=utcnow()))
            s.commit()
    # As the collectors write it: the address, reason and input that led here are committed.
    url_c, reason_c, found_by_c = ws.commit_values(candidate_id, [url, reason, item.found_by])
    ws.record("item.captured", actor=item.collector, case_id=case_id, subject=item.id,
              payload={"step": item.step_id, "kind": item.kind, "url": url_c, "outcome": outcome, "reason": reason_c,
                       "status": item.status, "found_by": found_by_c,
                       "artifacts": [{"path": a["path"], "sha256": a["sha256"], "kind": a["kind"]}
                                     for a in artifacts]})
    b.items[item.id] = item
    return item


def validate(b: Built, item: Item, findings: tuple[str, ...] = (), *, concur_by: str | None = SECOND,
             discredit: str = "", mitigating: str = "") -> int:
    row = decide(b.ws, DecisionRequest(item.id, "validated", "the candidate's disclosed account; reviewed",
                                       INVESTIGATOR, findings, discredit=discredit, mitigating=mitigating))
    assert row.id is not None
    if findings and concur_by:
        concur(b.ws, row.id, concur_by, "agree with the finding")
    b.decisions[item.id] = row.id
    return row.id


def build_reports_workspace(root: Path) -> Built:
    """Two candidates under the shipped procedure.

    ``jane-doe``: an adverse concurred finding (rifle), a hostile-markup adverse finding, a
    clean validated item, a rejected item, an unvalidated item, an adverse finding lacking
    concurrence, and a login-walled page. ``omar-haddad``: one clean validated item only, and
    a failed step.
    """
    b = Built(new_workspace(root))
    add_candidate_case(b, root, "jane-doe", "Jane Doe")
    add_candidate_case(b, root, "omar-haddad", "Omar Haddad")
    run_steps(b, "jane-doe", refused=2)
    run_steps(b, "omar-haddad", failed="web-search", refused=0)
    discredit = "Pointing a firearm at an animal in public, posted for an audience."
    gun = add_item(b, "jane-doe", "gun", GUN, title="Lake day",
                   flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e", True)])
    validate(b, gun, ("tactical-instruments",), discredit=discredit, mitigating="Posted when she was 21.")
    hostile = add_item(b, "jane-doe", "hostile", HOSTILE_TEXT, title=HOSTILE_TITLE,
                       flags=[flag(HOSTILE_TEXT, "pointing my rifle", "tactical-instruments", "IV.C.1.e", True)])
    validate(b, hostile, ("tactical-instruments",), discredit=discredit)
    validate(b, add_item(b, "jane-doe", "clean", CLEAN, title="Food bank"))
    rejected = add_item(b, "jane-doe", "rejected", REJECTED, title="Pie contest")
    decide(b.ws, DecisionRequest(rejected.id, "rejected", "a different person of the same name", INVESTIGATOR))
    add_item(b, "jane-doe", "pending", PRIVATE_NOTE, title="Undecided")
    drugs = add_item(b, "jane-doe", "drugs", DRUGS, title="Friday",
                     flags=[flag(DRUGS, "keg stand", "alcohol-cash-drugs", "IV.C.1.c", True)])
    validate(b, drugs, ("alcohol-cash-drugs",), concur_by=None,
             discredit="Drug use in public before a work shift, posted publicly.")
    add_item(b, "jane-doe", "walled", "", outcome="not_public", reason="not public: login wall")
    validate(b, add_item(b, "omar-haddad", "clean", CLEAN, title="Food bank"))
    return b


def clone(b: Built, root: Path) -> Built:
    """A copy of a built workspace (same id and key), cheaper than building it again per test."""
    import shutil

    b.ws.engine.dispose()  # no open connection while the files are copied
    shutil.copytree(b.ws.root, root / "ws")
    return Built(Workspace.open(root / "ws"), dict(b.plans), dict(b.items), dict(b.decisions))
