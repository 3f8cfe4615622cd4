"""Where a URL really goes, and whether the procedure's network profile lets us go there.

Policy 261-1 IV.B.8.b and DESIGN.md invariant 2 allow public content only: the toolkit must
never be turned into a probe of the agency's own network, of a cloud provider's metadata
service (which hands out credentials), or of the machine it runs on. An attacker who controls a
page the toolkit visits controls the URLs it is asked to follow, so the host of every URL is
read the way the operating system will read it, not the way it looks:

* ``127.1``, ``2130706433``, ``0x7f000001``, ``0177.0.0.1`` are all 127.0.0.1 to ``inet_aton``
  and ``getaddrinfo`` (which Twisted calls for anything that is not a dotted quad);
* ``[::ffff:127.0.0.1]``, 6to4 ``2002:7f00:1::``, NAT64 ``64:ff9b::7f00:1`` and Teredo carry an
  IPv4 address inside an IPv6 one;
* ``localhost`` and every ``*.localhost`` name are loopback by RFC 6761, trailing dots and
  IPv6 zone ids (``%25eth0``) change nothing, and ``http://public.example@10.0.0.1/`` goes to
  10.0.0.1;
* a name is resolved (every address ``getaddrinfo`` returns) and refused if ANY of them is.

Everything here is a pure decision over strings and :mod:`ipaddress` objects except
:class:`Resolver`, which calls ``getaddrinfo``; tests inject their own resolver so that the
refusal of private and metadata addresses is checked without opening a socket.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

PROFILES = ("public", "loopback")
ALLOWED_SCHEMES = ("http", "https")

#: Addresses of cloud metadata / instance services. Several are inside ranges refused anyway;
#: they are named so the audit trail says *metadata*, and 168.63.129.16 (Azure's wire server)
#: is a globally routable address that only this list refuses.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",   # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle
    "169.254.170.2",     # AWS ECS task metadata
    "169.254.169.123",   # AWS time sync
    "169.254.169.253",   # AWS DNS
    "100.100.100.200",   # Alibaba Cloud
    "168.63.129.16",     # Azure wire server
    "192.0.0.192",       # Oracle Cloud (legacy)
    "fd00:ec2::254",     # AWS IPv6 metadata
    "fd00:ec2::23",      # AWS IPv6 DNS
))
#: Names that point at a metadata service whatever DNS says.
METADATA_HOSTNAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata",
                                "instance-data", "instance-data.ec2.internal"})

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network
LOOPBACK_V4 = _V4("127.0.0.0/8")
LOOPBACK_V6 = ipaddress.IPv6Address("::1")
CGNAT = _V4("100.64.0.0/10")
PRIVATE_NETS = (_V4("10.0.0.0/8"), _V4("172.16.0.0/12"), _V4("192.168.0.0/16"), _V6("fc00::/7"))
LINK_LOCAL_NETS = (_V4("169.254.0.0/16"), _V6("fe80::/10"))
SITE_LOCAL_V6 = _V6("fec0::/10")  # deprecated, still routed inside some networks
NAT64_NETS = (_V6("64:ff9b::/96"), _V6("64:ff9b:1::/48"))
IPV4_TRANSLATED = _V6("::ffff:0:0:0/96")  # SIIT, ::ffff:0:a.b.c.d
IPV4_COMPATIBLE = _V6("::/96")  # deprecated ::a.b.c.d


class AddressError(ValueError):
    """A URL whose destination cannot be determined safely (malformed host, bad scheme...)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Classification:
    """What kind of address an IP is; ``category`` is ``public`` for ordinary internet hosts."""

    ip: IPAddress
    category: str  # public | loopback | private | link-local | metadata | cgnat | multicast | reserved | unspecified
    via: str = ""  # how an embedded IPv4 address was found (``IPv4-mapped``, ``6to4``, ...)
    embedded: IPAddress | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str  # "" when allowed; otherwise a stable code + detail, e.g. "address: 10.0.0.1 is private"


ALLOWED = Decision(True, "")


# -- host parsing ------------------------------------------------------------------------------

_NUM_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")


def parse_ipv4_like(host: str) -> ipaddress.IPv4Address | None:
    """Parse ``host`` as ``inet_aton`` does (1 to 4 parts, decimal / 0x hex / 0-octal).

    Returns None when the host is not numeric at all (a name). Raises :class:`AddressError`
    when it looks numeric (the last label is a number, as WHATWG URL parsing decides) but is
    not a valid address: such a host would be sent to DNS, and nothing good comes from that.
    """
    labels = host.split(".")
    if not labels or not _NUM_PART.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUM_PART.match(p) for p in labels):
        raise AddressError(f"address: malformed numeric host {host!r}")
    values: list[int] = []
    for part in labels:
        if part[:2].lower() == "0x":
            if len(part) == 2:
                raise AddressError(f"address: malformed numeric host {host!r}")
            values.append(int(part, 16))
        elif len(part) > 1 and part.startswith("0"):
            if not re.fullmatch(r"[0-7]+", part):
                raise AddressError(f"address: malformed numeric host {host!r}")
            values.append(int(part, 8))
        else:
            values.append(int(part, 10))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        raise AddressError(f"address: malformed numeric host {host!r}")
    number = 0
    for v in head:
        number = number * 256 + v
    number = number * 256 ** (5 - len(values)) + last
    return ipaddress.IPv4Address(number)


@dataclass(frozen=True)
class Host:
    """The destination of a URL as the network stack will see it."""

    name: str  # normalised host (lowercase, no brackets, no trailing dot, no zone id)
    ip: IPAddress | None  # set when the host is an address literal in any encoding
    port: int
    scheme: str


def normalise_host(raw: str) -> str:
    """Lowercase, NFKC-fold (fullwidth digits are digits to IDNA), IDNA-encode, drop one trailing dot."""
    host = unicodedata.normalize("NFKC", raw).strip().lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if not host:
        raise AddressError("address: empty host")
    if any(ord(c) > 127 for c in host):
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise AddressError(f"address: malformed host {raw!r}") from exc
    return host


def parse_host(url: str) -> Host:
    """Read the scheme, host and port of ``url`` as Twisted and the OS will.

    Raises :class:`AddressError` for anything ambiguous: non-http(s) schemes, backslashes or
    whitespace in the authority (read differently by browsers and by ``urllib``), percent
    signs in a host name, ports out of range.
    """
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise AddressError("address: control character or space in URL")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise AddressError(f"address: malformed URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise AddressError(f"scheme: {scheme or 'none'} not allowed")
    netloc = parts.netloc
    if "\\" in url.split("?", 1)[0].split("#", 1)[0]:
        # Browsers (WHATWG) read "\\" as "/", urllib does not: the two would disagree on the host.
        raise AddressError("address: backslash in URL")
    hostport = netloc.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise AddressError("address: unterminated IPv6 literal")
        literal = hostport[1:end]
        rest = hostport[end + 1:]
        zone_free = re.split(r"%(25)?", literal, maxsplit=1)[0]
        try:
            ip: IPAddress | None = ipaddress.IPv6Address(zone_free)
        except ValueError as exc:
            raise AddressError(f"address: malformed IPv6 literal {literal!r}") from exc
        name = str(ip)
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise AddressError("address: junk after IPv6 literal")
    else:
        host_text, _, port_text = hostport.partition(":")
        if "%" in host_text:
            raise AddressError(f"address: percent-encoded host {host_text!r}")
        name = normalise_host(host_text)
        if ":" in port_text:
            raise AddressError("address: malformed port")
        ip = parse_ipv4_like(name)
        if ip is not None:
            name = str(ip)
        elif ":" in name:
            raise AddressError("address: malformed host")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise AddressError(f"address: malformed port {port_text!r}")
        port = int(port_text)
    else:
        port = 443 if scheme == "https" else 80
    return Host(name=name, ip=ip, port=port, scheme=scheme)


def has_userinfo(url: str) -> bool:
    """True when the URL carries credentials or any userinfo (``user:pass@host``)."""
    try:
        return "@" in urlsplit(url).netloc
    except ValueError:
        return True


# -- classification -----------------------------------------------------------------------------

def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address carried inside an IPv6 one, and how it is carried."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-translated"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    for net in NAT64_NETS:
        if ip in net:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip in IPV4_COMPATIBLE and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "IPv4-compatible"
    return None


def _category(ip: IPAddress) -> str:
    if ip in METADATA_ADDRESSES:
        return "metadata"
    if ip.is_unspecified:
        return "unspecified"
    if (isinstance(ip, ipaddress.IPv4Address) and ip in LOOPBACK_V4) or ip == LOOPBACK_V6:
        return "loopback"
    if any(ip in net for net in LINK_LOCAL_NETS if net.version == ip.version):
        return "link-local"
    if any(ip in net for net in PRIVATE_NETS if net.version == ip.version):
        return "private"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "cgnat"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip in SITE_LOCAL_V6:
        return "private"
    if not ip.is_global or ip.is_reserved:
        return "reserved"
    return "public"


def classify(ip: IPAddress | str) -> Classification:
    """Classify an address, looking through IPv6 embeddings of IPv4 addresses."""
    if isinstance(ip, str):
        ip = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            v4, via = inner
            cat = _category(v4)
            # The embedding's own range (6to4, NAT64, Teredo) is global, but what matters is
            # where the packets end up; an ordinary public IPv4 inside stays "public".
            return Classification(ip=ip, category=cat, via=via, embedded=v4)
    return Classification(ip=ip, category=_category(ip))


def _describe(c: Classification) -> str:
    if c.embedded is not None:
        return f"address: {c.ip} is {c.category} ({c.via} {c.embedded})"
    return f"address: {c.ip} is {c.category}"


def decide_address(ip: IPAddress | str, profile: str = "public") -> Decision:
    """May the toolkit connect to ``ip`` under ``profile``?

    ``public``: only globally routable, non-metadata addresses. ``loopback`` (demo and tests):
    only 127.0.0.0/8 and ::1 (also written as ``::ffff:127.x.y.z``, which the kernel delivers
    to 127.x.y.z); everything else, private, metadata and public alike, is refused.
    """
    if profile not in PROFILES:
        return Decision(False, f"address: unknown network profile {profile!r}")
    c = classify(ip)
    if profile == "loopback":
        if c.category == "loopback" and c.via in ("", "IPv4-mapped"):
            return ALLOWED
        if c.category == "public":
            return Decision(False, f"address: {c.ip} is not loopback (network profile loopback)")
        return Decision(False, _describe(c))
    if c.category == "public":
        return ALLOWED
    return Decision(False, _describe(c))


# -- names and resolution -----------------------------------------------------------------------

def is_localhost_name(name: str) -> bool:
    """RFC 6761: ``localhost`` and every name under it are loopback, whatever DNS says."""
    return name == "localhost" or name.endswith(".localhost")


ResolveFn = Callable[[str, int], Iterable[str]]


def getaddrinfo_addresses(host: str, port: int) -> list[str]:
    """Every address the OS resolver returns for ``host`` (what Twisted will connect to)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class Resolver:
    """``getaddrinfo`` with a small TTL cache, so a page with a hundred links costs one lookup.

    Thread-safe: the guard calls it from a worker thread so the reactor never blocks on DNS.
    Failures are not cached. ``resolve`` may be replaced by tests.
    """

    def __init__(self, resolve: ResolveFn = getaddrinfo_addresses, ttl: float = 60.0,
                 size: int = 1024):
        self._resolve = resolve
        self.ttl = ttl
        self.size = size
        self._cache: OrderedDict[tuple[str, int], tuple[float, tuple[str, ...]]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> tuple[str, ...]:
        key = (host, port)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                self._cache.move_to_end(key)
                return hit[1]
        addresses = tuple(self._resolve(host, port))
        with self._lock:
            self._cache[key] = (now, addresses)
            self._cache.move_to_end(key)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return addresses


def decide_host(host: Host, profile: str, resolver: ResolveFn | None = None) -> Decision:
    """Decide a parsed host: literal addresses directly, names after resolving every address."""
    if host.ip is not None:
        return decide_address(host.ip, profile)
    if host.name in METADATA_HOSTNAMES:
        return Decision(False, f"address: {host.name} is metadata")
    if is_localhost_name(host.name):
        candidates: tuple[str, ...] = ("127.0.0.1", "::1")
    elif profile == "loopback":
        # The demo/test profile resolves no names: a lookup would send a DNS query off the
        # machine, and only loopback literals and localhost can be allowed anyway.
        return Decision(False, f"address: {host.name} is not a loopback address (network profile loopback "
                               f"resolves no names)")
    else:
        try:
            candidates = tuple((resolver or getaddrinfo_addresses)(host.name, host.port))
        except (OSError, UnicodeError) as exc:
            return Decision(False, f"dns: {host.name} did not resolve ({exc})")
        if not candidates:
            return Decision(False, f"dns: {host.name} did not resolve")
    for text in candidates:
        try:
            decision = decide_address(text, profile)
        except ValueError:
            return Decision(False, f"address: {host.name} resolved to malformed {text!r}")
        if not decision.allowed:
            return Decision(False, f"{decision.reason} (resolved from {host.name})")
    return ALLOWED


def decide_url(url: str, profile: str = "public", resolver: ResolveFn | None = None) -> Decision:
    """Scheme, host parsing and address decision for one URL (resolving names with ``resolver``)."""
    try:
        host = parse_host(url)
    except AddressError as exc:
        return Decision(False, exc.reason)
    return decide_host(host, profile, resolver)
