"""Procedures in the browser: the approved versions, checking an uploaded file, approving it.

A procedure is a YAML file with, for a step that checks accounts, a site manifest beside it
(``sites: sites/x.json``). In the browser the manifests are uploaded with the file (field
``manifest``, matched by file name) and both are written into a temporary folder, so the same
code as ``vet procedure check`` and ``vet procedure approve`` reads them
(:func:`vetting.domain.procedure.load_procedure`). A ``sites:`` path that would leave that
folder (absolute, or with ``..``) is refused before anything is read: an upload never makes
the server read one of its own files.

Checking (act ``procedure.list``) is open to whoever may read the approved procedures: the
author of a change is often an investigator of the unit, who checks the draft before a
commander approves it; a check changes nothing. Approval (``procedure.approve``) asks for the
password and a fresh code again (step-up) after the file has passed every check.
"""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response

from vetting.web.routes import BadRequest, Ctx, Page

#: An uploaded procedure or manifest is a small text file (the YAML reader's own bound).
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_MANIFESTS = 3


@dataclass(frozen=True)
class Shown:
    """One problem as the page lists it: its line, its field, what is wrong."""

    line: int | None
    field: str
    message: str


@dataclass
class Checked:
    """An uploaded procedure after the checks: its problems, or the loaded procedure."""

    name: str  # the uploaded file's name (what the problems and the diff call it)
    text: str
    problems: list[Shown]
    loaded: Any = None  # vetting.domain.procedure.LoadedProcedure when there is no problem
    procedure_id: str = ""  # from the file, when it parses
    diff: list[str] | None = None  # the unified difference from the latest approved version
    previous: Any = None  # that ProcedureVersion
    path: Path | None = None  # the file in the temporary folder, once written there


def _file_name(upload: UploadFile) -> str:
    """The upload's own file name, reduced to a safe base name."""
    name = PurePosixPath((upload.filename or "procedure.yaml").replace("\\", "/")).name
    name = "".join(c for c in name if c.isalnum() or c in "._-")[:100].lstrip(".")
    return name or "procedure.yaml"


def _read(upload: UploadFile, what: str) -> bytes:
    data = upload.file.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise BadRequest(f"{what}: larger than {MAX_UPLOAD_BYTES:,} bytes")
    return data


def _uploads(ctx: Ctx) -> tuple[UploadFile, list[UploadFile]]:
    """The procedure file (field ``file``) and the manifests (field ``manifest``), checked."""
    upload = ctx.form.get("file") if ctx.form is not None else None
    if not isinstance(upload, UploadFile) or not (upload.filename or "").strip():
        raise BadRequest("file: choose the procedure's YAML file")
    manifests = [m for m in ctx.form.getlist("manifest") if isinstance(m, UploadFile) and (m.filename or "").strip()]
    if len(manifests) > MAX_MANIFESTS:
        raise BadRequest(f"manifest: at most {MAX_MANIFESTS} site manifests")
    return upload, manifests


def _sites_paths(doc: Any) -> list[tuple[int, str]]:
    steps = doc.data.get("steps") if isinstance(doc.data, dict) else None
    if not isinstance(steps, list):
        return []
    return [(i, step["sites"]) for i, step in enumerate(steps)
            if isinstance(step, dict) and isinstance(step.get("sites"), str)]


def check_upload(ctx: Ctx, folder: Path) -> Checked:
    """Every problem of the uploaded procedure (as ``vet procedure check`` finds them), and its
    difference from the latest approved version of the same id. The file and its manifests are
    written into ``folder`` (the caller's temporary folder, alive while it approves)."""
    from vetting.domain.procedure import load_procedure
    from vetting.domain.yamlsource import InputError, dotted, load_yaml_text

    upload, manifests = _uploads(ctx)
    name = _file_name(upload)
    raw = _read(upload, "file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("file: not UTF-8 text (a procedure is a YAML file)") from None
    checked = Checked(name, text, [])
    try:
        doc = load_yaml_text(text, name)
    except InputError as exc:
        checked.problems = [Shown(p.line, p.field, p.message) for p in exc.problems]
        return checked
    if isinstance(doc.data, dict) and isinstance(doc.data.get("id"), str):
        checked.procedure_id = doc.data["id"]
    _add_diff(ctx, checked)
    folder = folder.resolve()
    given = {_file_name(m): m for m in manifests}
    for i, sites in _sites_paths(doc):
        target = (folder / sites).resolve()
        if PurePosixPath(sites).is_absolute() or ".." in PurePosixPath(sites).parts \
                or not target.is_relative_to(folder):
            checked.problems.append(Shown(doc.line_of(("steps", i, "sites")), dotted(("steps", i, "sites")),
                                          "in the browser a site manifest is uploaded with the procedure: "
                                          "give a path beside the file, such as sites/manifest.json"))
            continue
        manifest = given.get(target.name)
        if manifest is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            manifest.file.seek(0)
            target.write_bytes(_read(manifest, "manifest"))
    if checked.problems:
        return checked  # nothing is read from outside the folder
    checked.path = folder / name
    checked.path.write_bytes(raw)
    try:
        checked.loaded = load_procedure(checked.path)
    except InputError as exc:
        checked.problems = [Shown(p.line, p.field, p.message.replace(str(folder) + "/", ""))
                            for p in exc.problems]
    return checked


def _add_diff(ctx: Ctx, checked: Checked) -> None:
    from vetting.services.procedures import list_procedures

    same = [v for v in list_procedures(ctx.ws, ctx.account) if v.procedure_id == checked.procedure_id]
    if not same:
        return
    previous = max(same, key=lambda v: v.version)
    checked.previous = previous
    checked.diff = list(difflib.unified_diff(
        previous.source_text.splitlines(), checked.text.splitlines(), lineterm="",
        fromfile=f"{previous.procedure_id} version {previous.version} (approved)", tofile=checked.name))


def _versions(ctx: Ctx) -> list[Any]:
    from vetting.services.procedures import list_procedures

    return list_procedures(ctx.ws, ctx.account)


def procedure_page(ctx: Ctx) -> Response:
    """One procedure's approved versions, newest first, each with its written-process report."""
    from vetting.store.lookup import require_procedure

    procedure_id = ctx.params["procedure"]
    require_procedure(ctx.ws, procedure_id)
    rows = sorted((v for v in _versions(ctx) if v.procedure_id == procedure_id), key=lambda v: -v.version)
    return ctx.render("web/procedure.html", procedure_id=procedure_id, versions=rows)


def _show(ctx: Ctx, checked: Checked | None, status: int = 200) -> Response:
    from vetting.people.permissions import refusal

    return ctx.render("web/procedures.html", status=status, versions=_versions(ctx), checked=checked,
                      may_approve=refusal(ctx.ws, ctx.account, "procedure.approve") is None)


def procedure_list(ctx: Ctx) -> Response:
    return _show(ctx, None)


def procedure_check(ctx: Ctx) -> Response:
    """The check's result is the page: every problem by line, and the difference (status 200)."""
    with tempfile.TemporaryDirectory(prefix="vet-web-procedure-") as tmp:
        return _show(ctx, check_upload(ctx, Path(tmp)))


def procedure_approve(ctx: Ctx) -> Response:
    """Approve the uploaded file: the form first, then every check, then step-up, then the act.

    The step-up comes after the checks so a file with a problem does not use up a code.
    """
    from vetting.people.sessions import confirm_identity
    from vetting.services.procedures import approve_procedure

    _uploads(ctx)
    password = ctx.field("password", limit=1024)
    code = ctx.field("code", limit=20).strip()
    with tempfile.TemporaryDirectory(prefix="vet-web-procedure-") as tmp:
        checked = check_upload(ctx, Path(tmp))
        if checked.problems:
            return _show(ctx, checked, status=422)
        confirm_identity(ctx.ws, ctx.account, password, code, act="procedure.approve", now=ctx.clock)
        assert checked.path is not None
        version, _ = approve_procedure(ctx.ws, ctx.account, checked.path)
    return ctx.redirect(f"/procedures/{version.procedure_id}")


PAGES = [
    Page("/procedures", procedure_list, "procedure.list", name="procedures"),
    Page("/procedures/check", procedure_check, "procedure.list", methods=("POST",), name="procedure_check"),
    Page("/procedures/approve", procedure_approve, "procedure.approve", methods=("POST",), name="procedure_approve"),
    Page("/procedures/{procedure}", procedure_page, "procedure.list", name="procedure"),
]
