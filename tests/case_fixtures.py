"""Building a screened case without the crawler (the reactor cannot run inside pytest).

Items are inserted with real stored evidence, so validation's re-hashing is real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vetting.domain.approvals import approve
from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.domain.models import Assessment, Item, utcnow
from vetting.engine.steps import CasePlan, open_case
from vetting.store.workspace import Workspace

REPO = Path(__file__).resolve().parent.parent
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


@dataclass
class Built:
    ws: Workspace
    plan: CasePlan


def build_case(tmp_path: Path, candidate_id: str = "jane-doe", full_name: str = "Jane Doe") -> Built:
    ws = Workspace.open(tmp_path / "ws")
    approve(ws, REPO / "procedures" / "kcpd-261-1.yaml", "Capt. Rao")
    auth = tmp_path / f"{candidate_id}-auth.pdf"
    auth.write_bytes(b"%PDF-1.4\n% signed authorization\n")
    add_candidate(ws, CandidateInput(id=candidate_id, full_name=full_name, city="Kansas City", state="MO",
                                     usernames=["janed95"], profile_urls=["https://social.example/u/janed95"],
                                     authorization={"file": auth.name, "signed_on": "2026-10-01"}), auth, "Inv. Lee")
    return Built(ws, open_case(ws, candidate_id, "kcpd-261-1-preemployment", "Inv. Lee"))


def add_item(b: Built, key: str, text: str, *, level: str = "confirmed", flags: list[dict] | None = None,
             title: str = "A page", outside_lookback: bool = False, kind: str = "page") -> Item:
    ws = b.ws
    body = f"<html><title>{title}</title><body>{text}</body></html>".encode()
    artifacts = []
    for art_kind, data, suffix in (("response", body, ".body"), ("text", text.encode(), ".txt"),
                                   ("screenshot", PNG, ".png")):
        rel, digest = ws.store_bytes(data, suffix)
        artifacts.append({"kind": art_kind, "path": rel, "sha256": digest})
    item = Item(id=f"item-{key}", case_id=b.plan.case.id, step_id="disclosed-profiles", key=f"page:{key}",
                kind=kind, url=f"https://social.example/{key}", final_url=f"https://social.example/{key}",
                status=200, outcome="captured", title=title, text=text, artifacts_json=json.dumps(artifacts),
                captured_at=utcnow(), found_by="profile_urls")
    assessment = Assessment(item_id=item.id, case_id=b.plan.case.id, identity_level=level,
                            matches_json=json.dumps([{"kind": "disclosed_account", "value": item.url,
                                                      "where": "url", "snippet": item.url}]),
                            flags_json=json.dumps(flags or []), outside_lookback=outside_lookback,
                            screened_at=utcnow())
    with ws.session() as s:
        s.add(item)
        s.commit()
        s.add(assessment)
        s.commit()
    return item


def flag(text: str, phrase: str, category: str, policy: str, protected: bool = False,
         discredit: bool = False) -> dict:
    start = text.index(phrase)
    return {"category_id": category, "rule_id": "r", "policy": policy, "start": start, "end": start + len(phrase),
            "matched_text": phrase, "excerpt": phrase, "requires_discredit": discredit,
            "protected_conduct": protected, "rule_ids": ["r"]}
