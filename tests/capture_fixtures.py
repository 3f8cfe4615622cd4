"""A real captured case, made once per test session and copied per test: the real `vet run` of a
pages step over demo-web pages (a JS-rendered social profile with its subresources, a news
article), so WARC files, capture events and renders are exactly what the toolkit writes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from conftest import AUTH_PDF, REPO
from team import Team, make_team

PROCEDURE = "kcpd-261-1-preemployment"


@dataclass
class Captured:
    root: Path  # holds ws/ (the workspace)
    case_id: str
    urls: list[str]
    addresses: list[tuple[str, int]]  # (host, port) of every demo site, for tripwires
    tokens: dict[str, str]  # login -> session token of the team (tests/team.py) made in the workspace

    @property
    def ws(self) -> Path:
        return self.root / "ws"

    def team(self) -> Team:
        """The logged-in team of this workspace (its token folders live under ``root``, so a copy
        carries them). The capture is made once per session and copied later: each call restarts
        the sessions' 30-minute idle clock, so a copy made an hour after the capture still acts."""
        from datetime import UTC, datetime

        from vetting.people.models import AuthSession
        from vetting.people.sessions import token_hash
        from vetting.store.workspace import Workspace

        ws = Workspace.open(self.ws, create=False)
        with ws.session() as s:
            for token in self.tokens.values():
                row = s.get(AuthSession, token_hash(token))
                if row is not None and row.ended_at is None:
                    row.last_used_at = datetime.now(UTC)
                    s.add(row)
            s.commit()
        return Team(ws, self.root, dict(self.tokens))

    def copy(self, dest: Path) -> Captured:
        shutil.copytree(self.root, dest, symlinks=True)
        return Captured(dest, self.case_id, self.urls, self.addresses, dict(self.tokens))


def capture_case(base: Path) -> Captured:
    """Start a private demo web, run one pages step through `vet run`, stop the web."""
    from vetting.demoweb import DemoWeb

    base.mkdir(parents=True, exist_ok=True)
    auth = base / "authorization.pdf"
    auth.write_bytes(AUTH_PDF)
    with DemoWeb() as web:
        urls = [web.base_url("social") + "/u/casey_nav"]
        data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
        data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.05, "concurrency_per_domain": 4})
        # One page exactly: links from it to other profiles are test_pages.py's business.
        step = dict(data["steps"][0], inputs=[], sources=urls)
        step["limits"] = dict(step.get("limits", {}), max_depth=0)
        data["steps"] = [step]
        proc = base / "proc.yaml"
        proc.write_text(yaml.safe_dump(data, sort_keys=False))
        ws = base / "ws"
        from vetting.store.workspace import Workspace

        team = make_team(Workspace.open(ws), base)  # token folders under base: copies carry them
        team.vet("dwhitfield", "procedure", "approve", str(proc), check=True)
        team.vet("sortiz", "candidate", "add", "--name", "Jane Doe", "--authorization", str(auth),
                 "--signed-on", "2026-10-01", check=True)
        team.vet("sortiz", "run", "jane-doe", "--procedure", PROCEDURE, check=True)
        addresses = [(u.split("//", 1)[1].rsplit(":", 1)[0], web.port or 0) for u in web.placeholders.values()]
    case_id = next(p.name for p in (ws / "evidence" / "warc").iterdir())
    return Captured(base, case_id, urls, addresses, dict(team.tokens))

