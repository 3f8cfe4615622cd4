"""Shared fixtures: the shipped procedure, fresh workspaces, the demo web, and the `vet` CLI.

Collection runs inside Twisted's reactor, which cannot restart in one process, so tests that
collect run `vet` in a subprocess; everything else calls the library directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "procedures" / "kcpd-261-1.yaml"


@pytest.fixture
def shipped_procedure() -> Path:
    return SHIPPED


@pytest.fixture
def workspace(tmp_path: Path):
    from vetting.store.workspace import Workspace

    return Workspace.open(tmp_path / "ws")


#: A signed authorization as the toolkit accepts one: a document (PDF) by its magic bytes.
AUTH_PDF = (b"%PDF-1.4\n% I authorize the background investigation. Signed: J. Doe, 2026-11-01\n"
            b"trailer\n<< >>\n%%EOF\n")


@pytest.fixture
def auth_file(tmp_path: Path) -> Path:
    path = tmp_path / "authorization.pdf"
    path.write_bytes(AUTH_PDF)
    return path


def vet(*args: str, workspace: Path | None = None, timeout: float = 600, env: dict | None = None,
        check: bool = False) -> subprocess.CompletedProcess:
    """Run the real `vet` command line in a subprocess."""
    full_env = dict(os.environ, COLUMNS="200", NO_COLOR="1", **(env or {}))
    cmd = [sys.executable, "-m", "vetting.cli.main"]
    if workspace is not None:
        cmd += ["--workspace", str(workspace)]
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=REPO)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def demo_web():
    from vetting.demoweb import DemoWeb

    with DemoWeb() as web:
        yield web


@pytest.fixture(scope="session")
def postgres():
    """A private PostgreSQL server (Unix socket only) for the whole session."""
    from pg import PrivatePostgres

    server = PrivatePostgres()
    yield server
    server.stop()


# Reports: one screened, decided workspace built per module, cloned per test (tests/report_fixtures.py).
@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory):
    from report_fixtures import build_reports_workspace

    from vetting.reports.findings import findings_data
    from vetting.reports.redaction import redacted_pictures

    built = build_reports_workspace(tmp_path_factory.mktemp("template"))
    # The redacted pictures are made once here (one Chromium), and reused by every clone.
    for plan in built.plans.values():
        ids = [f.item_id for f in findings_data(built.ws, plan.case.id).findings]
        redacted_pictures(built.ws, plan.case.id, ids)
    return built


@pytest.fixture
def built(template, tmp_path: Path):
    from report_fixtures import clone

    return clone(template, tmp_path)


@pytest.fixture(scope="session")
def captured(tmp_path_factory: pytest.TempPathFactory):
    """One real captured case (a `vet run` over demo-web pages) for the session; copy it before
    changing anything (``captured.copy(dest)``)."""
    from capture_fixtures import capture_case

    return capture_case(tmp_path_factory.mktemp("captured"))
