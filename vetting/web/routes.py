"""The route table, and the gate every request passes before its page's code runs.

Each :class:`Page` names the act of :data:`vetting.people.permissions.PERMISSIONS` it needs and,
for a page about one case, which path parameter names the case (directly, or through an item
or a decision). The gate, in this order:

1. nobody logged in: a GET is sent to the login page (303), anything else is refused (403);
2. a state-changing request without this session's CSRF token, or from another origin: 403;
3. the account's roles lack the act: 403 (``access.refused`` is recorded) — before anything
   says whether the named object exists;
4. the named case, item or decision does not exist: 404;
5. the case is out of the account's scope (not assigned to it, not released to it): 403;
6. the page runs; it calls the services, which check the same table again.

The statuses are the documented ones (docs/web.md), and ``tests/test_web_access.py`` walks
every route of this table for every role, on an own case, another case and an unknown id.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from vetting.errors import AccessRefused, UnknownName
from vetting.people.permissions import PERMISSIONS, authorize, authorize_role
from vetting.web.security import SAFE_METHODS, csrf_ok, origin_problem
from vetting.web.websession import Visitor, visitor

PUBLIC = "public"  # the login page, the static files: no session needed
SIGNED_IN = "signed in"  # any logged-in account (its home page, logout)

#: What a path parameter names, and how the gate finds its case.
TARGETS = ("case", "item", "decision")

#: Form limits: a page's form is small; an upload (a signed authorization, a procedure) is one file.
MAX_FIELDS = 200
MAX_FILES = 4
MAX_PART_BYTES = 16 * 1024 * 1024


class BadRequest(Exception):
    """A form that cannot be used: one message per problem (shown with status 400)."""

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else problems
        super().__init__("; ".join(self.problems))


@dataclass
class Ctx:
    """What a page's handler gets: the request's parts, already checked by the gate."""

    request: Request
    ws: Any
    visitor: Visitor
    params: dict[str, str]
    form: Any  # starlette FormData (POST) or None
    case_id: str | None = None
    clock: Any = None

    @property
    def account(self) -> Any:
        return self.visitor.account

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        env = self.request.app.state.templates
        text = env.get_template(template).render(me=self.account, csrf=self.visitor.csrf, request=self.request,
                                                 **values)
        return HTMLResponse(text, status_code=status)

    def field(self, name: str, *, required: bool = True, limit: int = 10_000) -> str:
        """One text field of the form, checked: present (if required), text, bounded."""
        value = self.form.get(name) if self.form is not None else None
        if value is None or not isinstance(value, str):
            if required:
                raise BadRequest(f"{name}: missing")
            return ""
        if len(value) > limit:
            raise BadRequest(f"{name}: longer than {limit:,} characters")
        if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
            raise BadRequest(f"{name}: control characters are not allowed")
        if required and not value.strip():
            raise BadRequest(f"{name}: empty")
        return value

    def redirect(self, url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)


@dataclass(frozen=True)
class Page:
    """One route: its path, methods, handler, the act it needs and what its path names."""

    path: str
    handler: Callable[[Ctx], Response]
    act: str  # a PERMISSIONS key, PUBLIC or SIGNED_IN
    methods: tuple[str, ...] = ("GET",)
    target: str | None = None  # one of TARGETS: the path parameter of that name names the object
    name: str = ""
    background: bool = False  # polled by the page itself (htmx): does not refresh the idle clock

    def __post_init__(self) -> None:
        if self.act not in (PUBLIC, SIGNED_IN) and self.act not in PERMISSIONS:
            raise ValueError(f"route {self.path}: unknown act {self.act!r}")
        if self.target is not None and self.target not in TARGETS:
            raise ValueError(f"route {self.path}: unknown target {self.target!r}")
        if self.target and not PERMISSIONS[self.act].per_case:
            raise ValueError(f"route {self.path}: {self.act} is not an act on a case")


def case_of(ws: Any, target: str, value: str) -> str | None:
    """The case a path parameter names (None when nothing of that id exists)."""
    from vetting.domain.models import Case, Decision, Item

    with ws.session() as s:
        if target == "case":
            return value if s.get(Case, value) is not None else None
        if target == "item":
            row = s.get(Item, value)
            return row.case_id if row is not None else None
        if not value.isdigit() or len(value) > 18:
            return None
        decision = s.get(Decision, int(value))
        return decision.case_id if decision is not None else None


def error_page(request: Request, status: int, title: str, problems: list[str], v: Visitor | None = None
               ) -> HTMLResponse:
    env = request.app.state.templates
    text = env.get_template("web/error.html").render(me=v.account if v else None, csrf=v.csrf if v else "",
                                                     request=request, title=title, problems=problems,
                                                     status=status)
    return HTMLResponse(text, status_code=status)


#: How many requests run their (synchronous) code at once; the others wait their turn.
#: Measured (bench/bench_web.py, 20 sessions browsing, 2 cores): the page code holds the
#: interpreter most of its time, and 40 threads (anyio's default) taking turns at it cost more
#: than the turns: 77 requests/s with 40, 91 with 8, 110 with 4, 117 with 2. Four leave room
#: for a request that waits (a login's password hash, a decision waiting for its case's lock).
PAGE_THREADS = int(os.environ.get("VETTING_WEB_THREADS", "4"))
_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


async def in_page_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread, at most :data:`PAGE_THREADS` at once (per event loop)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(PAGE_THREADS)
    return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)


def _gate(page: Page) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        clock = request.app.state.clock
        ws = request.app.state.ws
        v = await in_page_thread(visitor, request, clock, not page.background)
        state_changing = request.method not in SAFE_METHODS
        form = None
        if page.act != PUBLIC and v.account is None:
            if request.headers.get("hx-request") == "true":
                # htmx would follow a 303 and swap the login page into a fragment: send the whole
                # page to the login instead (HX-Redirect), whatever the request was
                return Response(status_code=200, headers={"hx-redirect": "/login"})
            if state_changing:
                return error_page(request, 403, "Not logged in", [v.why_not or "log in first"])
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        if state_changing:
            why = origin_problem(request.headers, request.app.state.origin)
            if why is not None:
                return error_page(request, 403, "Refused", [why], v)
            try:
                form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=MAX_PART_BYTES)
            except Exception as exc:  # noqa: BLE001 - a malformed body is the sender's problem
                return error_page(request, 400, "Bad request", [f"the form could not be read: {str(exc)[:200]}"], v)
            presented = request.headers.get("x-csrf-token") or form.get("csrf")
            if page.act != PUBLIC and not (isinstance(presented, str) and csrf_ok(v.token or "", presented)):
                return error_page(request, 403, "Refused", ["the form's CSRF token is missing or not this "
                                                            "session's: reload the page and try again"], v)
        ctx = Ctx(request=request, ws=ws, visitor=v, params=dict(request.path_params), form=form, clock=clock)
        try:
            return await in_page_thread(_checked, page, ctx)
        finally:
            if form is not None:
                await form.close()

    endpoint.__name__ = page.name or page.handler.__name__
    return endpoint


def _checked(page: Page, ctx: Ctx) -> Response:
    """Steps 3 to 6 of the gate, then the handler; the toolkit's errors become pages."""
    from vetting.domain.approvals import ApprovalError
    from vetting.domain.candidates import CandidateError
    from vetting.domain.yamlsource import InputError
    from vetting.people.accounts import AccountError
    from vetting.people.passwords import PasswordRuleError
    from vetting.people.sessions import LoginRefused, NotAuthenticated
    from vetting.review.validation import ValidationRefused
    from vetting.store.caselock import CaseBusy

    req, v = ctx.request, ctx.visitor
    try:
        if page.act not in (PUBLIC, SIGNED_IN):
            if page.target is None and PERMISSIONS[page.act].per_case:
                # A page listing what an act on cases applies to (the concurrence queue): the
                # role here; its service checks each case.
                authorize_role(ctx.ws, v.account, page.act)
            elif page.target is None:
                authorize(ctx.ws, v.account, page.act)
            else:
                value = ctx.params[page.target]
                authorize_role(ctx.ws, v.account, page.act, subject=value[:200])
                ctx.case_id = case_of(ctx.ws, page.target, value)
                if ctx.case_id is None:
                    return error_page(req, 404, "Not found", [f"no {page.target} {value[:80]!r}"], v)
                authorize(ctx.ws, v.account, page.act, ctx.case_id, subject=value[:200])
        return page.handler(ctx)
    except AccessRefused as exc:
        return error_page(req, 403, "Refused", [str(exc)], v)
    except UnknownName as exc:
        return error_page(req, 404, "Not found", [str(exc)], v)
    except BadRequest as exc:
        return error_page(req, 400, "This cannot be used", exc.problems, v)
    except InputError as exc:
        return error_page(req, 400, "This cannot be used", [str(p) for p in exc.problems], v)
    except CaseBusy as exc:
        return error_page(req, 409, "Busy", [str(exc)], v)
    except (ValidationRefused, LoginRefused) as exc:
        return error_page(req, 403, "Refused", [str(exc)], v)
    except NotAuthenticated as exc:
        return error_page(req, 403, "Not logged in", [str(exc)], v)
    except (ApprovalError, CandidateError, AccountError, PasswordRuleError) as exc:
        return error_page(req, 400, "This cannot be used", [str(exc)], v)


def starlette_routes(pages: list[Page]) -> list[Route]:
    seen: set[tuple[str, str]] = set()
    routes = []
    for page in pages:
        for m in page.methods:
            if (page.path, m) in seen:
                raise ValueError(f"route {m} {page.path} is declared twice")
            seen.add((page.path, m))
        routes.append(Route(page.path, _gate(page), methods=list(page.methods), name=page.name or None))
    return routes

