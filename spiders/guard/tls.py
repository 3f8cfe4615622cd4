"""TLS under the guard: the Scrapy client context factory that always verifies the
certificate chain and the host name, against certifi's bundle or the agency's own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zope.interface import classImplements

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

# -- TLS -----------------------------------------------------------------------------------------

def _tls_imports() -> tuple[Any, Any, Any]:
    from scrapy.core.downloader.contextfactory import _ScrapyClientContextFactory
    from twisted.internet._sslverify import IOpenSSLTrustRoot
    from twisted.internet.ssl import optionsForClientTLS

    return _ScrapyClientContextFactory, IOpenSSLTrustRoot, optionsForClientTLS


_BaseContextFactory, _IOpenSSLTrustRoot, _optionsForClientTLS = _tls_imports()


class CAFileTrustRoot:
    """Trust the certificates of one PEM bundle (certifi's by default, or the agency's own)."""

    def __init__(self, ca_file: str):
        self.ca_file = ca_file

    def _addCACertsToContext(self, context: Any) -> None:
        context.load_verify_locations(self.ca_file)


classImplements(CAFileTrustRoot, _IOpenSSLTrustRoot)


def default_ca_file() -> str:
    import certifi

    return certifi.where()


class VerifyingContextFactory(_BaseContextFactory):  # type: ignore[misc,valid-type]
    """``DOWNLOADER_CLIENTCONTEXTFACTORY`` that always verifies the certificate chain and the
    host name (Scrapy's default does neither). Trust: ``VETTING_TLS_CA_FILE`` if set, else
    certifi's Mozilla bundle."""

    ca_file: str = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> VerifyingContextFactory:
        factory = super().from_crawler(crawler, *args, **kwargs)
        factory.ca_file = crawler.settings.get("VETTING_TLS_CA_FILE") or default_ca_file()
        return factory

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        ca_file = self.ca_file or default_ca_file()
        if not Path(ca_file).is_file():
            raise OSError(f"tls: CA file {ca_file} does not exist")
        return _optionsForClientTLS(hostname=hostname.decode("ascii"), trustRoot=CAFileTrustRoot(ca_file),
                                    extraCertificateOptions=self._get_cert_options_kwargs())
