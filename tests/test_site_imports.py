"""`vet sites import` of the real manifests and of hostile files; the shipped site list."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from conftest import vet

from spiders.sites import parse_manifest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_LIST = REPO / "procedures" / "sites" / "whatsmyname.json"
WMN_REPLAY = REPO / "tests" / "fixtures" / "sites-wmn-replay.json"
SHERLOCK_REPLAY = REPO / "tests" / "fixtures" / "sites-sherlock-replay.json"


def test_shipped_list_carries_attribution_and_licence_and_imports_cleanly(tmp_path: Path) -> None:
    doc = json.loads(SHIPPED_LIST.read_text(encoding="utf-8"))
    assert doc["license"] == "CC BY-SA 4.0" and "creativecommons.org/licenses/by-sa/4.0" in doc["license_url"]
    assert "WhatsMyName" in doc["attribution"] and "Micah Hoffman" in doc["license_notice"]
    assert "e62338e4fc88536a330733d355a9d33a3a1697c6" in doc["source"]
    assert (REPO / "procedures" / "sites" / "LICENSE-whatsmyname.md").exists()
    # every refusal of the conversion is explained in the file
    assert {r["name"] for r in doc["rejected"]} == {"7cup", "Blogmarks", "Evolution CMS"}
    assert all(r["reason"] for r in doc["rejected"])
    manifest = parse_manifest(SHIPPED_LIST.read_bytes())
    assert len(manifest.sites) == 713 and manifest.rejected == []
    assert manifest.header["license"] == "CC BY-SA 4.0"
    requires = {r for s in manifest.sites for r in s.requires}
    assert {"post", "captcha", "bot-wall", "custom-headers"} <= requires
    assert sum(1 for s in manifest.sites if s.subdomain) == 22
    assert sum(1 for s in manifest.sites if not s.follow_redirects) == 75
    # re-importing the shipped list keeps its attribution and licence in the output
    out = tmp_path / "again.json"
    result = vet("sites", "import", str(SHIPPED_LIST), "--out", str(out), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr
    assert "713 site(s) imported" in result.stdout and "0 refused" in result.stdout
    assert json.loads(out.read_text())["license"] == "CC BY-SA 4.0"


def test_shipped_procedure_uses_the_shipped_list_and_checks(tmp_path: Path) -> None:
    proc = yaml.safe_load((REPO / "procedures" / "kcpd-261-1.yaml").read_text(encoding="utf-8"))
    (step,) = [s for s in proc["steps"] if s["collector"] == "accounts"]
    assert step["sites"] == "sites/whatsmyname.json"
    result = vet("procedure", "check", str(REPO / "procedures" / "kcpd-261-1.yaml"), workspace=tmp_path / "ws")
    assert result.returncode == 0, result.stderr


def test_real_manifest_subsets_import_with_every_refusal_explained(tmp_path: Path) -> None:
    for src, refused in ((WMN_REPLAY, {"7cup", "Blogmarks"}), (SHERLOCK_REPLAY, set())):
        out = tmp_path / (src.stem + ".json")
        result = vet("sites", "import", str(src), "--out", str(out), workspace=tmp_path / "ws")
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stdout.splitlines() if line.strip().startswith("refused")]
        assert {line.split(":", 1)[0].removeprefix("  refused ") for line in lines} == refused
        assert all(line.split(":", 1)[1].strip() for line in lines)


#: A manifest just over the size limit (25 MB), valid JSON: refused before it is parsed.
BIG = b'{"sites": [' + b",".join([b'{"name": "x%07d"}' % n for n in range(1_191_000)]) + b"]}"


@pytest.mark.parametrize("content,message", [
    (b"[" * 200_000 + b"]" * 200_000, "nested more than 40 levels deep"),
    (b'{"sites": ' + b"[" * 40 + b"]" * 40 + b"}", "nested more than 40 levels deep"),
    (b'{"sites": [{"name": "A", "e_string": "' + b"[{" * 100 + b'\\"[["}]}', None),  # brackets in text: not nesting
    (BIG, "bytes; at most 20,000,000)"),
    (b'{"sites": [{"name": "A", "e_code": ' + b"9" * 5000 + b"}]}", "has more than 20 digits"),
    (b'{"sites": [{"name": "A", "uri_check": "https://a.example/{account}", "e_code": 1e400, "e_string": "x",'
     b' "m_code": 404, "m_string": "y"}]}', None),
    (b'{"A": {"url": "https://a.example/{}", "errorType": []}}', None),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b'{"sites": 5}', "unknown manifest format"),
])
def test_hostile_files_one_line_no_traceback(tmp_path: Path, content: bytes, message: str | None) -> None:
    src = tmp_path / "in.json"
    src.write_bytes(content)
    out = tmp_path / "out.json"
    started = time.monotonic()
    result = vet("sites", "import", str(src), "--out", str(out), workspace=tmp_path / "ws", timeout=60)
    assert time.monotonic() - started < 20  # imports included; the refusal itself takes well under a second
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if message is None:  # the entry is refused with its reason, the file is still written
        assert result.returncode == 0 and "refused A:" in result.stdout, result.stdout + result.stderr
        assert json.loads(out.read_text())["sites"] == []
    else:
        assert result.returncode == 2 and message in result.stderr and str(src) in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not out.exists()


def test_out_inside_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "folder" / "out.json"
    result = vet("sites", "import", str(WMN_REPLAY), "--out", str(out), workspace=tmp_path / "ws")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{out}: --out: cannot write" in result.stderr
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize("source,message", [("/dev/zero", "is not a regular file"), (".", "is a folder, not a file")])
def test_endless_or_unreadable_input_is_refused_without_reading_it_all(tmp_path: Path, source: str,
                                                                       message: str) -> None:
    src = tmp_path if source == "." else Path(source)
    result = vet("sites", "import", str(src), "--out", str(tmp_path / "out.json"), workspace=tmp_path / "ws",
                 timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out.json").exists()
