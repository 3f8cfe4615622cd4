"""Damaged evidence is loud: a findings report refuses (or, with --allow-damaged, announces it),
and ``vet review`` shows the damage beside the item. Never a silently shorter report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_fixtures import GUN, add_item, flag, validate
from test_cli import invoke, tree_digest

from vetting.domain.models import Item


def gun_with_warc(built) -> Item:
    """A concurred adverse finding whose screenshot is also a record in a real WARC file."""
    from spiders.warc import WarcEvidenceWriter

    item = add_item(built, "jane-doe", "warcgun", GUN, title="Lake day again",
                    flags=[flag(GUN, "pointing my rifle", "tactical-instruments", "IV.C.1.e", True)])
    artifacts = item.artifacts()
    shot = next(a for a in artifacts if a["kind"] == "screenshot")
    data = built.ws.evidence_path(shot["path"]).read_bytes()
    warc = built.ws.evidence_root / "warc" / "test" / "damage.warc.gz"
    with WarcEvidenceWriter(warc, {"software": "test"}) as writer:
        ref = writer.write_resource(item.url, "image/png", data)
    shot.update(warc=warc.relative_to(built.ws.evidence_root).as_posix(), offset=ref.offset,
                record_id=ref.record_id)
    item.artifacts_json = json.dumps(artifacts)
    with built.ws.session() as s:
        s.merge(item)
        s.commit()
    validate(built, item, ("tactical-instruments",),
             discredit="Pointing a firearm at an animal in public, posted for an audience.")
    return item


def flip(path: Path, at: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if at is None else at
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def damage(built, item: Item, how: str) -> str:
    arts = {a["kind"]: a for a in item.artifacts()}
    if how == "cas-changed":
        flip(built.ws.evidence_path(arts["text"]["path"]))
        return "no longer matches its sha256"
    if how == "cas-missing":
        built.ws.evidence_path(arts["response"]["path"]).unlink()
        return "is missing"
    warc = built.ws.evidence_path(arts["screenshot"]["warc"])
    if how == "warc-flipped":
        flip(warc, int(arts["screenshot"]["offset"]) + 40)
        return "WARC record"
    warc.unlink()
    return "WARC record"


@pytest.mark.parametrize("how", ["cas-changed", "cas-missing", "warc-flipped", "warc-deleted"])
def test_findings_report_refuses_then_announces_with_allow_damaged(built, tmp_path: Path, how: str) -> None:
    item = gun_with_warc(built)
    case = built.case_id("jane-doe")
    ok = invoke(built.ws.root, "report", "findings", case, "-o", str(tmp_path / "before.html"))
    assert ok.exit_code == 0, ok.output
    expected = damage(built, item, how)
    out = tmp_path / "after.html"
    before = tree_digest(built.ws.root)
    refused = invoke(built.ws.root, "report", "findings", case, "-o", str(out))
    assert refused.exit_code == 1, refused.output
    line = refused.output.strip()
    assert "\n" not in line and item.id in line and expected in line and "--allow-damaged" in line
    assert not out.exists() and tree_digest(built.ws.root) == before  # nothing rendered, nothing recorded
    allowed = invoke(built.ws.root, "report", "findings", case, "-o", str(out), "--allow-damaged")
    assert allowed.exit_code == 0, allowed.output
    html = out.read_text()
    notice = html[html.index('id="damaged-evidence"'):html.index("</section>")]
    assert "NOT shown: their evidence is damaged" in notice and item.id in notice and expected in notice
    assert html.index('id="damaged-evidence"') < html.index('id="findings"')  # at the top, before findings
    assert "Lake day again" not in html  # the damaged finding's content is never shown


def test_review_shows_the_damage_beside_the_item(built) -> None:
    item = gun_with_warc(built)
    case = built.case_id("jane-doe")
    expected = damage(built, item, "cas-changed")
    result = invoke(built.ws.root, "review", case, "--all")
    assert result.exit_code == 0, result.output
    panel = result.output[result.output.index(item.id):]
    assert "DAMAGED EVIDENCE" in panel[:3000] and expected in panel[:3000]


def test_intact_case_renders_without_notice(built, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert invoke(built.ws.root, "report", "findings", built.case_id("jane-doe"), "-o", str(out)).exit_code == 0
    assert 'id="damaged-evidence"' not in out.read_text()
