"""The signed authorization must be a document: a regular file, a PDF or an image by its bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import AUTH_PDF
from test_cli import invoke, tree_digest

from vetting.domain.authorization import read_authorization


def add(ws: Path, auth: str, *extra: str):
    return invoke(ws, "candidate", "add", "--name", "Jane Doe", "--authorization", auth, "--signed-on",
                  "2026-10-01", "--by", "Inv. Lee", *extra)


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    from vetting.store.workspace import Workspace

    return Workspace.open(tmp_path / "ws").root


def test_pdf_and_images_accepted(tmp_path: Path) -> None:
    samples = {"a.pdf": AUTH_PDF, "b.png": b"\x89PNG\r\n\x1a\n....", "c.jpg": b"\xff\xd8\xff\xe0JFIF",
               "d.tif": b"II*\x00....", "e.gif": b"GIF89a..", "f.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 "}
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
        doc, refusal = read_authorization(tmp_path / name)
        assert refusal is None and doc is not None and doc.data == data, name


def test_refusals_each_with_its_own_message(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "real.pdf").write_bytes(AUTH_PDF)
    os.symlink(tmp_path / "real.pdf", tmp_path / "link.pdf")
    os.symlink("/etc/passwd", tmp_path / "passwd.pdf")
    (tmp_path / "empty.pdf").write_bytes(b"")
    (tmp_path / "renamed.pdf").write_bytes(Path("/etc/passwd").read_bytes())
    (tmp_path / "folder").mkdir()
    cases = [
        (str(tmp_path / "link.pdf"), "is a symbolic link"),
        (str(tmp_path / "passwd.pdf"), "is a symbolic link"),
        ("/etc/passwd", "is not a signed document"),
        (str(tmp_path / "renamed.pdf"), "not its name"),
        (str(tmp_path / "folder"), "is a folder"),
        ("/dev/null", "is not a regular file"),
        (str(tmp_path / "empty.pdf"), "is empty"),
        (str(tmp_path / "absent.pdf"), "does not exist"),
    ]
    before = tree_digest(ws)
    for path, message in cases:
        result = add(ws, path)
        assert result.exit_code == 2, (path, result.output)
        assert message in result.output, (path, result.output)
        assert "Traceback" not in result.output
    assert tree_digest(ws) == before  # nothing copied into the evidence store, no candidate


def test_signed_on_required_with_authorization(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "a.pdf").write_bytes(AUTH_PDF)
    result = invoke(ws, "candidate", "add", "--name", "Jane Doe", "--authorization", str(tmp_path / "a.pdf"),
                    "--by", "Inv. Lee")
    assert result.exit_code == 2 and "--signed-on: required with --authorization" in result.output
    result = invoke(ws, "candidate", "add", "--name", "Jane Doe", "--signed-on", "2026-10-01", "--by", "Inv. Lee")
    assert result.exit_code == 2 and "without the signed authorization" in result.output
    assert add(ws, str(tmp_path / "a.pdf")).exit_code == 0
