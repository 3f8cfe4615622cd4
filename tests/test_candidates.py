"""Candidates: identifiers validated, no search without a signed authorization."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from vetting.domain.candidates import (
    CandidateInput,
    add_candidate,
    candidate_identifiers,
    get_candidate,
    list_candidates,
    load_candidate_file,
)
from vetting.domain.yamlsource import InputError

AUTH = b"%PDF-1.4\n% signed authorization\n"


def candidate_file(tmp_path: Path, **overrides) -> Path:
    (tmp_path / "auth.pdf").write_bytes(AUTH)
    data = {"id": "jdoe", "full_name": "Jane Doe", "aliases": ["Janie Doe"], "date_of_birth": "1995-03-04",
            "city": "Kansas City", "state": "MO", "emails": ["jane@mail.example"], "phones": ["816-555-0100"],
            "usernames": ["janed95"], "profile_urls": ["https://social.example/u/janed95"],
            "authorization": {"file": "auth.pdf", "signed_on": "2026-10-01"}}
    data.update(overrides)
    path = tmp_path / "cand.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_add_from_file_stores_authorization_hash(workspace, tmp_path: Path) -> None:
    import hashlib

    cand, auth = load_candidate_file(candidate_file(tmp_path))
    row = add_candidate(workspace, cand, auth, "Inv. Lee")
    assert row.authorization_sha256 == hashlib.sha256(AUTH).hexdigest()
    assert workspace.evidence_path(row.authorization_path).read_bytes() == AUTH
    assert candidate_identifiers(workspace, get_candidate(workspace, "jdoe"))["usernames"] == ["janed95"]
    event = [e for e in workspace.audit.events() if e.action == "candidate.added"][0]
    assert event.subject == "jdoe" and event.payload["artifacts"][0]["sha256"] == row.authorization_sha256


@pytest.mark.parametrize("overrides,field,message", [
    ({"authorization": None}, "authorization", "no signed authorization"),
    ({"emails": ["not-an-email"]}, "emails", "not an e-mail"),
    ({"phones": ["555-0100"]}, "phones", "not a complete phone number"),
    ({"phones": ["call me"]}, "phones", "not a complete phone number"),
    ({"profile_urls": ["ftp://x.example/a"]}, "profile_urls", "not an http(s) URL"),
    ({"date_of_birth": "1850-01-01"}, "date_of_birth", "not plausible"),
    ({"usernames": ["bad name!"]}, "usernames", "plausible username"),
    ({"nickname": "JD"}, "nickname", "unknown field"),
    ({"authorization": {"file": "absent.txt", "signed_on": "2026-10-01"}}, "authorization.file", "does not exist"),
    ({"authorization": {"file": "auth.pdf", "signed_on": "2999-01-01"}}, "authorization.signed_on", "future"),
])
def test_bad_candidate_refused_and_nothing_stored(workspace, tmp_path: Path, overrides, field, message) -> None:
    path = candidate_file(tmp_path, **overrides)
    before = len(list(workspace.audit.events()))
    with pytest.raises(InputError) as exc:
        cand, auth = load_candidate_file(path)
        add_candidate(workspace, cand, auth, "Inv. Lee")
    assert any(p.field.startswith(field) and message in p.message for p in exc.value.problems), exc.value
    assert list_candidates(workspace) == []
    assert len(list(workspace.audit.events())) == before


def test_duplicate_candidate_refused(workspace, tmp_path: Path) -> None:
    cand, auth = load_candidate_file(candidate_file(tmp_path))
    add_candidate(workspace, cand, auth, "Inv. Lee")
    with pytest.raises(InputError, match="already exists"):
        add_candidate(workspace, cand, auth, "Inv. Lee")


def test_id_defaults_to_slug_of_name(workspace, auth_file: Path) -> None:
    cand = CandidateInput(full_name="José Álvarez-Ruiz", authorization={"file": "a", "signed_on": "2026-01-01"})
    assert add_candidate(workspace, cand, auth_file, "Inv. Lee").id == "jose-alvarez-ruiz"


# -- issue 10: text normalized, dates the same on every path ----------------------------------
@pytest.mark.parametrize("overrides,field,message", [
    ({"full_name": "   "}, "full_name", "is empty"),
    ({"full_name": "Jane\x00Doe"}, "full_name", "control character U+0000"),
    ({"full_name": "Jane\nDoe"}, "full_name", "control character U+000A"),
    ({"full_name": "J" * 500}, "full_name", "too long"),
    ({"aliases": ["  "]}, "aliases", "is empty"),
    ({"city": "Kansas\x07City"}, "city", "control character U+0007"),
    ({"full_name": "李小龙", "id": None}, "id", "gives no usable id"),
])
def test_names_normalized_and_refused(workspace, tmp_path: Path, overrides, field, message) -> None:
    path = candidate_file(tmp_path, **overrides)
    with pytest.raises(InputError) as exc:
        cand, auth = load_candidate_file(path)
        add_candidate(workspace, cand, auth, "Inv. Lee")
    assert any(p.field.startswith(field) and message in p.message for p in exc.value.problems), exc.value
    assert list_candidates(workspace) == []


def test_names_are_stripped(workspace, tmp_path: Path) -> None:
    cand, auth = load_candidate_file(candidate_file(tmp_path, full_name="  Jane Doe  "))
    from vetting.domain.candidates import candidate_name

    assert candidate_name(workspace, add_candidate(workspace, cand, auth, "Inv. Lee")) == "Jane Doe"


def test_impossible_date_same_message_from_file_and_flag(workspace, tmp_path: Path, auth_file: Path) -> None:
    from test_cli import invoke

    path = tmp_path / "cand.yaml"
    path.write_text("full_name: Jane Doe\ndate_of_birth: 1995-02-30\n"
                    "authorization: {file: auth.pdf, signed_on: 2026-10-01}\n")
    with pytest.raises(InputError) as exc:
        load_candidate_file(path)
    assert "1995-02-30 is not a valid date (no such day)" in str(exc.value)
    result = invoke(workspace.root, "candidate", "add", "--name", "Jane Doe", "--dob", "1995-02-30",
                    "--authorization", str(auth_file), "--signed-on", "2026-10-01", "--by", "Inv. Lee")
    assert result.exit_code == 2 and "1995-02-30 is not a valid date (no such day)" in result.output
    path.write_text('full_name: Jane Doe\ndate_of_birth: "1995-02-30"\n')
    with pytest.raises(InputError, match=r"1995-02-30 is not a valid date \(no such day\)"):
        load_candidate_file(path)
