"""Evidence files in the browser: a screenshot as an image, other files only as downloads.

Captured content never runs in the application's origin. A screenshot is served only when it
still hashes to its recorded sha256 and its bytes are a PNG or JPEG, as that image type, with
``nosniff`` and a sandboxing CSP (were it opened on its own, nothing in it could run or load).
Every other evidence file (the page's HTML, a WARC) is a download: ``Content-Disposition:
attachment``, ``application/octet-stream``, ``nosniff``, the same CSP. Damaged evidence is
refused with 409, never shown.
"""

from __future__ import annotations

import hashlib

from starlette.responses import Response

from vetting.web.routes import Ctx, Page
from vetting.web.security import SANDBOX_CSP

IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


def _artifact(ctx: Ctx, kind: str | None):  # type: ignore[no-untyped-def]
    from vetting.store.lookup import require_item

    item = require_item(ctx.ws, ctx.params["item"])
    arts = item.artifacts()
    if kind is not None:
        arts = [a for a in arts if a["kind"] == kind]
        return item, (arts[0] if arts else None)
    n = ctx.params["n"]
    index = int(n) if n.isdigit() and len(n) < 6 else -1
    return item, (arts[index] if 0 <= index < len(arts) else None)


def _verified(ctx: Ctx, art: dict) -> bytes | None:
    try:
        data = ctx.ws.read_evidence(art["path"], art["sha256"])
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == art["sha256"] else None


def _headers(disposition: str) -> dict[str, str]:
    return {"content-security-policy": SANDBOX_CSP, "x-content-type-options": "nosniff",
            "content-disposition": disposition, "cross-origin-resource-policy": "same-origin",
            "cache-control": "private, no-store"}


def screenshot(ctx: Ctx) -> Response:
    from vetting.web.routes import error_page

    item, art = _artifact(ctx, "screenshot")
    if art is None:
        return error_page(ctx.request, 404, "Not found", [f"item {item.id} has no screenshot"], ctx.visitor)
    data = _verified(ctx, art)
    if data is None:
        return error_page(ctx.request, 409, "Damaged evidence", [f"the screenshot of {item.id} no longer matches "
                                                                  "its recorded hash: it is not shown"], ctx.visitor)
    media = next((t for magic, t in IMAGE_TYPES if data.startswith(magic)), None)
    if media is None:
        return error_page(ctx.request, 409, "Not an image", [f"the screenshot of {item.id} is not a PNG or JPEG "
                                                              "file: it is not shown"], ctx.visitor)
    return Response(data, media_type=media, headers=_headers(f'inline; filename="{item.id}-screenshot"'))


def download(ctx: Ctx) -> Response:
    from vetting.web.routes import error_page

    item, art = _artifact(ctx, None)
    if art is None:
        return error_page(ctx.request, 404, "Not found",
                          [f"item {item.id} has no evidence file {ctx.params['n'][:20]}"], ctx.visitor)
    data = _verified(ctx, art)
    if data is None:
        return error_page(ctx.request, 409, "Damaged evidence", [f"{art['path']} no longer matches its recorded "
                                                                  "hash: it is not served"], ctx.visitor)
    name = f"{item.id}-{ctx.params['n']}-{art['kind']}.bin"
    return Response(data, media_type="application/octet-stream",
                    headers=_headers(f'attachment; filename="{name}"'))


PAGES = [
    Page("/items/{item}/screenshot", screenshot, "case.review", target="item", name="screenshot"),
    Page("/items/{item}/evidence/{n}", download, "evidence.export", target="item", name="evidence_download"),
]
