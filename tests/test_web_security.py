"""CSRF, the Origin check, the response headers and captured content (vetting/web/security.py,
pages/evidence.py, the templates), tried from the outside.

A decision is the state change used throughout: each refused request must leave the
decision table as it was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from web_fixtures import ORIGIN, WebSite, web_site

from vetting.domain.models import Decision, Item
from vetting.web.security import CSP, SANDBOX_CSP

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "web"


@pytest.fixture
def site(tmp_path) -> WebSite:  # type: ignore[no-untyped-def]
    return web_site(tmp_path)


def decisions(site: WebSite) -> int:
    from sqlmodel import select

    with site.ws.session() as s:
        return len(list(s.exec(select(Decision))))


def decide(site: WebSite, client, **overrides):  # type: ignore[no-untyped-def]
    data = {"decision": "rejected", "reason": "not her"}
    headers = {"origin": ORIGIN}
    data.update({k: v for k, v in overrides.items() if k in ("csrf",)})
    headers.update(overrides.get("headers", {}))
    return client.post(f"/items/{site.item}/decision", data=data, headers=headers)


def test_a_decision_with_the_token_is_recorded(site: WebSite) -> None:
    client = site.browser("sortiz")
    response = decide(site, client, csrf=site.csrf(client))
    assert response.status_code == 303 and decisions(site) == 1


@pytest.mark.parametrize("how", ["no token", "another session's token", "a made-up token", "foreign origin",
                                 "cross-site fetch", "null origin"])
def test_csrf_and_foreign_origin_are_refused(site: WebSite, how: str) -> None:
    client = site.browser("sortiz")
    token = site.csrf(client)
    other = site.csrf(site.browser("kosei"))
    kwargs: dict = {"csrf": token}
    if how == "no token":
        kwargs = {}
    elif how == "another session's token":
        kwargs = {"csrf": other}
    elif how == "a made-up token":
        kwargs = {"csrf": "0" * 64}
    elif how == "foreign origin":
        kwargs["headers"] = {"origin": "https://evil.example"}
    elif how == "cross-site fetch":
        kwargs["headers"] = {"origin": ORIGIN, "sec-fetch-site": "cross-site"}
    elif how == "null origin":
        kwargs["headers"] = {"origin": "null"}
    response = decide(site, client, **kwargs)
    assert response.status_code == 403, how
    assert decisions(site) == 0


def test_the_htmx_header_carries_the_token(site: WebSite) -> None:
    client = site.browser("sortiz")
    token = site.csrf(client)
    page = client.get("/cases")
    assert f'hx-headers=\'{{"X-CSRF-Token": "{token}"}}\'' in page.text
    response = client.post(f"/items/{site.item}/decision", data={"decision": "rejected", "reason": "not her account"},
                           headers={"origin": ORIGIN, "x-csrf-token": token})
    assert response.status_code == 303 and decisions(site) == 1


def test_every_page_carries_the_strict_csp(site: WebSite) -> None:
    client = site.browser("sortiz")
    for path in ("/", "/cases", f"/cases/{site.case}", f"/items/{site.item}", "/login", "/no-such-page"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "script-src 'self'" in CSP


def test_templates_hold_no_inline_script_style_or_handler() -> None:
    """The CSP would block them; the templates must not need them."""
    for path in TEMPLATES.glob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{path.name}: inline script"
        assert "<style" not in text and not re.search(r"\sstyle=", text), f"{path.name}: inline style"
        assert not re.search(r"\son[a-z]+=", text), f"{path.name}: an event handler attribute"
        assert "|safe" not in text.replace(" ", "") and "Markup(" not in text, f"{path.name}: unescaped output"


def hostile_item(site: WebSite) -> str:
    from case_fixtures import add_item

    from vetting.engine.steps import CasePlan  # noqa: F401 - the plan type of the fixture
    from vetting.store.lookup import require_case

    class B:  # what add_item needs: the workspace and the case's plan
        ws = site.ws
        plan = type("P", (), {"case": require_case(site.ws, site.case)})

    title = '<script>alert("t")</script><img src=x onerror=alert(1)>'
    item = add_item(B, "hostile", '"><script>alert(document.cookie)</script><iframe src="https://evil.example">',
                    title=title)
    with site.ws.session() as s:
        row = s.get(Item, item.id)
        row.url = row.final_url = 'javascript:alert(1)//"><b>x</b>'
        s.add(row)
        s.commit()
    return item.id


def test_captured_content_is_escaped_never_live(site: WebSite) -> None:
    item = hostile_item(site)
    client = site.browser("sortiz")
    for path in (f"/items/{item}", f"/cases/{site.case}"):
        text = client.get(path).text
        assert "<script>alert" not in text and "<img src=x" not in text and "<iframe" not in text, path
        assert 'href="javascript:' not in text and "<b>x</b>" not in text
        assert "&lt;b&gt;x&lt;/b&gt;" in text, path  # the address, shown as text
    assert "&lt;script&gt;alert(&#34;t&#34;)&lt;/script&gt;" in client.get(f"/items/{item}").text  # the title


def test_the_screenshot_is_an_image_with_a_sandbox(site: WebSite) -> None:
    client = site.browser("sortiz")
    response = client.get(f"/items/{site.item}/screenshot")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["content-security-policy"] == SANDBOX_CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_evidence_downloads_are_attachments(site: WebSite) -> None:
    client = site.browser("sortiz")
    response = client.get(f"/items/{site.item}/evidence/0")  # the page's HTML
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-security-policy"] == SANDBOX_CSP


def _screenshot_file(site: WebSite) -> Path:
    with site.ws.session() as s:
        arts = json.loads(s.get(Item, site.item).artifacts_json)  # type: ignore[union-attr]
    return site.ws.evidence_path(next(a for a in arts if a["kind"] == "screenshot")["path"])


def test_a_damaged_screenshot_is_not_shown(site: WebSite) -> None:
    path = _screenshot_file(site)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    client = site.browser("sortiz")
    response = client.get(f"/items/{site.item}/screenshot")
    assert response.status_code == 409 and "no longer matches" in response.text
    assert "Damaged evidence" in client.get(f"/items/{site.item}").text


def test_bad_form_input_is_a_clear_400(site: WebSite) -> None:
    client = site.browser("sortiz")
    token = site.csrf(client)
    for data, words in (({"decision": "maybe", "reason": "x"}, "decision"),
                        ({"decision": "rejected", "reason": "a\x00b"}, "control characters"),
                        ({"decision": "rejected", "reason": "x" * 20_000}, "longer than"),
                        ({"decision": "rejected", "reason": "x", "supersedes": "one"}, "supersedes")):
        response = client.post(f"/items/{site.item}/decision", data={"csrf": token, **data},
                               headers={"origin": ORIGIN})
        assert response.status_code == 400 and words in response.text, (data, response.text[-500:])
    assert decisions(site) == 0


@pytest.mark.parametrize("value", ["%00", "A" * 20_000, "%E2%80%AEevil", "..%2F..%2Fetc%2Fpasswd", "%ff%fe",
                                   "1%20OR%201=1", "<script>"])
def test_hostile_ids_in_the_path_are_404_never_500(site: WebSite, value: str) -> None:
    client = site.browser("amoreno")  # a supervisor: any case, so existence is what is checked
    for path in (f"/cases/{value}", f"/items/{value}", f"/items/{value}/screenshot", f"/cases/{value}/progress"):
        response = client.get(path)
        assert response.status_code == 404, (path[:80], response.status_code)
        assert "<script>" not in response.text


def test_malformed_and_oversized_bodies_are_400(site: WebSite) -> None:
    client = site.browser("sortiz")
    token = site.csrf(client)
    path = f"/items/{site.item}/decision"
    headers = {"origin": ORIGIN, "x-csrf-token": token}
    broken = client.post(path, content=b"--xx\r\nnot a part", headers={
        **headers, "content-type": "multipart/form-data; boundary=xx"})
    assert broken.status_code in (400, 422) and "Traceback" not in broken.text
    many = client.post(path, data={f"f{i}": "x" for i in range(500)} | {"csrf": token}, headers=headers)
    assert many.status_code == 400
    assert decisions(site) == 0
