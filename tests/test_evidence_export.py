"""`vet evidence export`: a signed WACZ that other tools accept, that replays offline, and that
carries the case's audit events with proofs (issue 11.3). Tried from outside: py-wacz's own
`wacz validate`, pywb replaying the package in Chromium while a tripwire listens on every demo
site address, signatures checked with the public keys alone, a changed byte, a damaged WARC.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from capture_fixtures import Captured
from conftest import REPO, vet

CHROMIUM = os.environ.get("VETTING_CHROMIUM", "/usr/bin/chromium")
PYWB = REPO / ".venv-pywb" / "bin"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason="no Chromium on this machine")


@pytest.fixture(scope="module")
def package(captured: Captured, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wacz") / "case.wacz"
    result = vet("evidence", "export", captured.case_id, "-o", str(out), "--by", "Det. Cole", workspace=captured.ws)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "wrote" in result.stdout and out.is_file()
    return out


def members(wacz: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(wacz) as z:
        return {n: z.read(n) for n in z.namelist()}


def wacz_validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f", str(path)],
                          capture_output=True, text=True, timeout=300)


# -- the package ------------------------------------------------------------------------------------

def test_py_wacz_validates_the_package(package: Path) -> None:
    result = wacz_validate(package)
    assert result.returncode == 0 and "Validation succeeded" in result.stdout, result.stdout + result.stderr
    files = members(package)
    assert json.loads(files["datapackage.json"])["wacz_version"] == "1.1.1"
    assert {"indexes/index.cdx.gz", "pages/pages.jsonl", "audit/events.jsonl", "audit/checkpoint.txt",
            "audit/log-key.pem"} <= set(files)
    assert any(n.startswith("archive/") and n.endswith(".warc.gz") for n in files)
    with zipfile.ZipFile(package) as z:  # WARCs stored, not deflated (the spec's requirement)
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist() if i.filename.startswith("archive/"))


def test_the_warcs_hold_the_page_as_received_with_its_subresources(package: Path, captured: Captured) -> None:
    """Responses as the server sent them with WARC-IP-Address, a request record for each, the
    rendered page's subresources, and the screenshot/DOM/text under urn: URIs; warcio check passes."""
    from warcio.archiveiterator import ArchiveIterator

    records: list[tuple[str, str, dict[str, str]]] = []
    for name, data in members(package).items():
        if name.startswith("archive/"):
            for record in ArchiveIterator(io.BytesIO(data)):
                records.append((record.rec_type, record.rec_headers.get_header("WARC-Target-URI") or "",
                                dict(record.rec_headers.headers)))
    responses = [(uri, h) for kind, uri, h in records if kind == "response"]
    requests = [h for kind, _, h in records if kind == "request"]
    page = captured.urls[0]
    host = page.split("/")[2]
    assert any(uri == page for uri, _ in responses)
    subresources = {uri for uri, _ in responses if uri != page and host.split(":")[0] in uri}
    assert any(u.endswith(".json") for u in subresources) and any(u.endswith(".svg") for u in subresources), subresources
    assert all(h.get("WARC-IP-Address") == host.split(":")[0] for _, h in responses)
    assert {h["WARC-Concurrent-To"] for h in requests} == {h["WARC-Record-ID"] for _, h in responses}
    uris = {uri for _, uri, _ in records}
    assert {f"urn:screenshot:{page}", f"urn:dom:{page}", f"urn:text:{page}"} <= uris
    with zipfile.ZipFile(package) as z, tempfile.TemporaryDirectory() as tmp:
        names = [n for n in z.namelist() if n.startswith("archive/")]
        z.extractall(tmp, names)
        check = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v",
                                *[str(Path(tmp) / n) for n in names]], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0 and "digest pass" in check.stdout and "fail" not in check.stdout.lower(), check.stdout


def test_pages_list_each_captured_page(package: Path, captured: Captured) -> None:
    lines = members(package)["pages/pages.jsonl"].decode().splitlines()
    assert json.loads(lines[0])["format"] == "json-pages-1.0"
    pages = [json.loads(line) for line in lines[1:]]
    assert [p["url"] for p in pages] == captured.urls and all(p["ts"] for p in pages)


def test_the_signature_verifies_with_the_public_key_alone_and_binds_datapackage(package: Path,
                                                                                tmp_path: Path) -> None:
    from vetting.reports.evidence_export import verify_signed_data

    files = members(package)
    digest = json.loads(files["datapackage-digest.json"])
    import hashlib

    assert digest["hash"] == "sha256:" + hashlib.sha256(files["datapackage.json"]).hexdigest()
    signed = digest["signedData"]
    assert signed["hash"] == digest["hash"] and verify_signed_data(signed)
    assert not verify_signed_data(dict(signed, hash="sha256:" + "0" * 64))
    # every file's digest is in datapackage.json, and a changed byte anywhere is caught by py-wacz
    listed = {r["path"]: r["hash"] for r in json.loads(files["datapackage.json"])["resources"]}
    for name, data in files.items():
        if name not in ("datapackage.json", "datapackage-digest.json"):
            assert listed[name] == "sha256:" + hashlib.sha256(data).hexdigest(), name
    changed = tmp_path / "changed.wacz"
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(changed, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "audit/events.jsonl":
                data = data.replace(b"Inv. Lee", b"Inv. Lie", 1)
            dst.writestr(info, data)
    result = wacz_validate(changed)
    assert result.returncode != 0 and "Validation failed" in result.stdout, result.stdout
    assert "'events-jsonl': [{'type': 'hash-count'" in result.stdout, result.stdout  # it names the file


def test_audit_events_are_proved_in_the_signed_checkpoint(package: Path, captured: Captured) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from audit import checkpoints as cps
    from audit.events import canonical_bytes
    from audit.merkle import leaf_hash, verify_inclusion

    files = members(package)
    note = cps.parse_note(files["audit/checkpoint.txt"].decode())
    key = load_pem_public_key(files["audit/log-key.pem"])
    assert cps.signature_problem(note, key) is None  # type: ignore[arg-type]
    lines = [json.loads(line) for line in files["audit/events.jsonl"].decode().splitlines()]
    actions = {entry["event"]["action"] for entry in lines}
    assert {"evidence.signing_key", "case.opened", "item.captured", "request.allowed",
            "evidence.warc_sealed"} <= actions
    for entry in lines:
        ev = entry["event"]
        leaf = leaf_hash(canonical_bytes(ev["seq"], ev["time"], ev["actor"], ev["action"], ev["case_id"],
                                         ev["subject"], ev["payload"]))
        assert leaf.hex() == entry["leaf_hash"]
        proof = [bytes.fromhex(h) for h in entry["inclusion_proof"]]
        assert entry["tree_size"] == note.size
        assert verify_inclusion(leaf, ev["seq"], note.size, proof, note.root), ev["seq"]
    key_event = next(e["event"] for e in lines if e["event"]["action"] == "evidence.signing_key")
    signed = json.loads(files["datapackage-digest.json"])["signedData"]
    assert key_event["payload"]["public_key"] == signed["publicKey"]  # the package key is bound to the log
    exported = [e for e in __import__("vetting.store.workspace", fromlist=["W"]).Workspace.open(captured.ws).audit.events()
                if e.action == "evidence.exported"]
    import hashlib

    assert exported and exported[-1].payload["sha256"] == hashlib.sha256(package.read_bytes()).hexdigest()


def test_a_damaged_warc_is_never_packaged(captured: Captured, tmp_path: Path) -> None:
    copy = captured.copy(tmp_path / "copy")
    warc = sorted((copy.ws / "evidence" / "warc" / copy.case_id).glob("*.warc.gz"))[0]
    data = bytearray(warc.read_bytes())
    data[len(data) // 2] ^= 0x40
    warc.write_bytes(bytes(data))
    out = tmp_path / "bad.wacz"
    result = vet("evidence", "export", copy.case_id, "-o", str(out), workspace=copy.ws)
    assert result.returncode == 1 and not out.exists()
    assert result.stderr.startswith(f"error: evidence of case {copy.case_id} is damaged, not packaged: file ")
    assert "Traceback" not in result.stderr


def test_an_unknown_case_is_one_clear_line(captured: Captured, tmp_path: Path) -> None:
    result = vet("evidence", "export", "case-nobody", "-o", str(tmp_path / "x.wacz"), workspace=captured.ws)
    assert result.returncode == 1 and result.stderr.strip() == "error: no case 'case-nobody' (see `vet case list`)"


# -- replay: pywb inside Chromium, no live request ---------------------------------------------------

class Tripwire:
    def __init__(self) -> None:
        self.connections: list[str] = []
        self.socks: list[socket.socket] = []

    def listen(self, host: str, port: int) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(16)
        self.socks.append(s)
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, addr = s.accept()
            except OSError:
                return
            self.connections.append(str(s.getsockname()))
            conn.close()

    def close(self) -> None:
        for s in self.socks:
            s.close()


@pytest.fixture
def pywb(package: Path, tmp_path: Path) -> Iterator[str]:
    if not (PYWB / "wayback").exists():
        pytest.fail("pywb is not installed: run `make pywb` (make test does)")
    root = tmp_path / "pywb"
    root.mkdir()
    # frameless replay: the archived page is the top document, as the investigator's browser had it
    (root / "config.yaml").write_text("framed_replay: false\n")
    subprocess.run([str(PYWB / "wb-manager"), "init", "evidence"], cwd=root, check=True, capture_output=True)
    added = subprocess.run([str(PYWB / "wb-manager"), "add", "--unpack-wacz", "evidence", str(package)], cwd=root,
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stdout + added.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(PYWB / "wayback"), "-p", str(port), "-b", "127.0.0.1", "-d", str(root)],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/evidence"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _capture_screenshot(package: Path, url: str) -> bytes:
    from warcio.archiveiterator import ArchiveIterator

    with zipfile.ZipFile(package) as z:
        for name in z.namelist():
            if name.startswith("archive/"):
                for record in ArchiveIterator(io.BytesIO(z.read(name))):
                    if record.rec_headers.get_header("WARC-Target-URI") == f"urn:screenshot:{url}":
                        return record.content_stream().read()
    raise AssertionError(f"no screenshot record for {url}")


def _replay(replay_url: str) -> tuple[bytes, list[str], str]:
    code = """
import asyncio, base64, json, sys
from playwright.async_api import async_playwright
async def main():
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=sys.argv[2], headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = await b.new_page()
        seen = []
        page.on("request", lambda r: seen.append(r.url))
        await page.goto(sys.argv[1], wait_until="load")
        await page.wait_for_load_state("networkidle")
        await page.wait_for_timeout(500)
        shot = await page.screenshot(full_page=True, type="png")
        print(json.dumps({"png": base64.b64encode(shot).decode(), "requests": seen, "title": await page.title()}))
        await b.close()
asyncio.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code, replay_url, CHROMIUM], capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return base64.b64decode(data["png"]), data["requests"], data["title"]


def _difference(a: bytes, b: bytes) -> tuple[tuple[int, int], tuple[int, int], float]:
    """(size a, size b, share of pixels differing by more than 16 in any channel) on the common area."""
    from PIL import Image, ImageChops

    ia, ib = Image.open(io.BytesIO(a)).convert("RGB"), Image.open(io.BytesIO(b)).convert("RGB")
    w, h = min(ia.width, ib.width), min(ia.height, ib.height)
    diff = ImageChops.difference(ia.crop((0, 0, w, h)), ib.crop((0, 0, w, h))).convert("L")
    changed = sum(diff.point(lambda v: 255 if v > 16 else 0).histogram()[255:])
    return ia.size, ib.size, changed / (w * h)


def test_the_page_replays_offline_in_pywb_and_looks_as_captured(package: Path, captured: Captured,
                                                              pywb: str) -> None:
    tripwire = Tripwire()
    for host, port in captured.addresses:  # the demo web is stopped: anything live lands here
        tripwire.listen(host, port)
    try:
        page = json.loads(members(package)["pages/pages.jsonl"].decode().splitlines()[1])
        ts = "".join(c for c in page["ts"] if c.isdigit())[:14]
        shot, requests, title = _replay(f"{pywb}/{ts}mp_/{page['url']}")
        time.sleep(0.5)
    finally:
        tripwire.close()
    assert tripwire.connections == []  # 0 live requests
    assert requests and all(r.startswith(pywb.rsplit("/", 1)[0]) or r.startswith("data:") for r in requests), requests
    assert len(requests) > 1  # the page's subresources came from the package too
    assert "Casey" in title
    captured_size, replay_size, changed = _difference(_capture_screenshot(package, page["url"]), shot)
    assert captured_size[0] == replay_size[0] and abs(captured_size[1] - replay_size[1]) <= 0.05 * captured_size[1]
    assert changed < 0.02, f"{changed:.2%} of the pixels differ ({captured_size} vs {replay_size})"


def test_the_replay_comparison_can_fail(package: Path, captured: Captured) -> None:
    """Control: the comparison above tells a different page apart."""
    shot = _capture_screenshot(package, captured.urls[0])
    from PIL import Image

    img = Image.open(io.BytesIO(shot)).convert("RGB")
    img.paste((255, 0, 0), (0, 0, img.width, img.height // 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert _difference(shot, buf.getvalue())[2] > 0.1


def test_the_demo_run_can_be_copied(captured: Captured, tmp_path: Path) -> None:
    copy = captured.copy(tmp_path / "c")
    assert (copy.ws / "vetting.db").is_file() and not shutil.os.path.samefile(copy.ws, captured.ws)
