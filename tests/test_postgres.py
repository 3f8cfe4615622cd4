"""The workspace on PostgreSQL (VETTING_DATABASE_URL): the same behaviour as on SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy
from conftest import vet
from test_engine import Flaky, local_procedure

from vetting.domain.approvals import approve
from vetting.domain.candidates import CandidateInput, add_candidate
from vetting.engine.steps import open_case, run_case, step_runs
from vetting.review.uniformity import check_uniformity
from vetting.store.workspace import Workspace, WorkspaceError


def test_workspace_runs_and_verifies_on_postgres(tmp_path: Path, postgres, auth_file: Path, monkeypatch) -> None:
    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    assert ws.engine.dialect.name == "postgresql" and not (tmp_path / "ws" / "vetting.db").exists()
    approve(ws, local_procedure(tmp_path), "Capt. Rao")
    add_candidate(ws, CandidateInput(full_name="Jane Doe", usernames=["janed"],
                                     authorization={"file": "a", "signed_on": "2026-10-01"}), auth_file, "Inv. Lee")
    monkeypatch.setattr("vetting.engine.steps.get_collector", lambda kind: Flaky(0))
    case = asyncio.run(run_case(ws, open_case(ws, "jane-doe", "kcpd-261-1-preemployment", "Inv. Lee"), "Inv. Lee"))
    assert case.status == "complete"
    assert [r.status for r in step_runs(ws, case.id)] == ["no_input", "completed", "completed"]
    assert check_uniformity(ws, "kcpd-261-1-preemployment").uniform
    # reopening finds the same workspace in the same database
    again = Workspace.open(tmp_path / "ws", database_url=url)
    assert again.id == ws.id
    # the CLI reaches it through VETTING_DATABASE_URL
    result = vet("audit", "verify", workspace=tmp_path / "ws", env={"VETTING_DATABASE_URL": url})
    assert result.returncode == 0, result.stdout + result.stderr
    result = vet("candidate", "list", workspace=tmp_path / "ws", env={"VETTING_DATABASE_URL": url})
    assert "jane-doe" in result.stdout


def test_audit_rows_cannot_be_changed_on_postgres(tmp_path: Path, postgres) -> None:
    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    with pytest.raises(sqlalchemy.exc.DBAPIError), ws.engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE audit_event SET actor = 'someone else'"))
    with pytest.raises(sqlalchemy.exc.DBAPIError), ws.engine.begin() as conn:
        conn.execute(sqlalchemy.text("DELETE FROM audit_event"))


def test_database_of_another_workspace_refused_on_postgres(tmp_path: Path, postgres) -> None:
    url = postgres.new_database()
    Workspace.open(tmp_path / "a", database_url=url)
    with pytest.raises(WorkspaceError, match="already belongs to workspace"):
        Workspace.open(tmp_path / "b", database_url=url)
    assert not (tmp_path / "b").exists()  # refused before anything was written


def test_values_at_the_limits_fit_postgres(tmp_path: Path, postgres, auth_file: Path) -> None:
    """Issue 10: what the parsers accept fits PostgreSQL's columns; what does not is refused first."""
    import yaml

    from vetting.domain.yamlsource import InputError

    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    data = yaml.safe_load(local_procedure(tmp_path).read_text())
    for version, accepted in ((2_147_483_647, True), (2_147_483_648, False), (10**23, False)):
        data["version"] = version
        path = tmp_path / f"v{version}.yaml"
        (tmp_path / "sites").mkdir(exist_ok=True)
        path.write_text(yaml.safe_dump(data))
        if accepted:
            assert approve(ws, path, "Capt. Rao")[0].version == version
        else:
            with pytest.raises(InputError, match="version"):
                approve(ws, path, "Capt. Rao")
    (tmp_path / "c.yaml").write_text('full_name: "Jane\\0Doe"\n')
    result = vet("candidate", "add", "--file", str(tmp_path / "c.yaml"), "--by", "Inv. Lee", workspace=tmp_path / "ws",
                 env={"VETTING_DATABASE_URL": url})
    assert result.returncode == 2 and "control character U+0000" in result.stderr, result.stderr


def test_decision_tables_are_append_only_on_postgres(tmp_path: Path, postgres, auth_file: Path) -> None:
    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    approve(ws, local_procedure(tmp_path), "Capt. Rao")
    add_candidate(ws, CandidateInput(full_name="Jane Doe", authorization={"file": "a", "signed_on": "2026-10-01"}),
                  auth_file, "Inv. Lee")
    for statement in ("UPDATE candidate SET added_by = 'someone else'", "DELETE FROM procedureversion",
                      "TRUNCATE decision CASCADE", "TRUNCATE concurrence"):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"), ws.engine.begin() as conn:
            conn.execute(sqlalchemy.text(statement))
    from vetting.store.log_index import check_index

    assert check_index(ws) == []


def test_erasure_on_postgres(tmp_path: Path, postgres, auth_file: Path) -> None:
    from audit import verify_log
    from vetting.store.erasure import erase_candidate
    from vetting.store.log_index import check_index

    url = postgres.new_database()
    ws = Workspace.open(tmp_path / "ws", database_url=url)
    approve(ws, local_procedure(tmp_path), "Capt. Rao")
    add_candidate(ws, CandidateInput(full_name="Jane Doe", usernames=["janed"], emails=["jane@mail.example"],
                                     authorization={"file": "a", "signed_on": "2026-10-01"}), auth_file, "Inv. Lee")
    result = erase_candidate(ws, "jane-doe", "Records Officer Ames")
    assert result.values_erased >= 3 and result.files_removed
    with ws.engine.connect() as conn:
        left = conn.execute(sqlalchemy.text("SELECT value FROM personal_value")).all()
        payloads = " ".join(p for (p,) in conn.execute(sqlalchemy.text("SELECT payload FROM audit_event")))
    assert left == [] and "Jane Doe" not in payloads and "janed" not in payloads
    report = verify_log(ws.engine, ws.key_dir, evidence_root=ws.evidence_root)
    assert report.ok and report.files_disposed == 1, report.problems
    assert check_index(ws) == []
