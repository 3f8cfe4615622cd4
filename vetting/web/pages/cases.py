"""The case list, each case's page (its steps and items) and the live progress of its run.

Progress is read from the case's own records (its step runs and items), so what the page says
is what the database says: a run started from the browser, the CLI or a queue worker shows
alike. The progress fragment is polled by htmx every two seconds while the case is open.
"""

from __future__ import annotations

from starlette.responses import Response

from vetting.web.routes import Ctx, Page


def case_list(ctx: Ctx) -> Response:
    from vetting.services.cases import list_cases

    return ctx.render("web/cases.html", rows=list_cases(ctx.ws, ctx.account))


def _overview(ctx: Ctx):  # type: ignore[no-untyped-def]
    from vetting.services.cases import case_overview

    return case_overview(ctx.ws, ctx.account, ctx.params["case"])


def case_page(ctx: Ctx) -> Response:
    view = _overview(ctx)
    return ctx.render("web/case.html", view=view, awaiting=sum(1 for _, d in view.items if d is None))


def case_progress(ctx: Ctx) -> Response:
    """The steps table alone (htmx swaps it in); it stops polling once the case is not open."""
    view = _overview(ctx)
    return ctx.render("web/_progress.html", view=view)


PAGES = [
    Page("/cases", case_list, "case.list", name="cases"),
    Page("/cases/{case}", case_page, "case.review", target="case", name="case"),
    # polled every two seconds by an open case's page: a page left open is not a person at work
    Page("/cases/{case}/progress", case_progress, "case.review", target="case", name="case_progress",
         background=True),
]
