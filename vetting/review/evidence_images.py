"""Which picture of a captured page the deciding investigator marked as the finding's evidence.

Hiring staff see every image and video of a page covered (an image can show a protected
characteristic, or carry text the firewall cannot read), except the ones the investigator who
validated the finding marked as its evidence, for example the photo of the gang sign itself.
A mark is a CSS selector (``img#post-7``, ``article:nth-of-type(3) img``) or the image's
address as the page wrote it or resolved against the page (``/media/u/7.jpg``,
``https://pics.example/media/u/7.jpg``). It is checked against the archived page when the
decision is recorded, so a mark that names nothing is refused, never silently ignored.
"""

from __future__ import annotations

from urllib.parse import urljoin

from bs4 import BeautifulSoup

__all__ = ["MEDIA_TAGS", "is_address", "marked_media", "media_addresses"]

#: What counts as a picture or a video on a page (covered unless marked).
MEDIA_TAGS = ("img", "picture", "video", "audio", "svg", "canvas", "iframe", "frame", "object", "embed")
_SOURCE_ATTRS = ("src", "data", "poster", "href", "xlink:href")


def is_address(spec: str) -> bool:
    """A mark is an address when it looks like one; anything else is a CSS selector."""
    spec = spec.strip()
    return "://" in spec or spec.startswith(("/", "data:", "./", "../"))


def _sources(tag: object, page_url: str) -> set[str]:
    found: set[str] = set()
    for attr in _SOURCE_ATTRS:
        value = tag.get(attr)  # type: ignore[attr-defined]
        if isinstance(value, str) and value.strip():
            found |= {value.strip(), urljoin(page_url, value.strip())}
    srcset = tag.get("srcset")  # type: ignore[attr-defined]
    if isinstance(srcset, str):
        for part in srcset.split(","):
            url = part.strip().split(" ")[0]
            if url:
                found |= {url, urljoin(page_url, url)}
    return found


def marked_media(html: str, page_url: str, spec: str) -> int:
    """How many pictures or videos of the archived ``html`` the mark ``spec`` names.

    Raises ``ValueError`` with a readable message for a selector that does not parse.
    """
    soup = BeautifulSoup(html, "html.parser")
    spec = spec.strip()
    if not spec:
        return 0
    if is_address(spec):
        wanted = {spec, urljoin(page_url, spec)}
        return sum(1 for tag in soup.find_all(MEDIA_TAGS + ("source", "image"))
                   if _sources(tag, page_url) & wanted)
    try:
        chosen = soup.select(spec)
    except Exception as exc:  # noqa: BLE001 - soupsieve raises its own SelectorSyntaxError
        raise ValueError(f"{spec!r} is neither an address nor a CSS selector: {exc}") from None
    return sum(1 for tag in chosen if tag.name in MEDIA_TAGS)


def media_addresses(html: str, page_url: str, limit: int = 12) -> list[str]:
    """The addresses of the page's pictures and videos, resolved against the page, in page
    order: what an investigator can mark (shown by ``vet review``)."""
    soup = BeautifulSoup(html, "html.parser")
    found: list[str] = []
    for tag in soup.find_all(MEDIA_TAGS):
        for attr in ("src", "data", "poster"):
            value = tag.get(attr)
            if isinstance(value, str) and value.strip() and not value.startswith("data:"):
                url = urljoin(page_url, value.strip())
                if url not in found:
                    found.append(url)
                break
    return found[:limit]
