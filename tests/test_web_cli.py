"""``vet web`` (vetting/cli/web.py): the real command serves the workspace and stops cleanly."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, vet


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_vet_web_serves_and_stops_on_sigterm(team) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vetting.cli.main", "--workspace", str(team.ws.root), "web",
                             "--port", str(port)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, NO_COLOR="1"))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/login")
                answer = conn.getresponse()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "vet web did not start"
                time.sleep(0.2)
        body = answer.read().decode()
        assert answer.status == 200 and "System-use notice" in body
        assert "script-src 'self'" in answer.getheader("content-security-policy", "")
        assert answer.getheader("server") is None  # no server banner
        conn.request("GET", "/cases")
        assert conn.getresponse().status == 303
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught (a supervisor sees SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), err
    assert f"on http://127.0.0.1:{port}" in out and "Traceback" not in err


def test_vet_web_without_a_workspace_is_a_clear_error(tmp_path: Path) -> None:
    result = vet("web", "--port", str(free_port()), workspace=tmp_path / "nowhere")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "nowhere" in result.stderr
