"""Oversight in the browser: concurrence, uniformity, the audit log's verification, and who
works on a case or reads its report.

- The concurrence queue lists every adverse finding in force awaiting a second person
  (:func:`vetting.services.review.concurrence_queue`); concurring asks for the password and a
  fresh code again (step-up), then the service applies the two-person rule on accounts.
- The uniformity page is the candidates x steps matrix of each approved procedure, with every
  deviation named (``vet uniformity``).
- The audit page verifies the whole log and re-hashes the evidence on every view (``vet audit
  verify``): green when everything verifies, red with every problem listed.
- A case's people page assigns it to an investigator and releases its findings report to a
  named hiring account, or revokes the release (``vet case assign``, ``vet report release``).
"""

from __future__ import annotations

from starlette.responses import Response

from vetting.web.routes import BadRequest, Ctx, Page


# -- concurrence ---------------------------------------------------------------------------------
def concurrences(ctx: Ctx, *, status: int = 200, problems: list[str] | None = None) -> Response:
    from vetting.services.review import concurrence_queue

    return ctx.render("web/concurrences.html", status=status, rows=concurrence_queue(ctx.ws, ctx.account),
                      problems=problems or [])


def concur(ctx: Ctx) -> Response:
    """Step-up (password and a fresh code), then the concurrence; the form is checked first."""
    from vetting.people.sessions import confirm_identity
    from vetting.review.validation import ValidationRefused
    from vetting.services.review import concur as record

    reason = ctx.field("reason", limit=5000).strip()
    password = ctx.field("password", limit=1024)
    code = ctx.field("code", limit=20).strip()
    decision = ctx.params["decision"]
    confirm_identity(ctx.ws, ctx.account, password, code, act="case.concur", now=ctx.clock)
    try:
        record(ctx.ws, ctx.account, int(decision), reason)
    except ValidationRefused as exc:  # superseded, already concurred, not adverse: say so on the queue
        return concurrences(ctx, status=422, problems=[str(exc)])
    return ctx.redirect("/concurrences")


# -- uniformity ----------------------------------------------------------------------------------
def uniformity(ctx: Ctx) -> Response:
    from vetting.services.procedures import check_uniformity, list_procedures

    ids = sorted({v.procedure_id for v in list_procedures(ctx.ws, ctx.account)})
    return ctx.render("web/uniformity.html", reports=[check_uniformity(ctx.ws, ctx.account, pid) for pid in ids])


# -- audit ---------------------------------------------------------------------------------------
def audit(ctx: Ctx) -> Response:
    from vetting.people.permissions import refusal
    from vetting.services.reports import verify_audit
    from vetting.store.custody import check_expected_key

    report, index = verify_audit(ctx.ws, ctx.account)
    key_problem, fingerprint = check_expected_key(ctx.ws, None)
    ok = report.ok and not index and not key_problem
    return ctx.render("web/audit.html", report=report, index=[str(p) for p in index], key_problem=key_problem,
                      fingerprint=fingerprint, ok=ok,
                      may_report=refusal(ctx.ws, ctx.account, "report.audit") is None)


# -- a case's people -----------------------------------------------------------------------------
def _accounts(ctx: Ctx, role: str) -> list:  # type: ignore[type-arg]
    from vetting.people.accounts import list_accounts
    from vetting.people.models import ACTIVE

    return [a for a in list_accounts(ctx.ws) if a.status == ACTIVE and a.has_role(role)]


def people(ctx: Ctx, *, status: int = 200, problems: list[str] | None = None) -> Response:
    """Who is assigned to the case and to whom its findings report is released, with the forms."""
    from sqlmodel import select

    from vetting.people.assignments import assignments
    from vetting.people.models import ReportRelease
    from vetting.people.permissions import refusal

    case_id = ctx.params["case"]
    with ctx.ws.session() as s:
        releases = list(s.exec(select(ReportRelease).where(ReportRelease.case_id == case_id)
                               .order_by(ReportRelease.id)))  # type: ignore[arg-type]
    return ctx.render("web/people.html", status=status, case_id=case_id, problems=problems or [],
                      assigned=assignments(ctx.ws, case_id), releases=releases,
                      investigators=_accounts(ctx, "investigator"), hiring=_accounts(ctx, "hiring"),
                      may_release=refusal(ctx.ws, ctx.account, "report.release", case_id) is None)


def _login(ctx: Ctx) -> str:
    login = ctx.field("login", limit=200).strip()
    if not login:
        raise BadRequest("login: empty")
    return login


def _act(ctx: Ctx, fn) -> Response:  # type: ignore[no-untyped-def]
    """Run a people act; a refusal of the account named (unknown, disabled, wrong role, already
    assigned) is shown on the page (400), nothing changed."""
    from vetting.people.accounts import AccountError

    login = _login(ctx)
    try:
        fn(ctx.ws, ctx.account, ctx.params["case"], login)
    except AccountError as exc:
        return people(ctx, status=400, problems=[str(exc)])
    return ctx.redirect(f"/cases/{ctx.params['case']}/people")


def assign(ctx: Ctx) -> Response:
    from vetting.services.cases import assign_case

    return _act(ctx, assign_case)


def unassign(ctx: Ctx) -> Response:
    from vetting.services.cases import unassign_case

    return _act(ctx, unassign_case)


def release(ctx: Ctx) -> Response:
    from vetting.services.reports import release_report

    return _act(ctx, release_report)


def revoke(ctx: Ctx) -> Response:
    from vetting.services.reports import revoke_release

    return _act(ctx, revoke_release)


PAGES = [
    Page("/concurrences", concurrences, "case.concur", name="concurrences"),
    Page("/decisions/{decision}/concur", concur, "case.concur", methods=("POST",), target="decision", name="concur"),
    Page("/uniformity", uniformity, "uniformity.check", name="uniformity"),
    Page("/audit", audit, "audit.verify", name="audit"),
    Page("/cases/{case}/people", people, "case.assign", target="case", name="case_people"),
    Page("/cases/{case}/assign", assign, "case.assign", methods=("POST",), target="case", name="case_assign"),
    Page("/cases/{case}/unassign", unassign, "case.unassign", methods=("POST",), target="case",
         name="case_unassign"),
    Page("/cases/{case}/release", release, "report.release", methods=("POST",), target="case", name="case_release"),
    Page("/cases/{case}/revoke", revoke, "report.revoke", methods=("POST",), target="case", name="case_revoke"),
]
