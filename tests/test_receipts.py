"""``vetting.reports.receipts``: every field a findings report shows is checked against the signed log.

Two attacks: the report's visible text is edited after rendering (verify-receipts names the
finding and the field), and a decision table is edited by SQL with its triggers dropped (the
report refuses to render, naming the finding and the field; ``vet audit verify`` names the row).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from report_fixtures import Built

from vetting.reports.render import render_report, verify_receipts

GUN = "item-jane-doe-gun"


def _rendered(built: Built, tmp_path: Path) -> str:
    path = render_report(built.ws, "findings", built.case_id("jane-doe"), "html", tmp_path / "r.html", "Capt. X")
    return path.read_text()


def _edit(html: str, item: str, selector: str, change) -> str:  # type: ignore[no-untyped-def]
    soup = BeautifulSoup(html, "html.parser")
    section = soup.select_one(f'section.finding[data-item="{item}"]')
    assert section is not None
    target = section.select_one(selector)
    assert target is not None, selector
    change(soup, target)
    return str(soup)


def _text(value: str):  # type: ignore[no-untyped-def]
    def change(_soup, el) -> None:  # type: ignore[no-untyped-def]
        el.string = value
    return change


def _add_category(soup, el) -> None:  # type: ignore[no-untyped-def]
    li = soup.new_tag("li", attrs={"data-category": "alcohol-cash-drugs"})
    li.string = "IV.C.1.c Alcohol, cash and drugs"
    el.parent.append(li)


def _drop(_soup, el) -> None:  # type: ignore[no-untyped-def]
    el.decompose()


@pytest.mark.parametrize("field,selector,change", [
    ("categories", "li[data-category]", _add_category),
    ("categories", "li[data-category]", _drop),
    ("concurred_by", "[data-field=concurred_by]", _text("Lt. Someone Else")),
    ("validated_by", "[data-field=validated_by]", _text("Chief Brass")),
    ("validated_at", "[data-field=validated_at]", _text("2020-01-01 00:00:00 UTC")),
    ("reason", "[data-field=reason]", _text("the candidate's disclosed account; reviewed twice")),
    ("mitigating", "[data-field=mitigating]", _text("Posted when she was 16.")),
    ("discredit_justification", "[data-field=discredit_justification]", _text("Nothing much.")),
    ("excerpt", "[data-field=excerpt]", _text("Me at the lake, holding a fishing rod.")),
    ("title", "[data-field=title]", _text("Fishing trip")),
    ("url", "[data-field=url]", _text("https://social.example/u/someone-else/posts/gun")),
    ("identity_level", "[data-field=identity_level]", _text("probable")),
    ("identifiers_matched", "[data-field=identifiers_matched]", _text("disclosed account, username, email")),
    ("evidence sha256", "dd[data-artifact=screenshot]", _text("0" * 64)),
    ("captured_at", "[data-field=captured_at]", _text("2019-05-05 10:00:00 UTC")),
    ("kind", "[data-field=kind]", _text("search result")),
])
def test_a_shown_field_the_log_does_not_say_fails(built: Built, tmp_path: Path, field: str, selector: str,
                                                  change) -> None:  # type: ignore[no-untyped-def]
    html = _rendered(built, tmp_path)
    assert verify_receipts(built.ws, html).ok
    result = verify_receipts(built.ws, _edit(html, GUN, selector, change))
    assert not result.ok
    assert any(p.startswith(f"finding {GUN}: field {field}:") for p in result.problems or []), result.problems


def test_candidate_name_is_bound_by_its_commitment(built: Built, tmp_path: Path) -> None:
    html = _rendered(built, tmp_path)
    forged = html.replace('<dd data-field="candidate_name">Jane Doe</dd>', '<dd data-field="candidate_name">Jane Roe</dd>')
    assert forged != html
    result = verify_receipts(built.ws, forged)
    assert not result.ok and any("candidate_name" in p for p in result.problems or [])


def test_page_title_names_the_candidate_the_report_shows(built: Built, tmp_path: Path) -> None:
    html = _rendered(built, tmp_path)
    forged = html.replace("<title>Findings report: Jane Doe", "<title>Findings report: Jane Roe")
    assert forged != html
    result = verify_receipts(built.ws, forged)
    assert any("page title" in p for p in result.problems or []), result.problems


@pytest.mark.parametrize("field,forged", [("approved_by", "Chief Nobody"), ("procedure_version", "99"),
                                          ("fingerprint", "sha256:" + "0" * 64)])
def test_the_procedure_the_report_names_is_bound(built: Built, tmp_path: Path, field: str, forged: str) -> None:
    html = _rendered(built, tmp_path)
    soup = BeautifulSoup(html, "html.parser")
    soup.find(attrs={"data-field": field}).string = forged
    result = verify_receipts(built.ws, str(soup))
    assert any(p.startswith(f"procedure: field {field}:") for p in result.problems or []), result.problems


@pytest.mark.parametrize("field,forged", [("outcome", "captured"), ("reason", "nothing was refused"),
                                          ("url", "https://social.example/u/jane-doe/posts/other"),
                                          ("step", "web-search")])
def test_an_unreached_row_is_bound_to_its_capture(built: Built, tmp_path: Path, field: str, forged: str) -> None:
    html = _rendered(built, tmp_path)
    soup = BeautifulSoup(html, "html.parser")
    row = soup.select_one('tr[data-unreached="item-jane-doe-walled"]')
    row.find(attrs={"data-field": field}).string = forged
    result = verify_receipts(built.ws, str(soup))
    assert any(p.startswith(f"unreached item-jane-doe-walled: field {field}:") for p in result.problems or []), \
        result.problems


def test_a_failed_step_row_is_bound_to_its_step_finished_event(built: Built, tmp_path: Path) -> None:
    path = render_report(built.ws, "findings", built.case_id("omar-haddad"), "html", tmp_path / "o.html", "Capt. X")
    html = path.read_text()
    assert verify_receipts(built.ws, html).ok
    soup = BeautifulSoup(html, "html.parser")
    soup.select_one('tr[data-failed-step="web-search"] [data-field=error]').string = "the candidate asked us to stop"
    result = verify_receipts(built.ws, str(soup))
    assert any(p.startswith("failed step web-search: field error:") for p in result.problems or []), result.problems
    forged = BeautifulSoup(html, "html.parser")
    row = forged.select_one('tr[data-failed-step="web-search"]')
    row["data-failed-step"] = "disclosed-profiles"  # a step that completed, shown as failed
    assert any("failed step disclosed-profiles" in p for p in verify_receipts(built.ws, str(forged)).problems or [])


def test_concurrence_receipt_removed_from_an_adverse_finding(built: Built, tmp_path: Path) -> None:
    import json

    html = _rendered(built, tmp_path)
    soup = BeautifulSoup(html, "html.parser")
    block = soup.find("script", id="receipts")
    data = json.loads(block.string)
    data["receipts"] = [r for r in data["receipts"] if not (r["role"] == "concurred" and r["item_id"] == GUN)]
    block.string = json.dumps(data)
    result = verify_receipts(built.ws, str(soup))
    assert any(p.startswith(f"finding {GUN}: field concurred_by:") for p in result.problems or [])


# -- the database edited behind the log's back ----------------------------------------------------------
def _sql(built: Built, *statements: str) -> None:
    """Drop the append-only triggers, then edit rows directly, as an attacker with the file would."""
    built.ws.engine.dispose()
    con = sqlite3.connect(built.ws.root / "vetting.db")
    for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
        con.execute(f"DROP TRIGGER {name}")
    for statement in statements:
        con.execute(statement)
    con.commit()
    con.close()


def _audit_verify_problems(built: Built) -> list[str]:
    from vetting.store.log_index import check_index

    return [str(p) for p in check_index(built.ws)]


@pytest.mark.parametrize("what,statements,field", [
    ("add a category", [f"UPDATE decision SET findings_json='[\"tactical-instruments\", \"alcohol-cash-drugs\"]' "
                        f"WHERE item_id='{GUN}'"], "findings"),
    ("rename the concurrer", ["UPDATE concurrence SET concurred_by='Lt. Nobody' WHERE decision_id="
                              f"(SELECT id FROM decision WHERE item_id='{GUN}')"], "concurred_by"),
    ("rename the decider", [f"UPDATE decision SET decided_by='Chief Brass' WHERE item_id='{GUN}'"], "decided_by"),
    ("swap the reason", ["UPDATE decision SET reason=(SELECT reason FROM decision WHERE item_id="
                         f"'item-jane-doe-rejected') WHERE item_id='{GUN}'"], "reason"),
])
def test_decision_rows_edited_by_sql(built: Built, tmp_path: Path, what: str, statements: list[str],
                                     field: str) -> None:
    assert _audit_verify_problems(built) == []
    _sql(built, *statements)
    problems = _audit_verify_problems(built)
    assert any(field in p for p in problems), (what, problems)
    with pytest.raises(LookupError, match=r"disagrees with the audit log|event \d+ names"):
        _rendered(built, tmp_path)


def test_a_decision_row_inserted_without_its_event(built: Built) -> None:
    _sql(built, "INSERT INTO decision (item_id, case_id, decision, reason, decided_by, decided_at, findings_json, "
                "discredit_justification, mitigating, supersedes, evidence_verified) SELECT item_id, case_id, "
                "'rejected', reason, 'Det. X', decided_at, '[]', '', '', id, 1 FROM decision "
                f"WHERE item_id='{GUN}'")
    assert any("no item." in p and "event" in p for p in _audit_verify_problems(built))


def test_candidate_and_approval_rows_edited_by_sql(built: Built) -> None:
    _sql(built, "UPDATE candidate SET added_by='Somebody Else' WHERE id='jane-doe'",
         "UPDATE procedureversion SET approved_by='Sgt. Nobody'")
    problems = _audit_verify_problems(built)
    assert any(p.startswith("candidate jane-doe") and "added_by" in p for p in problems), problems
    assert any(p.startswith("procedure ") and "approved_by" in p for p in problems), problems


def test_candidate_identifier_swapped_by_sql(built: Built) -> None:
    _sql(built, "UPDATE candidate SET identifiers_json=(SELECT identifiers_json FROM candidate WHERE id='omar-haddad') "
                "WHERE id='jane-doe'")
    assert any(p.startswith("candidate jane-doe") and "identifiers" in p for p in _audit_verify_problems(built))


def test_triggers_refuse_edits_of_append_only_tables(built: Built) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    for statement in ("UPDATE decision SET decided_by='x'", "DELETE FROM concurrence",
                      "UPDATE candidate SET added_by='x'", "DELETE FROM procedureversion"):
        with pytest.raises(DatabaseError, match="append-only"), built.ws.engine.begin() as conn:
            conn.execute(text(statement))


def test_vet_audit_verify_names_the_edited_row(built: Built) -> None:
    from conftest import vet

    ok = vet("audit", "verify", workspace=built.ws.root)
    assert ok.returncode == 0, ok.stdout
    _sql(built, "UPDATE concurrence SET concurred_by='Lt. Nobody'")
    bad = vet("audit", "verify", workspace=built.ws.root)
    assert bad.returncode == 1
    assert "PROBLEM concurrence" in bad.stdout and "field concurred_by: the table says 'Lt. Nobody'" in bad.stdout
    assert "row(s) of the decision tables disagree with the log" in bad.stdout


def test_a_concurrence_row_deleted_by_sql(built: Built, tmp_path: Path) -> None:
    """Deleting the concurrence hides the adverse finding from the report: the log still has it."""
    _sql(built, f"DELETE FROM concurrence WHERE decision_id=(SELECT id FROM decision WHERE item_id='{GUN}')")
    problems = _audit_verify_problems(built)
    assert any(p.startswith("event ") and "concurrence of decision" in p and "missing from its table" in p
               for p in problems), problems
