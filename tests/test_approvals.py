"""Approval: a named commander approves one exact fingerprint; runs use the frozen copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from vetting.domain.approvals import ApprovalError, approve, load_approved, versions


@pytest.fixture
def proc_copy(tmp_path: Path, shipped_procedure: Path) -> Path:
    shutil.copytree(shipped_procedure.parent, tmp_path / "procedures")
    return tmp_path / "procedures" / shipped_procedure.name


def test_approve_freezes_the_text(workspace, proc_copy: Path) -> None:
    version, new = approve(workspace, proc_copy, "Capt. Rao")
    assert new and version.approved_by == "Capt. Rao"
    assert approve(workspace, proc_copy, "Capt. Rao")[1] is False  # idempotent
    # editing the file afterwards does not change what runs
    proc_copy.write_text(proc_copy.read_text().replace("lookback_years: 7", "lookback_years: 3"))
    row, loaded = load_approved(workspace, "kcpd-261-1-preemployment")
    assert row.fingerprint == version.fingerprint
    assert loaded.procedure.settings.lookback_years == 7
    event = [e for e in workspace.audit.events() if e.action == "procedure.approved"][0]
    assert event.actor == "Capt. Rao" and event.payload["fingerprint"] == version.fingerprint
    assert {a["path"].split("/")[-1] for a in event.payload["artifacts"]} == {"procedure.yaml", "manifest-account-discovery.json"}


def test_changed_file_same_version_refused(workspace, proc_copy: Path) -> None:
    approve(workspace, proc_copy, "Capt. Rao")
    proc_copy.write_text(proc_copy.read_text().replace("lookback_years: 7", "lookback_years: 3"))
    with pytest.raises(ApprovalError, match="new version"):
        approve(workspace, proc_copy, "Capt. Rao")
    proc_copy.write_text(proc_copy.read_text().replace("version: 1", "version: 2"))
    v2, new = approve(workspace, proc_copy, "Capt. Rao")
    assert new and v2.version == 2
    assert [v.version for v in versions(workspace)] == [1, 2]
    assert load_approved(workspace, "kcpd-261-1-preemployment")[0].version == 2


def test_unapproved_procedure_refused(workspace) -> None:
    with pytest.raises(ApprovalError, match="no approved procedure"):
        load_approved(workspace, "kcpd-261-1-preemployment")


def test_tampered_frozen_copy_refused(workspace, proc_copy: Path) -> None:
    version, _ = approve(workspace, proc_copy, "Capt. Rao")
    frozen = workspace.procedures_dir / version.fingerprint.removeprefix("sha256:") / "procedure.yaml"
    frozen.write_text(frozen.read_text().replace("lookback_years: 7", "lookback_years: 1"))
    with pytest.raises(ApprovalError, match="no longer matches"):
        load_approved(workspace, "kcpd-261-1-preemployment")


def test_approval_needs_a_name(workspace, proc_copy: Path) -> None:
    with pytest.raises(ApprovalError):
        approve(workspace, proc_copy, "  ")
