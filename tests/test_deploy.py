"""deploy/: the compose file and the Dockerfile name things that exist, with the flags `vet` has."""

from __future__ import annotations

import yaml
from conftest import REPO
from typer.testing import CliRunner

from vetting.cli.main import app


def test_compose_file_runs_real_worker_commands() -> None:
    compose = yaml.safe_load((REPO / "deploy" / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "worker", "searxng", "vet"} <= set(services)
    worker = services["worker"]
    assert worker["command"][0] == "worker" and worker["deploy"]["replicas"] >= 2
    help_text = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"}).output
    for flag in (a for a in worker["command"] if a.startswith("--")):
        assert flag in help_text, f"compose passes {flag}, which vet worker does not have"
    env = worker["environment"]
    assert env["VETTING_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert "workspace:/workspace" in worker["volumes"] and env["VETTING_HOME"] == "/workspace"


def test_searxng_settings_enable_the_json_api() -> None:
    settings = yaml.safe_load((REPO / "deploy" / "searxng" / "settings.yml").read_text())
    assert "json" in settings["search"]["formats"]


def test_dockerfile_installs_chromium_and_the_package() -> None:
    text = (REPO / "deploy" / "Dockerfile").read_text()
    assert "chromium" in text and "pip install" in text and 'ENTRYPOINT ["vet"]' in text


def test_deploy_doc_covers_every_part() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    for topic in ("## PostgreSQL", "## Workers", "## The search service", "## The web application",
                  "deploy/compose.yaml", "vet queue cancel", "--stalled-after"):
        assert topic in doc, topic
