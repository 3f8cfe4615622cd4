"""Workspaces: created on first use, refused when foreign or missing, upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vetting.store.db import SCHEMA_VERSION
from vetting.store.workspace import MARKER, Workspace, WorkspaceError


def test_created_on_first_use(tmp_path: Path) -> None:
    ws = Workspace.open(tmp_path / "ws")
    assert (tmp_path / "ws" / MARKER).exists()
    assert (tmp_path / "ws" / "vetting.db").exists()
    assert ws.key_dir.is_dir() and ws.evidence_root.is_dir()
    again = Workspace.open(tmp_path / "ws")
    assert again.id == ws.id
    events = list(again.audit.events())
    assert [e.action for e in events] == ["workspace.created"]


def test_foreign_folder_refused_and_untouched(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="not a vetting workspace"):
        Workspace.open(home)
    assert sorted(p.name for p in home.iterdir()) == ["notes.txt"]


def test_missing_workspace_refused_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="no workspace"):
        Workspace.open(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


def test_database_of_another_workspace_refused(tmp_path: Path) -> None:
    a = Workspace.open(tmp_path / "a")
    b = Workspace.open(tmp_path / "b")
    (tmp_path / "b" / "vetting.db").unlink()
    for suffix in ("-wal", "-shm"):
        (tmp_path / "b" / f"vetting.db{suffix}").unlink(missing_ok=True)
    (tmp_path / "b" / "vetting.db").write_bytes((tmp_path / "a" / "vetting.db").read_bytes())
    with pytest.raises(WorkspaceError, match="belongs to another workspace"):
        Workspace.open(tmp_path / "b")
    assert a.id != b.id


def test_old_schema_is_upgraded_in_place_without_losing_data(tmp_path: Path, auth_file: Path) -> None:
    from vetting.domain.candidates import CandidateInput, add_candidate
    from vetting.store.db import MIGRATIONS

    ws = Workspace.open(tmp_path / "ws")
    add_candidate(ws, CandidateInput(full_name="Jo Doe", authorization={"file": "x", "signed_on": "2026-01-02"}),
                  auth_file, "Inv. A")
    # simulate a workspace written by an older toolkit: schema version 0 marker on an existing table
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    db.execute("UPDATE meta SET value='0' WHERE key='schema_version'")
    db.commit()
    db.close()
    applied: list[int] = []
    MIGRATIONS.append(lambda conn: applied.append(1))
    try:
        import vetting.store.db as dbmod

        dbmod.SCHEMA_VERSION = len(MIGRATIONS)
        ws2 = Workspace.open(tmp_path / "ws")
        from vetting.domain.candidates import candidate_name, get_candidate

        assert candidate_name(ws2, get_candidate(ws2, "jo-doe")) == "Jo Doe"
        assert applied == [1]
        db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
        assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(len(MIGRATIONS))
    finally:
        MIGRATIONS.pop()
        dbmod.SCHEMA_VERSION = SCHEMA_VERSION


def test_newer_schema_refused(tmp_path: Path) -> None:
    from vetting.store.db import SchemaTooNew

    Workspace.open(tmp_path / "ws")
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    db.commit()
    db.close()
    with pytest.raises(SchemaTooNew):
        Workspace.open(tmp_path / "ws")


def test_store_bytes_is_content_addressed(workspace: Workspace) -> None:
    rel, digest = workspace.store_bytes(b"hello", ".txt")
    assert rel == f"sha256/{digest[:2]}/{digest}.txt"
    assert workspace.evidence_path(rel).read_bytes() == b"hello"
    assert workspace.store_bytes(b"hello", ".txt") == (rel, digest)
    with pytest.raises(WorkspaceError):
        workspace.evidence_path("../../etc/passwd")


def test_v1_workspace_gains_v2_columns_keeping_its_rows(tmp_path: Path) -> None:
    """A workspace written before screening recorded undated/truncated items is upgraded in place."""
    import json

    from case_fixtures import add_item, build_case

    b = build_case(tmp_path)
    item = add_item(b, "old", "An old screened post.")
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    db.execute("ALTER TABLE assessment DROP COLUMN undated")
    db.execute("ALTER TABLE assessment DROP COLUMN truncated")
    db.execute("UPDATE meta SET value='1' WHERE key='schema_version'")
    db.commit()
    db.close()
    ws = Workspace.open(tmp_path / "ws")
    from vetting.domain.models import Assessment

    with ws.session() as s:
        row = s.get(Assessment, item.id)
    assert row is not None and row.undated is False and json.loads(row.matches_json)
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)


def test_v2_workspace_gains_how_reached_keeping_its_items(tmp_path: Path) -> None:
    """A workspace written before items recorded how they were reached is upgraded in place;
    its items' chain is derived from what they stored (found_by, meta)."""
    from case_fixtures import add_item, build_case

    from vetting.domain.models import Item
    from vetting.engine.reached import describe_reached, reached_of_item

    b = build_case(tmp_path)
    item = add_item(b, "old", "An old screened post.")
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    db.execute("ALTER TABLE item DROP COLUMN reached_json")
    db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    db.commit()
    db.close()
    ws = Workspace.open(tmp_path / "ws")
    with ws.session() as s:
        row = s.get(Item, item.id)
    assert row is not None and row.reached_json == "{}" and row.text == "An old screened post."
    assert describe_reached(reached_of_item(row)) == "disclosed by the candidate"  # found_by: profile_urls
    db = sqlite3.connect(tmp_path / "ws" / "vetting.db")
    assert "reached_json" in [r[1] for r in db.execute("PRAGMA table_info(item)")]
    assert int(db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]) >= 3
