"""A private PostgreSQL server for the tests: its own cluster in a temporary folder, reachable
only through a Unix socket (no TCP port at all), started once per test session.

Debian's ``postgresql`` package provides the binaries (``make test`` installs it). The server
refuses to run as root, so as root the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    def __init__(self) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries not found: install Debian's postgresql (make test does)")
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="vetting-pg-"))
        self.data = self.root / "data"
        self.port = 5400 + os.getpid() % 500
        os.chmod(self.root, 0o777)
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres")
        self._run(f"{bindir}/initdb -D {self.data} -A trust -U postgres --no-sync -E UTF8")
        self._run(f"{bindir}/pg_ctl -D {self.data} -w -l {self.root}/log "
                  f"-o \"-k {self.root} -p {self.port} -c listen_addresses='' -c fsync=off\" start")

    def _run(self, command: str) -> None:
        args = ["su", "postgres", "-c", command] if self.as_root else ["sh", "-c", command]
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.root}&port={self.port}"

    def new_database(self) -> str:
        import psycopg

        name = "ws_" + uuid.uuid4().hex[:12]
        with psycopg.connect(host=str(self.root), port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(f"{self.bindir}/pg_ctl -D {self.data} -m immediate stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
