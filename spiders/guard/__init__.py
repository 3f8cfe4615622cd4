"""The lawful-collection guard: every request the toolkit makes passes these rules, or is refused.

DESIGN.md invariant 2 (policy 261-1 IV.B.8.b, public content only) in code. A request is
refused, with a short stable reason recorded to the ``VETTING_REQUEST_SINK``, when it:

* is not ``http``/``https``, not GET/HEAD (``method: POST not allowed``), carries a body
  (a form submission), credentials in the URL, a Cookie / Authorization header or cookies,
  a proxy, a User-Agent other than the procedure's honest one, or scripted browser actions
  that type, click or submit;
* goes to a denied domain, or outside a non-empty allow list (suffix match on whole labels);
* goes to an address the network profile forbids, in any encoding, after resolving the name
  (every address; ANY refused address refuses) in a worker thread so the reactor never waits
  on DNS (:mod:`spiders.addresses`). Redirect hops are new requests that pass here again;
* is disallowed by robots.txt per RFC 9309 (:class:`LawfulRobotsTxtMiddleware`: a 4xx
  robots.txt allows all, a 5xx or unreachable one disallows all);
* is answered by a login wall or a block/challenge page (:mod:`spiders.pagekind`): the page is
  flagged in ``response.meta['vetting_page_kind']``, recorded as ``not public`` / ``blocked``
  and never retried, so the collector records the verdict and nothing works around it;
* would exceed the size cap (also after decompression: gzip bombs), the time cap, or the
  redirect cap.

Reason codes (stable prefix, then detail) are those of ``docs/architecture.md``; see
``docs/lawful-collection.md`` for the full list and for what happens with hostile input.

Wiring: :func:`guard_settings` returns the Scrapy settings (middlewares, caps, TLS
verification, browser launch options) in one dict. The middlewares take plain values in ``__init__``
so they can be unit-tested without a crawler; ``from_crawler`` reads the settings.

The package, one role per module (every name is importable from ``spiders.guard``, and the
dotted paths in the settings, ``spiders.guard.LawfulGuardMiddleware`` and the like, resolve here):

* :mod:`spiders.guard.sink`: the request sink, the per-attempt record, :class:`GuardRefusal`;
* :mod:`spiders.guard.policy`: :class:`GuardPolicy` and the request-side decisions;
* :mod:`spiders.guard.middlewares`: the downloader middlewares (guard, wire, response,
  redirect, decompression);
* :mod:`spiders.guard.robots`: robots.txt (RFC 9309);
* :mod:`spiders.guard.reasons`: reason codes for download errors, :func:`record_failure`;
* :mod:`spiders.guard.browser`: the browser's requests, performed by the guarded fetcher or refused;
* :mod:`spiders.guard.resolver`: the connection's own name resolution (DNS rebinding);
* :mod:`spiders.guard.tls`: certificate and host-name verification;
* :mod:`spiders.guard.settings`: :func:`guard_settings`.
"""

from __future__ import annotations

from spiders.guard.browser import BrowserGate
from spiders.guard.middlewares import (
    LawfulGuardMiddleware,
    LawfulHttpCompressionMiddleware,
    LawfulRedirectMiddleware,
    LawfulResponseMiddleware,
    LawfulWireMiddleware,
)
from spiders.guard.policy import _ACTIVE as _ACTIVE
from spiders.guard.policy import ALLOWED_METHODS as ALLOWED_METHODS
from spiders.guard.policy import FORBIDDEN_HEADERS as FORBIDDEN_HEADERS
from spiders.guard.policy import INTERACTIVE_PAGE_METHODS as INTERACTIVE_PAGE_METHODS
from spiders.guard.policy import (
    GuardPolicy,
    clamp_caps,
    decide_request,
    domain_matches,
    static_refusal,
)
from spiders.guard.policy import normalise_domains as normalise_domains
from spiders.guard.reasons import exception_reason, failure_reason, record_failure
from spiders.guard.resolver import GuardedNameResolver, install_guarded_resolver
from spiders.guard.robots import ROBOTS_MAX_BYTES as ROBOTS_MAX_BYTES
from spiders.guard.robots import LawfulRobotsTxtMiddleware
from spiders.guard.robots import robots_token as robots_token
from spiders.guard.settings import DOWNLOADER_MIDDLEWARES, guard_settings
from spiders.guard.sink import PAGE_KIND_META, REASON_META, GuardRefusal, RequestSink, SinkRef, record
from spiders.guard.tls import CAFileTrustRoot as CAFileTrustRoot
from spiders.guard.tls import VerifyingContextFactory
from spiders.guard.tls import default_ca_file as default_ca_file

__all__ = [
    "DOWNLOADER_MIDDLEWARES",
    "PAGE_KIND_META",
    "REASON_META",
    "BrowserGate",
    "GuardPolicy",
    "GuardRefusal",
    "GuardedNameResolver",
    "LawfulGuardMiddleware",
    "LawfulHttpCompressionMiddleware",
    "LawfulRedirectMiddleware",
    "LawfulResponseMiddleware",
    "LawfulRobotsTxtMiddleware",
    "LawfulWireMiddleware",
    "RequestSink",
    "SinkRef",
    "VerifyingContextFactory",
    "clamp_caps",
    "decide_request",
    "domain_matches",
    "exception_reason",
    "failure_reason",
    "guard_settings",
    "install_guarded_resolver",
    "record",
    "record_failure",
    "static_refusal",
]
