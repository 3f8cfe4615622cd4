"""`scrapy list` / `scrapy crawl` from scrapy.cfg: the same spiders, under the same guard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SCRAPY = str(Path(sys.executable).parent / "scrapy")


def test_scrapy_list() -> None:
    result = subprocess.run([SCRAPY, "list"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["accounts", "pages", "search"]


def test_scrapy_crawl_is_guarded_too(demo_web, tmp_path: Path) -> None:
    """A debugging crawl runs under the public profile: the demo web's loopback address is refused."""
    url = demo_web.base_url("news") + "/"
    out = tmp_path / "out.jsonl"
    result = subprocess.run([SCRAPY, "crawl", "pages", "-a", f"urls={url}", "-O", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    (item,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert item["outcome"] == "refused" and item["reason"].startswith("address: 127.0.0.13 is loopback")


def test_no_remote_control_server_during_a_crawl(demo_web, tmp_path: Path) -> None:
    """Scrapy's remote-control extension (an HTTP server on localhost that runs Python code sent
    to it, its token written to a job file) stays off: a crawl leaves no job file behind."""
    jobs = tmp_path / "jobs"
    url = demo_web.base_url("news") + "/"
    result = subprocess.run([SCRAPY, "crawl", "pages", "-a", f"urls={url}", "-O", str(tmp_path / "out.jsonl"),
                             "-s", f"REMOTE_CONTROL_JOBS_DIR={jobs}", "-s", "LOG_LEVEL=INFO"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not jobs.exists() or not any(jobs.iterdir())
    assert "RemoteControl" not in result.stderr.split("Enabled extensions:")[-1].split("]")[0]
