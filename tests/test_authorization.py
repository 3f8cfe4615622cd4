"""The signed authorization must be a document: a regular file, a PDF or an image by its bytes."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import AUTH_PDF
from digests import casework_digest
from team import Team
from test_cli import invoke_as

from vetting.domain.authorization import read_authorization


def add(team: Team, auth: str, *extra: str):
    """The investigator sortiz adds Jane Doe with this authorization file."""
    return invoke_as(team, "sortiz", "candidate", "add", "--name", "Jane Doe", "--authorization", auth,
                     "--signed-on", "2026-10-01", *extra)


def test_pdf_and_images_accepted(tmp_path: Path) -> None:
    samples = {"a.pdf": AUTH_PDF, "b.png": b"\x89PNG\r\n\x1a\n....", "c.jpg": b"\xff\xd8\xff\xe0JFIF",
               "d.tif": b"II*\x00....", "e.gif": b"GIF89a..", "f.webp": b"RIFF\x10\x00\x00\x00WEBPVP8 "}
    for name, data in samples.items():
        (tmp_path / name).write_bytes(data)
        doc, refusal = read_authorization(tmp_path / name)
        assert refusal is None and doc is not None and doc.data == data, name


def test_refusals_each_with_its_own_message(team: Team, tmp_path: Path) -> None:
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
    team.account("sortiz")  # the session's first use (an audit event) is behind us: the refusals add nothing
    before = casework_digest(team.ws.root)
    for path, message in cases:
        result = add(team, path)
        assert result.exit_code == 2, (path, result.output)
        assert message in result.output, (path, result.output)
        assert "Traceback" not in result.output
    assert casework_digest(team.ws.root) == before  # nothing copied into the evidence store, no candidate


def test_signed_on_required_with_authorization(team: Team, tmp_path: Path) -> None:
    from vetting.domain.candidates import list_candidates

    (tmp_path / "a.pdf").write_bytes(AUTH_PDF)
    result = invoke_as(team, "sortiz", "candidate", "add", "--name", "Jane Doe", "--authorization",
                       str(tmp_path / "a.pdf"))
    assert result.exit_code == 2 and "--signed-on: required with --authorization" in result.output
    result = invoke_as(team, "sortiz", "candidate", "add", "--name", "Jane Doe", "--signed-on", "2026-10-01")
    assert result.exit_code == 2 and "without the signed authorization" in result.output
    assert add(team, str(tmp_path / "a.pdf")).exit_code == 0
    assert [c.added_by for c in list_candidates(team.ws)] == ["user:sortiz"]
