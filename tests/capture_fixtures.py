"""A real captured case, made once per test session and copied per test: the real `vet run` of a
pages step over demo-web pages (a JS-rendered social profile with its subresources, a news
article), so WARC files, capture events and renders are exactly what the toolkit writes.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import yaml
from conftest import AUTH_PDF, REPO, vet

PROCEDURE = "kcpd-261-1-preemployment"


@dataclass
class Captured:
    root: Path  # holds ws/ (the workspace)
    case_id: str
    urls: list[str]
    addresses: list[tuple[str, int]]  # (host, port) of every demo site, for tripwires

    @property
    def ws(self) -> Path:
        return self.root / "ws"

    def copy(self, dest: Path) -> Captured:
        shutil.copytree(self.root, dest, symlinks=True)
        return Captured(dest, self.case_id, self.urls, self.addresses)


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
        vet("procedure", "approve", str(proc), "--by", "Capt. Rao", workspace=ws, check=True)
        vet("candidate", "add", "--name", "Jane Doe", "--authorization", str(auth), "--signed-on", "2026-10-01",
            "--by", "Inv. Lee", workspace=ws, check=True)
        vet("run", "jane-doe", "--procedure", PROCEDURE, "--by", "Inv. Lee", workspace=ws, check=True)
        addresses = [(u.split("//", 1)[1].rsplit(":", 1)[0], web.port or 0) for u in web.placeholders.values()]
    case_id = next(p.name for p in (ws / "evidence" / "warc").iterdir())
    return Captured(base, case_id, urls, addresses)

