"""Evidence in an S3-compatible bucket (vetting/store/evidence_store.py), against a real moto_server.

moto_server listens on 127.0.0.1 at a free port; boto3 is pointed at it with
``VETTING_S3_ENDPOINT_URL`` and dummy credentials, so no test sends a packet outside loopback.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import AUTH_PDF, REPO, vet

PROCEDURE = "kcpd-261-1-preemployment"
BUCKET = "evidence"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory):
    """A moto_server on loopback with one bucket; yields the environment pointing boto3 at it."""
    port = _free_port()
    home = tmp_path_factory.mktemp("aws")
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": str(home / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
           "VETTING_S3_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the in-process boto3 clients of the tests
        client().create_bucket(Bucket=BUCKET)
        yield env
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    finally:
        server.terminate()
        server.wait(10)


def client():
    import boto3

    return boto3.client("s3", endpoint_url=os.environ["VETTING_S3_ENDPOINT_URL"])


def objects(prefix: str) -> dict[str, bytes]:
    """Every object under ``prefix`` with its bytes."""
    c = client()
    out = {}
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix + "/"):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = c.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def recorded(ws_root: Path) -> tuple[dict[str, list[int]], dict[str, int]]:
    """sha256 -> the events naming it as an artifact or a seal; WARC files -> their record count."""
    from vetting.store.workspace import Workspace

    ws = Workspace.open(ws_root, create=False)
    named: dict[str, list[int]] = {}
    records: dict[str, int] = {}
    for ev in ws.audit.events():
        for art in ev.payload.get("artifacts") or []:
            named.setdefault(art["sha256"], []).append(ev.seq)
        if "sealed_file" in ev.payload:
            named.setdefault(ev.payload["sealed_file"]["sha256"], []).append(ev.seq)
        for rec in ev.payload.get("warc_records") or []:
            records[rec["file"]] = records.get(rec["file"], 0) + 1
    return named, records


def s3_env(moto: dict, prefix: str) -> dict:
    return dict(moto, VETTING_EVIDENCE_URL=f"s3://{BUCKET}/{prefix}")


def run_case(base: Path, env: dict, *, wrapper: Path | None = None) -> tuple[Path, subprocess.CompletedProcess]:
    """Approve a one-page procedure, add a candidate and `vet run` the case, evidence in the bucket."""
    from vetting.demoweb import DemoWeb

    base.mkdir(parents=True, exist_ok=True)
    auth = base / "authorization.pdf"
    auth.write_bytes(AUTH_PDF)
    ws = base / "ws"
    with DemoWeb() as web:
        data = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text())
        data["settings"].update(network="loopback", rate_limit={"delay_seconds": 0.05, "concurrency_per_domain": 4})
        step = dict(data["steps"][0], inputs=[], sources=[web.base_url("social") + "/u/casey_nav"])
        step["limits"] = dict(step.get("limits", {}), max_depth=0)
        data["steps"] = [step]
        proc = base / "proc.yaml"
        proc.write_text(yaml.safe_dump(data, sort_keys=False))
        vet("procedure", "approve", str(proc), "--by", "Capt. Rao", workspace=ws, env=env, check=True)
        vet("candidate", "add", "--name", "Jane Doe", "--authorization", str(auth), "--signed-on", "2026-10-01",
            "--by", "Inv. Lee", workspace=ws, env=env, check=True)
        args = ["run", "jane-doe", "--procedure", PROCEDURE, "--by", "Inv. Lee"]
        if wrapper is None:
            done = vet(*args, workspace=ws, env=env)
        else:
            done = subprocess.run([sys.executable, str(wrapper), "--workspace", str(ws), *args], capture_output=True,
                                  text=True, timeout=600, env=dict(os.environ, COLUMNS="200", NO_COLOR="1", **env),
                                  cwd=REPO)
    return ws, done


def assert_bucket_matches_log(ws: Path, prefix: str) -> tuple[dict[str, bytes], dict[str, list[int]]]:
    stored = objects(prefix)
    named, records = recorded(ws)
    assert records, "the run recorded no WARC records"
    keys = {f"{prefix}/sha256/{sha}" for sha in named}
    assert keys == set(stored), (keys ^ set(stored))
    for key, data in stored.items():  # every object's sha256 is its name and what its events recorded
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1]
    return stored, named


def wsx_case(ws) -> str:
    """The id of the workspace's one case."""
    from sqlmodel import select

    from vetting.domain.models import Case

    with ws.session() as s:
        return next(iter(s.exec(select(Case.id))))


def verify(ws: Path, env: dict) -> subprocess.CompletedProcess:
    return vet("audit", "verify", workspace=ws, env=env)


# -- the store's own rules -----------------------------------------------------------------------

def test_local_folder_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from vetting.store.evidence_store import LocalStore
    from vetting.store.workspace import Workspace

    monkeypatch.delenv("VETTING_EVIDENCE_URL", raising=False)
    ws = Workspace.open(tmp_path / "ws")
    assert isinstance(ws.evidence_store, LocalStore)
    rel, digest = ws.store_bytes(b"hello", ".txt")
    assert (ws.evidence_root / rel).read_bytes() == b"hello"
    assert ws.read_evidence(rel, digest) == b"hello"


@pytest.mark.parametrize("url", ["s3://", "file:///tmp/x", "gs://bucket/p"])
def test_a_url_that_is_not_a_bucket_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from vetting.store.workspace import Workspace, WorkspaceError

    monkeypatch.setenv("VETTING_EVIDENCE_URL", url)
    with pytest.raises(WorkspaceError, match="VETTING_EVIDENCE_URL"):
        Workspace.open(tmp_path / "ws")


def test_library_evidence_goes_to_the_bucket_and_verifies_from_it(tmp_path: Path, moto: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Approval files, the authorization, stored bytes: each in the bucket under its sha256 before
    its event; verification reads the bucket, not the folder."""
    from case_fixtures import build_case

    from vetting.store.evidence_store import S3Store

    prefix = f"lib-{uuid.uuid4().hex[:8]}"
    for k, v in s3_env(moto, prefix).items():
        monkeypatch.setenv(k, v)
    built = build_case(tmp_path)
    ws = built.ws
    assert isinstance(ws.evidence_store, S3Store)
    named, _ = recorded(ws.root)
    assert set(objects(prefix)) == {f"{prefix}/sha256/{sha}" for sha in named}
    assert ws.verify().ok
    shutil.rmtree(ws.evidence_root)  # the local copies are gone: the bucket is the evidence
    report = ws.verify()
    assert report.ok, report.problems
    assert report.files_checked >= 3
    # An object overwritten in the bucket is found, naming the event and the object.
    sha = next(iter(named))
    key = f"{prefix}/sha256/{sha}"
    client().put_object(Bucket=BUCKET, Key=key, Body=b"forged")
    report = ws.verify()
    assert not report.ok
    text = "\n".join(map(str, report.problems))
    assert f"s3://{BUCKET}/{key}" in text and f"event {named[sha][0]}" in text, text
    client().delete_object(Bucket=BUCKET, Key=key)  # and a deleted one is missing
    text = "\n".join(map(str, ws.verify().problems))
    assert f"no object s3://{BUCKET}/{key}" in text, text


def test_erasure_removes_the_candidates_objects_from_the_bucket(tmp_path: Path, moto: dict,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from case_fixtures import add_item, build_case

    from vetting.store.erasure import erase_candidate

    prefix = f"erase-{uuid.uuid4().hex[:8]}"
    for k, v in s3_env(moto, prefix).items():
        monkeypatch.setenv(k, v)
    built = build_case(tmp_path)
    ws = built.ws
    procedure_objects = set(objects(prefix))  # the frozen procedure and the authorization so far
    item = add_item(built, "p1", "a page of Jane's")
    mine = {f"{prefix}/sha256/{a['sha256']}" for a in item.artifacts()}
    auth = hashlib.sha256(b"%PDF-1.4\n% signed authorization\n").hexdigest()  # build_case's authorization
    mine.add(f"{prefix}/sha256/{auth}")
    assert mine <= set(objects(prefix))
    result = erase_candidate(ws, "jane-doe", "Records Clerk", "retention ended")
    assert not result.objects_retained
    assert {n.removeprefix(f"s3://{BUCKET}/") for n in result.objects_removed} == mine
    assert set(objects(prefix)) == procedure_objects - mine
    report = ws.verify()  # the objects are gone by design: disposed, not missing
    assert report.ok, report.problems
    assert report.files_disposed >= 1


def test_an_upload_is_checked_before_it_counts(tmp_path: Path, moto: dict) -> None:
    """A file that changed between hashing and upload is refused; an existing object with the same
    content is kept; one with other bytes under the name is replaced by the right bytes."""
    from vetting.store.evidence_store import EvidenceStoreError, S3Store

    store = S3Store(f"s3://{BUCKET}/chk-{uuid.uuid4().hex[:8]}", tmp_path,
                    endpoint_url=moto["VETTING_S3_ENDPOINT_URL"])
    path = tmp_path / "f.bin"
    path.write_bytes(b"evidence")
    digest = hashlib.sha256(b"evidence").hexdigest()
    with pytest.raises(EvidenceStoreError, match="changed before upload"):
        store.put_file(path, hashlib.sha256(b"other").hexdigest())
    key = store.put_file(path, digest)
    assert key.endswith(f"/sha256/{digest}")
    assert store.read("f.bin", digest) == b"evidence"
    client().put_object(Bucket=BUCKET, Key=key, Body=b"forged!!")  # no sha256 metadata, other bytes
    store.put_file(path, digest)
    assert store.read("f.bin", digest) == b"evidence"


# -- a real case run ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_case_run_keeps_every_artifact_in_the_bucket(tmp_path: Path, moto: dict,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = f"run-{uuid.uuid4().hex[:8]}"
    env = s3_env(moto, prefix)
    monkeypatch.setenv("VETTING_EVIDENCE_URL", env["VETTING_EVIDENCE_URL"])  # this process's workspaces too
    ws, done = run_case(tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    stored, named = assert_bucket_matches_log(ws, prefix)
    assert any(k for k in stored if stored[k][:2] == b"\x1f\x8b"), "no sealed WARC in the bucket"

    shutil.rmtree(ws / "evidence")  # verification reads the bucket, not the local copies
    ok = verify(ws, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK:" in ok.stdout and f"evidence read from s3://{BUCKET}/{prefix}" in ok.stdout, ok.stdout
    # Reports re-hash each finding's evidence (files and WARC records) from the bucket too.
    from sqlmodel import select

    from vetting.domain.models import Item
    from vetting.reports.data import audit_report
    from vetting.review.validation import verify_item_evidence
    from vetting.store.workspace import Workspace

    wsx = Workspace.open(ws, create=False)
    with wsx.session() as s:
        items = list(s.exec(select(Item)))
    assert any(a.get("warc") for i in items for a in i.artifacts())
    assert all(verify_item_evidence(wsx, i) == [] for i in items), [verify_item_evidence(wsx, i) for i in items]
    assert audit_report(wsx).verify.ok
    exported = vet("evidence", "export", wsx_case(wsx), "--out", str(tmp_path / "case.wacz"), workspace=ws, env=env)
    assert exported.returncode == 0, exported.stdout + exported.stderr  # the WARCs come from the bucket
    assert "1 WARC files" in exported.stdout, exported.stdout

    # Overwrite one content file and the sealed WARC: both are found, naming event and key.
    seal = next(e for e in wsx.audit.events() if e.action == "evidence.warc_sealed")
    capture = next(e for e in wsx.audit.events() if e.action == "item.captured" and e.payload["artifacts"])
    art = capture.payload["artifacts"][0]
    for sha in (art["sha256"], seal.payload["sealed_file"]["sha256"]):
        client().put_object(Bucket=BUCKET, Key=f"{prefix}/sha256/{sha}", Body=b"overwritten")
    bad = verify(ws, env)
    assert bad.returncode == 1, bad.stdout
    assert f"object s3://{BUCKET}/{prefix}/sha256/{art['sha256']} changed since event {capture.seq}" in bad.stdout
    sealed_key = f"s3://{BUCKET}/{prefix}/sha256/{seal.payload['sealed_file']['sha256']}"
    assert f"event {seal.seq}" in bad.stdout and sealed_key in bad.stdout, bad.stdout
    fresh = Workspace.open(ws, create=False)  # a new process: nothing cached
    damaged = [p for i in items for p in verify_item_evidence(fresh, i)]
    assert damaged and not audit_report(fresh).verify.ok, damaged


WRAPPER = """
import sys
import vetting.store.evidence_store as es

FAIL = {fail!r}
state = {{"failed": False}}
original = es.S3Store._send


class Halfway:
    '''The body of an upload that breaks after half of its bytes (a connection dropped mid-upload).'''
    def __init__(self, body, size):
        self.body, self.half = body, size // 2
    def read(self, n=-1):
        if self.body.tell() >= self.half:
            raise ConnectionResetError("injected: the connection dropped halfway through the upload")
        n = self.half - self.body.tell() if n is None or n < 0 else min(n, self.half - self.body.tell())
        return self.body.read(n)
    def __getattr__(self, name):
        return getattr(self.body, name)


def send(self, key, body, size, sha256):
    name = getattr(body, "name", "")
    if not state["failed"] and (FAIL == "first" or str(name).endswith(".warc.gz")):
        state["failed"] = True
        with open("{marker}", "w") as fh:
            fh.write(key)
        return original(self, key, Halfway(body, size), size, sha256)
    return original(self, key, body, size, sha256)


es.S3Store._send = send
from vetting.cli.main import main
sys.exit(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("fail", ["first", "warc"])
def test_an_upload_failing_halfway_records_nothing_and_is_retried(tmp_path: Path, moto: dict, fail: str) -> None:
    prefix = f"fail-{fail}-{uuid.uuid4().hex[:8]}"
    env = s3_env(moto, prefix)
    marker = tmp_path / "failed-key"
    wrapper = tmp_path / "vet_failing.py"
    wrapper.write_text(WRAPPER.format(fail=fail, marker=marker))
    ws, done = run_case(tmp_path / "run", env, wrapper=wrapper)
    assert marker.exists(), done.stdout + done.stderr  # the failure was injected
    failed_key = marker.read_text()
    assert done.returncode == 0, done.stdout + done.stderr

    from vetting.store.workspace import Workspace

    wsx = Workspace.open(ws, create=False)
    evs = list(wsx.audit.events())
    retried = [e for e in evs if e.action == "step.retried"]
    assert len(retried) == 1, [e.action for e in evs]
    failed_sha = failed_key.rsplit("/", 1)[1]
    before = [e for e in evs if e.seq < retried[0].seq]
    # Nothing recorded names the object whose upload failed, until the retry stored it.
    for e in before:
        names = [a["sha256"] for a in e.payload.get("artifacts") or []]
        names += [e.payload["sealed_file"]["sha256"]] if "sealed_file" in e.payload else []
        assert failed_sha not in names, e
    if fail == "first":
        assert not [e for e in before if e.action in ("item.captured", "evidence.warc_sealed")]
    else:  # the items were recorded (their files uploaded), their WARC not sealed; the next attempt,
        # with nothing new to write, seals the file the failed attempt left (ctx._seal_left_over)
        assert [e for e in before if e.action == "item.captured"]
        assert not [e for e in before if e.action == "evidence.warc_sealed"]
        after = [e.action for e in evs if e.seq > retried[0].seq]
        assert "evidence.warc_sealed" in after and "item.captured" not in after, after
    assert [e for e in evs if e.action == "evidence.warc_sealed"]
    keys = [e.subject for e in evs if e.action == "item.captured"]
    assert len(keys) == len(set(keys)), "an item was recorded twice"
    case = next(e for e in evs if e.action == "step.finished")
    assert json.dumps(case.payload).count("completed") >= 1, case.payload
    assert_bucket_matches_log(ws, prefix)
    shutil.rmtree(ws / "evidence")
    ok = verify(ws, env)
    assert ok.returncode == 0, ok.stdout + ok.stderr


# -- several workers on PostgreSQL, evidence in the bucket ------------------------------------------

@pytest.mark.slow
def test_three_workers_ten_cases_every_object_matches_its_event(tmp_path: Path, moto: dict, postgres, demo_web,
                                                                auth_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queue test of tests/test_queue.py with the bucket as the evidence store: each case runs
    once, every stored object's sha256 is what its audit event recorded, and verification passes
    from the bucket alone."""
    from queue_fixtures import all_finished, job_states, queue_workspace, start_worker, stop_workers, wait_for

    cases, pages = 10, 2
    prefix = f"queue-{uuid.uuid4().hex[:8]}"
    for k, v in s3_env(moto, prefix).items():
        monkeypatch.setenv(k, v)  # the workers (env_for copies os.environ) and this process alike
    url = postgres.new_database()
    monkeypatch.setenv("VETTING_DATABASE_URL", url)
    root = tmp_path / "ws"
    ws = queue_workspace(root, url, demo_web, cases, pages, 0.05, auth_file)
    env = {"VETTING_DATABASE_URL": url}
    queued = vet("run", *[f"qc-{i:02d}" for i in range(cases)], "--procedure", PROCEDURE, "--by", "Det. Sam Ortiz",
                 "--queue", workspace=root, env=env)
    assert queued.returncode == 0, queued.stdout + queued.stderr
    workers = [start_worker(root, url, f"w{n}", tmp_path) for n in range(3)]
    try:
        wait_for(lambda: all_finished(ws, cases), 900, f"{cases} cases on 3 workers")
    finally:
        stop_workers(workers)
    states = job_states(ws)
    assert len(states) == cases and all(s == ["succeeded"] for s in states.values()), states
    started = [e for e in ws.audit.events() if e.action == "job.started"]
    assert sorted(e.case_id for e in started) == sorted(states)  # each case ran exactly once
    captured = [(e.case_id, e.subject) for e in ws.audit.events() if e.action == "item.captured"]
    assert len(captured) == len(set(captured)) == cases * (pages + 1)
    assert_bucket_matches_log(root, prefix)
    shutil.rmtree(root / "evidence")
    ok = vet("audit", "verify", workspace=root, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
