"""The candidates: the list with their cases, adding one with the signed authorization, running one.

Adding takes the same fields as ``vet candidate add`` and checks them the same way (the
:class:`~vetting.domain.candidates.CandidateInput` model, then the service): a form that
cannot be used is shown again with each problem beside its field, status 400, and nothing
is stored. The signed authorization is uploaded as a file; it is written to a private
temporary file only so the service can read it as it reads one from the investigator's disk
(one document check for both doors), and the service stores it as evidence.

Running starts the case and returns at once: the run goes on in a process of its own (or on
the queue's workers) and the case page follows it from the case's records. The run form names
the candidate and the procedure as fields (the gate's targets are cases, items and decisions;
a case that does not exist yet is opened by the run), so the service checks who may open or
resume the case.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from starlette.responses import Response

from vetting.web.routes import BadRequest, Ctx, Page

#: The text fields of the form: name -> (CandidateInput field, one value per line?).
TEXT_FIELDS = {"full_name": False, "id": False, "date_of_birth": False, "city": False, "state": False,
               "aliases": True, "emails": True, "phones": True, "usernames": True, "profile_urls": True}
#: What the form calls each field (problems are shown by these names, beside the field).
LABELS = {"full_name": "Full legal name", "id": "Candidate id (default: from the name)",
          "date_of_birth": "Date of birth (YYYY-MM-DD)", "city": "City", "state": "State",
          "aliases": "Other names used (one a line)", "emails": "E-mail addresses (one a line)",
          "phones": "Phone numbers (one a line)", "usernames": "Disclosed usernames or handles (one a line)",
          "profile_urls": "Disclosed profile URLs (one a line)",
          "authorization": "Signed authorization (PDF or picture)", "signed_on": "Date it was signed (YYYY-MM-DD)"}
LIST_FIELDS = [name for name, multi in TEXT_FIELDS.items() if multi]
SOURCE = "web form"


def _may(ctx: Ctx, act: str) -> bool:
    """Whether the account's roles allow ``act`` (for an act on cases: on some case)."""
    from vetting.people.permissions import PERMISSIONS, refusal

    return refusal(ctx.ws, ctx.account, act, role_only=PERMISSIONS[act].per_case) is None


def _listing(ctx: Ctx) -> list[tuple[Any, str, list[Any]]]:
    """(candidate, name, their cases) for every candidate, in id order."""
    from vetting.domain.candidates import candidate_name
    from vetting.services.candidates import list_candidates
    from vetting.services.cases import list_cases

    by_candidate: dict[str, list[Any]] = {}
    if _may(ctx, "case.list"):
        for row in list_cases(ctx.ws, ctx.account):
            by_candidate.setdefault(row.case.candidate_id, []).append(row)
    return [(c, candidate_name(ctx.ws, c), by_candidate.get(c.id, [])) for c in list_candidates(ctx.ws, ctx.account)]


def _procedures(ctx: Ctx) -> list[str]:
    from vetting.services.procedures import list_procedures

    if not _may(ctx, "procedure.list"):
        return []
    return sorted({v.procedure_id for v in list_procedures(ctx.ws, ctx.account)})


def page(ctx: Ctx, *, status: int = 200, problems: dict[str, list[str]] | None = None,
         values: dict[str, str] | None = None, added: str = "") -> Response:
    return ctx.render("web/candidates.html", status=status, rows=_listing(ctx), labels=LABELS,
                      problems=problems or {}, values=values or {}, added=added,
                      may_add=_may(ctx, "candidate.add"), may_run=_may(ctx, "case.open") or _may(ctx, "case.run"),
                      procedures=_procedures(ctx))


def candidate_list(ctx: Ctx) -> Response:
    added = ctx.request.query_params.get("added", "")
    return page(ctx, added=added[:64] if added.replace("-", "").replace(".", "").replace("_", "").isalnum() else "")


# -- adding ----------------------------------------------------------------------------------
def _form_values(ctx: Ctx) -> dict[str, str]:
    """The text fields as typed (bounded, no control characters); absent ones are empty."""
    values = {name: ctx.field(name, required=False, limit=20_000 if TEXT_FIELDS[name] else 300)
              for name in TEXT_FIELDS}
    values["signed_on"] = ctx.field("signed_on", required=False, limit=40)
    return values


def _candidate_input(values: dict[str, str]) -> Any:
    """The typed fields as a :class:`CandidateInput`, checked like ``vet candidate add``'s flags."""
    from vetting.domain.candidates import CandidateInput
    from vetting.domain.yamlsource import LocatedDocument, validate_model

    raw: dict[str, Any] = {name: (value.strip() or None) for name, value in values.items()
                           if not TEXT_FIELDS.get(name, True)}
    raw.update({name: [line.strip() for line in values[name].splitlines() if line.strip()] for name in LIST_FIELDS})
    raw["full_name"] = values["full_name"].strip()
    raw["authorization"] = {"file": "authorization", "signed_on": values["signed_on"].strip() or None}
    return validate_model(CandidateInput, LocatedDocument(SOURCE, raw))


def _by_field(problems: list[Any]) -> dict[str, list[str]]:
    """Problems keyed by the form's field they concern (``emails.2`` is the ``emails`` field)."""
    out: dict[str, list[str]] = {}
    for p in problems:
        name = str(getattr(p, "field", "") or "")
        head = name.split(".", 1)[0]
        if head == "authorization":
            head = "signed_on" if name.endswith("signed_on") else "authorization"
        if head not in LABELS:
            head = "form"
        out.setdefault(head, []).append(getattr(p, "message", str(p)))
    return out


def _upload(ctx: Ctx) -> Any:
    upload = ctx.form.get("authorization") if ctx.form is not None else None
    if upload is None or isinstance(upload, str) or not getattr(upload, "filename", None):
        return None
    return upload


def add(ctx: Ctx) -> Response:
    from vetting.domain.yamlsource import InputError
    from vetting.services.candidates import add_candidate

    if ctx.form is None or not any(isinstance(ctx.form.get(n), str) and ctx.form.get(n) for n in TEXT_FIELDS):
        raise BadRequest("full_name: missing (the form is empty)")
    values = _form_values(ctx)
    problems: dict[str, list[str]] = {}
    if not values["full_name"].strip():
        problems["full_name"] = ["give the candidate's full legal name"]
    upload = _upload(ctx)
    if upload is None:
        problems.setdefault("authorization", []).append("upload the signed authorization: no search without one")
    if not values["signed_on"].strip():
        problems.setdefault("signed_on", []).append("the date the candidate signed the authorization")
    cand = None
    try:
        cand = _candidate_input(values)
    except InputError as exc:
        for name, messages in _by_field(exc.problems).items():
            problems.setdefault(name, []).extend(messages)
    if problems or cand is None:
        return page(ctx, status=400, problems=problems, values=values)
    with tempfile.TemporaryDirectory(prefix="vet-upload-") as folder:
        path = Path(folder) / "authorization"
        with open(path, "wb") as out:  # the folder is private (mkdtemp: 0700)
            out.write(upload.file.read())  # bounded by the gate (MAX_PART_BYTES)
        try:
            row = add_candidate(ctx.ws, ctx.account, cand, path, source=SOURCE)
        except InputError as exc:
            return page(ctx, status=400, problems=_by_field(exc.problems), values=values)
    return ctx.redirect(f"/candidates?added={row.id}")


# -- running ---------------------------------------------------------------------------------
def _reap(process: Any) -> None:
    """Wait for the case process in a daemon thread, so its end leaves no zombie behind while
    this server lives (it does not keep the server alive, and the process outlives the server)."""
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()


def run(ctx: Ctx) -> Response:
    from vetting.engine.steps import RunError
    from vetting.queue.child import CaseProcessRefused
    from vetting.services.cases import start_case
    from vetting.store.caselock import CaseBusy
    from vetting.web.routes import error_page

    candidate = ctx.field("candidate", limit=64).strip()
    procedure = ctx.field("procedure", limit=200).strip()
    try:
        started = start_case(ctx.ws, ctx.account, candidate, procedure)
    except RunError as exc:
        raise BadRequest(str(exc)) from None
    except CaseProcessRefused as exc:
        return error_page(ctx.request, 500, "The run could not start", [str(exc)], ctx.visitor)
    except CaseBusy as exc:  # said for a browser: the CLI's advice (--wait) does not apply here
        why = str(exc).split("; wait for it")[0]
        return error_page(ctx.request, 409, "Already running",
                          [f"{why}. The case is already being run: its case page shows its progress."], ctx.visitor)
    if started.process is not None:
        ctx.request.app.state.runs[started.case_id] = started.process
        _reap(started.process)
    return ctx.redirect(f"/cases/{started.case_id}")


PAGES = [
    Page("/candidates", candidate_list, "candidate.list", name="candidates"),
    Page("/candidates", add, "candidate.add", methods=("POST",), name="candidate_add"),
    Page("/candidates/run", run, "case.open", methods=("POST",), name="candidate_run"),
]
