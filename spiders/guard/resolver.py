"""The connection's own name resolution, filtered by the guard (against DNS rebinding)."""

from __future__ import annotations

import logging
from typing import Any

from zope.interface import classImplements as _classImplements

from spiders.guard.policy import _ACTIVE, GuardPolicy

logger = logging.getLogger("spiders.guard")

# -- the connection's own name resolution --------------------------------------------------------

def _resolver_interfaces() -> tuple[Any, Any]:
    from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver

    return IHostnameResolver, IResolutionReceiver


_IHostnameResolver, _IResolutionReceiver = _resolver_interfaces()


class _FilteringReceiver:
    """Collects a resolution and passes it on only if every address is allowed."""

    def __init__(self, receiver: Any, host: str, policy: GuardPolicy):
        self.receiver = receiver
        self.host = host
        self.policy = policy
        self.addresses: list[Any] = []

    def resolutionBegan(self, resolution: Any) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        from spiders.addresses import decide_address

        refused = [a for a in self.addresses
                   if not decide_address(str(getattr(a, "host", "")).split("%", 1)[0], self.policy.profile).allowed]
        if refused:
            logger.warning("guard: %s resolved at connect time to refused %s; not connecting",
                           self.host, ", ".join(str(a.host) for a in refused))
        else:
            for address in self.addresses:
                self.receiver.addressResolved(address)
        self.receiver.resolutionComplete()


class GuardedNameResolver:
    """The reactor's name resolver, filtered by the active crawl's network profile.

    The guard decides on the addresses *it* resolved; Twisted then resolves the name again to
    connect. A DNS server that answers differently the second time (DNS rebinding) could send
    the connection to 169.254.169.254. Installed on the reactor by the guard, this filter makes
    the connection's own resolution obey the same profile: if any address is refused, none is
    returned and the download fails as a DNS error. With no crawl active it passes through.
    """

    def __init__(self, wrapped: Any):
        self.wrapped = wrapped

    def resolveHostName(self, resolutionReceiver: Any, hostName: str, portNumber: int = 0,
                        addressTypes: Any = None, transportSemantics: str = "TCP") -> Any:
        policy = _ACTIVE.policy
        receiver = resolutionReceiver if policy is None else _FilteringReceiver(resolutionReceiver, hostName, policy)
        if _localhost_subname(hostName):  # still filtered: refused unless the profile allows loopback
            return _resolve_localhost(receiver, hostName, portNumber)
        return self.wrapped.resolveHostName(receiver, hostName, portNumber, addressTypes, transportSemantics)



def _localhost_subname(name: str) -> bool:
    return name.lower().rstrip(".").endswith(".localhost")


def _resolve_localhost(receiver: Any, name: str, port: int) -> Any:
    """RFC 6761 6.3: every name under ``localhost`` is 127.0.0.1, answered here without a lookup.

    The guard already decides ``*.localhost`` as loopback (:func:`spiders.addresses.is_localhost_name`);
    the OS resolver often knows only ``localhost`` itself, so without this a site whose
    username is a host label (``{account}.site.localhost``) could be allowed yet never reached.
    """
    from twisted.internet.address import IPv4Address
    from twisted.internet.interfaces import IHostResolution
    from zope.interface import implementer

    @implementer(IHostResolution)
    class _Resolution:
        def __init__(self, name: str) -> None:
            self.name = name

        def cancel(self) -> None:
            return None

    resolution = _Resolution(name)
    receiver.resolutionBegan(resolution)
    receiver.addressResolved(IPv4Address("TCP", "127.0.0.1", port))
    receiver.resolutionComplete()
    return resolution


_classImplements(GuardedNameResolver, _IHostnameResolver)
_classImplements(_FilteringReceiver, _IResolutionReceiver)


def install_guarded_resolver(reactor: Any) -> bool:
    """Wrap ``reactor.nameResolver`` once; True if it is (now) guarded."""
    current = getattr(reactor, "nameResolver", None)
    if current is None or not hasattr(reactor, "installNameResolver"):
        return False
    if not isinstance(current, GuardedNameResolver):
        reactor.installNameResolver(GuardedNameResolver(current))
    return True
