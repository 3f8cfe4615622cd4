"""The review page of one item, and the decision on it.

The page shows what the investigator needs to decide, never the captured page itself: the
screenshot (an image), the text (escaped), the identity evidence and the leads, how the page
was reached, whether its stored evidence still verifies, and every earlier decision. The
decision form has keyboard shortcuts (``static/app.js``): v, r, u pick the decision; j and k
go to the next and previous item awaiting a decision.
"""

from __future__ import annotations

import json

from starlette.responses import Response

from vetting.web.routes import BadRequest, Ctx, Page


def _neighbours(ctx: Ctx, item_id: str, case_id: str) -> tuple[str | None, str | None]:
    """The previous and next items of the case awaiting a decision (for j and k)."""
    from vetting.review.validation import awaiting_flags

    pending = [other for other, awaits in awaiting_flags(ctx.ws, case_id) if awaits or other == item_id]
    if item_id not in pending:
        return None, None
    i = pending.index(item_id)
    return (pending[i - 1] if i > 0 else None), (pending[i + 1] if i + 1 < len(pending) else None)


#: (workspace id, procedure fingerprint) -> the procedure's review categories, for the form.
_CATEGORIES: dict[tuple[str, str], list] = {}


def _categories(ctx: Ctx, case_id: str):  # type: ignore[no-untyped-def]
    """The review categories of the case's approved procedure, for the decision form.

    Parsing and re-validating the frozen procedure took two thirds of every review page
    (bench/bench_web.py), so it is done once per fingerprint in this process: a fingerprint
    names one content for ever. The form only lists the categories; recording the decision
    loads the approved procedure again and re-checks its frozen files (the service's rule).
    """
    from vetting.domain.approvals import load_approved
    from vetting.store.lookup import require_case

    case = require_case(ctx.ws, case_id)
    key = (ctx.ws.id, case.fingerprint)
    if key not in _CATEGORIES:
        _, loaded = load_approved(ctx.ws, case.procedure_id, case.fingerprint)
        _CATEGORIES[key] = list(loaded.procedure.categories)
    return _CATEGORIES[key]


def item_page(ctx: Ctx, *, status: int = 200, problems: list[str] | None = None) -> Response:
    from vetting.people.permissions import refusal
    from vetting.services.review import item_review

    view = item_review(ctx.ws, ctx.account, ctx.params["item"])
    item, a = view.entry.item, view.entry.assessment
    previous, following = _neighbours(ctx, item.id, item.case_id)
    shots = [x for x in item.artifacts() if x["kind"] == "screenshot"]
    may_decide = refusal(ctx.ws, ctx.account, "case.decide", item.case_id) is None
    return ctx.render("web/item.html", status=status, view=view, item=item, a=a,
                      matches=json.loads(a.matches_json) if a else [],
                      contradictions=json.loads(a.contradictions_json) if a else [],
                      flags=json.loads(a.flags_json) if a else [],
                      screenshot=bool(shots), previous=previous, following=following,
                      may_decide=may_decide, categories=_categories(ctx, item.case_id) if may_decide else [],
                      problems=problems or [])


def decide(ctx: Ctx) -> Response:
    from vetting.review.validation import DECISIONS, DecisionRequest, ValidationRefused
    from vetting.services.review import decide as record

    decision = ctx.field("decision", limit=40)
    if decision not in DECISIONS:
        raise BadRequest(f"decision: one of {', '.join(DECISIONS)}")
    supersedes = ctx.field("supersedes", required=False, limit=18).strip()
    if supersedes and not supersedes.isdigit():
        raise BadRequest("supersedes: a decision number")
    findings = tuple(v for v in ctx.form.getlist("finding") if isinstance(v, str))
    if len(findings) > 50:
        raise BadRequest("finding: too many")
    request = DecisionRequest(item_id=ctx.params["item"], decision=decision, reason=ctx.field("reason"),
                              by=ctx.account.actor, findings=findings,
                              discredit=ctx.field("discredit", required=False),
                              mitigating=ctx.field("mitigating", required=False),
                              supersedes=int(supersedes) if supersedes else None)
    try:
        record(ctx.ws, ctx.account, request)
    except ValidationRefused as exc:
        return item_page(ctx, status=422, problems=[str(exc)])
    _, following = _neighbours(ctx, ctx.params["item"], ctx.case_id or "")
    return ctx.redirect(f"/items/{following}" if following else f"/cases/{ctx.case_id}")


PAGES = [
    Page("/items/{item}", item_page, "case.review", target="item", name="item"),
    Page("/items/{item}/decision", decide, "case.decide", methods=("POST",), target="item", name="decide"),
]
