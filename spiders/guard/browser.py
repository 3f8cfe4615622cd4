"""The guard inside the browser (scrapy-playwright): the ``PLAYWRIGHT_ABORT_REQUEST`` hook for
the requests Playwright routes, and the proxy auto-config (PAC) and Chromium flags that apply
the profile and domain lists to the browser's own network (redirects it follows by itself)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from spiders.addresses import AddressError, decide_host, has_userinfo, parse_host
from spiders.guard.policy import _ACTIVE, ALLOWED_METHODS, _off_reactor, domain_matches, normalise_domains

# -- the browser (scrapy-playwright) -------------------------------------------------------------

async def playwright_abort_request(playwright_request: Any) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: the guard's rules for every request the browser makes.

    Subresources (images, scripts, XHR) of a rendered page are not Scrapy requests; this hook
    applies the method, scheme, domain and address rules to them too and records each one.
    Without an active guard policy every network request is aborted.
    """
    url: str = playwright_request.url
    method = str(playwright_request.method).upper()
    if url.startswith(("data:", "blob:", "about:")):
        return False
    active = _ACTIVE.policy
    if active is None:
        return True
    reason = ""
    if method not in ALLOWED_METHODS:
        reason = f"method: {method} not allowed"
    else:
        try:
            host = parse_host(url)
        except AddressError as exc:
            reason = exc.reason
        else:
            if has_userinfo(url):
                reason = "credentials: user info in URL not allowed"
            elif active.deny_domains and domain_matches(host.name, active.deny_domains):
                reason = "domain: denied"
            elif active.allow_domains and not domain_matches(host.name, active.allow_domains):
                reason = "domain: not in the allow list"
            else:
                reason = (await _off_reactor(decide_host, host, active.profile, active.resolver)).reason
    sink = _ACTIVE.sink
    if sink is not None and (reason or not _is_main_navigation(playwright_request)):
        # (an allowed main-frame navigation is the Scrapy request itself, recorded with its status)
        sink.record_request(url, method, not reason, reason or "browser: subresource", None)
    return bool(reason)


def _is_main_navigation(playwright_request: Any) -> bool:
    try:
        return bool(playwright_request.is_navigation_request()
                    and playwright_request.frame.parent_frame is None)
    except Exception:  # noqa: BLE001 - service-worker requests have no frame
        return False


# -- the browser's own network (PAC) --------------------------------------------------------------

#: Where the browser sends what it must not fetch: a proxy on the discard port, where nothing
#: listens, so the request fails without leaving the machine.
BLOCKING_PROXY = "PROXY 127.0.0.1:9"
_PAC_REFUSED = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "168.63.129.16/32",
    "::/127", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
    "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)
_PAC_TEMPLATE = """
var PROFILE = %(profile)s, ALLOW = %(allow)s, DENY = %(deny)s, REFUSED = %(refused)s;
var BLOCK = %(block)s;
function under(h, d) { return h == d || dnsDomainIs(h, "." + d); }
function FindProxyForURL(url, host) {
  host = host.toLowerCase();
  if (host.charAt(0) == "[") host = host.substring(1, host.length - 1);
  var i, j;
  for (i = 0; i < DENY.length; i++) if (under(host, DENY[i])) return BLOCK;
  if (ALLOW.length) {
    var ok = false;
    for (i = 0; i < ALLOW.length; i++) if (under(host, ALLOW[i])) ok = true;
    if (!ok) return BLOCK;
  }
  var literal = /^[0-9.]+$/.test(host) || host.indexOf(":") >= 0;
  var ips;
  if (host == "localhost" || dnsDomainIs(host, ".localhost")) ips = ["127.0.0.1"];
  else if (PROFILE == "loopback" && !literal) return BLOCK;
  else {
    var resolved = dnsResolveEx(host);
    if (!resolved) return BLOCK;
    ips = resolved.split(";");
  }
  for (i = 0; i < ips.length; i++) {
    var ip = ips[i];
    if (!ip) continue;
    if (PROFILE == "loopback") {
      if (!(isInNetEx(ip, "127.0.0.0/8") || isInNetEx(ip, "::1/128") || isInNetEx(ip, "::ffff:127.0.0.0/104")))
        return BLOCK;
    } else {
      for (j = 0; j < REFUSED.length; j++) if (isInNetEx(ip, REFUSED[j])) return BLOCK;
    }
  }
  return "DIRECT";
}
"""


def browser_pac(profile: str, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> str:
    """A proxy auto-config script applying the profile and domain lists inside Chromium.

    Chromium consults it for every request, including each hop of a redirect it follows by
    itself (which Playwright's routing, and so :func:`playwright_abort_request`, never sees).
    Refused requests go to :data:`BLOCKING_PROXY` and fail. Stricter than the Python side on
    IPv6 embeddings: all of 6to4, Teredo and NAT64 are refused.
    """
    import json

    return _PAC_TEMPLATE % {
        "profile": json.dumps(profile), "allow": json.dumps(list(normalise_domains(allow))),
        "deny": json.dumps(list(normalise_domains(deny))), "refused": json.dumps(list(_PAC_REFUSED)),
        "block": json.dumps(BLOCKING_PROXY),
    }


def browser_launch_args(profile: str, allow: Iterable[str] = (), deny: Iterable[str] = (),
                        user_agent: str = "") -> list[str]:
    """Chromium flags that route every browser request through :func:`browser_pac`
    (``<-loopback>`` removes Chromium's implicit proxy bypass for loopback, so the ``public``
    profile refuses 127.0.0.1 in the browser too), and give every request the procedure's
    User-Agent (scrapy-playwright sets it only on the requests it routes)."""
    import base64

    pac = base64.b64encode(browser_pac(profile, allow, deny).encode()).decode()
    args = [f"--proxy-pac-url=data:application/x-ns-proxy-autoconfig;base64,{pac}",
            "--proxy-bypass-list=<-loopback>"]
    if user_agent:
        args.append(f"--user-agent={user_agent}")
    return args
