"""The Starlette application of ``vet web``: the route table, the templates, the static files.

One process serves one workspace. Handlers are plain functions run in Starlette's thread pool
(the database and the services are synchronous); the gate of :mod:`vetting.web.routes`
authenticates, checks CSRF and the origin, and authorizes each request before its handler.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from vetting.people.clock import Clock, system_clock
from vetting.web.routes import Page, starlette_routes
from vetting.web.security import SecurityHeaders

#: The page modules, each with a ``PAGES`` list (the route table is their union).
PAGE_MODULES = ("auth", "cases", "review", "candidates", "procedures", "oversight", "reports", "evidence")

STATIC_DIR = Path(__file__).parent / "static"


def all_pages() -> list[Page]:
    """The whole route table, in the order of :data:`PAGE_MODULES`."""
    pages: list[Page] = []
    for name in PAGE_MODULES:
        pages.extend(import_module(f"vetting.web.pages.{name}").PAGES)
    return pages


def templates() -> Environment:
    from vetting.domain.bundled import templates_dir
    from vetting.web import filters

    env = Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=select_autoescape(default=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    filters.install(env)
    return env


def create_app(ws: Any, *, origin: str = "http://127.0.0.1:8000", clock: Clock = system_clock) -> Starlette:
    """The application over an open workspace.

    ``origin`` is the scheme, host and port the browsers use (what their ``Origin`` header
    says); ``clock`` is the time the sessions expire by (a test's controlled clock).
    """
    app = Starlette(routes=[*starlette_routes(all_pages()),
                            Mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")])
    app.state.ws = ws
    app.state.origin = origin.rstrip("/")
    app.state.clock = clock
    app.state.templates = templates()
    app.state.runs = {}  # case id -> the case process this server started for it (vetting.web.pages.candidates)
    app.state.oidc_pending = {}  # state -> the OpenID Connect request awaiting its callback
    return SecurityHeaders(app)  # type: ignore[return-value]
