"""Redacted pictures for hiring staff, derived from the archived page, never from a screenshot.

The firewall (``vetting.firewall``) masks protected characteristics in the text of the
findings report; a screenshot of the page would show them all again. So what hiring staff see
of a captured page is made here, from the stored evidence:

1. the archived DOM (the rendered HTML stored as evidence, re-hashed first) is loaded into
   Chromium **offline**: it is served to the browser by a route handler with a
   Content-Security-Policy header (``default-src 'none'; style-src 'unsafe-inline'``), with
   JavaScript disabled and every other request aborted, so nothing is fetched, nothing runs
   and no image (not even a ``data:`` one) loads;
2. every mention the firewall finds in the page's text is located in the layout (a DOM
   ``Range`` over the text nodes, ``getClientRects``), including CSS generated content
   (``::before``/``::after`` text is turned into real text first) and form fields;
3. the crop follows the finding's excerpt (the conduct the investigator found), not the whole
   page, so a page of any height gives a legible picture;
4. opaque boxes cover every mention, and every image, picture, video, canvas, SVG, frame and
   embedded object, except the images the deciding investigator marked as the finding's
   evidence (``vetting.evidence_images``), whose pixels come from the original screenshot
   when the offline layout matches it (and stay covered otherwise).

Each picture is evidence of its own: it is stored content-addressed and recorded as an
``evidence.redacted`` audit event carrying its sha256, the archived DOM's and the original
screenshot's sha256, the crop and every box (``vet audit verify`` re-hashes it like any
artifact). Investigators keep the original capture; hiring-staff outputs use only these.
Words inside a kept conduct span (bias speech, whose protected words are the conduct) stay
visible, exactly as in the report's text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import hashlib
import io
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Self

from vetting import __version__
from vetting.firewall import Mention, find_protected
from vetting.workspace import Workspace

__all__ = ["Box", "PictureJob", "PictureView", "Redacted", "Redactor", "picture_job", "redacted_pictures"]

FORMAT = "vetting-redaction/1"
ACTOR = f"system:redaction/{__version__}"
#: Height of page shown around the finding (CSS px), and how much of it lies above the excerpt.
CROP_HEIGHT = 1400
CONTEXT_ABOVE = 300
#: The crop may grow to this height to include a marked evidence image.
CROP_HEIGHT_MAX = 2400
MIN_WIDTH = 480
MARGIN = 24  # px kept around the page's content when the crop is narrowed
BOX_PAD = 2  # px added around each covered text rectangle
DEFAULT_WIDTH = 1280
WIDTH_RANGE = (320, 1920)
#: The address the archived DOM is served from inside the browser (the route answers it; a
#: request that somehow escaped interception would reach the loopback discard port, nothing else).
SERVED_AT = "http://127.0.0.1:9/archived-page"
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'"
MEDIA_SELECTOR = ("img, picture, video, audio, svg, canvas, iframe, frame, object, embed, "
                  "input[type=image i]")
_FIELD_SELECTOR = "input:not([type=hidden i]), textarea, select"
_WS = str.maketrans({c: " " for c in "\t\n\r\f\v\u00a0"})


@lru_cache(maxsize=1)
def lexicon_sha256() -> str:
    """The firewall lexicon's digest: a changed lexicon makes every picture again."""
    data = resources.files("vetting").joinpath("data/protected_terms.txt").read_bytes()
    return hashlib.sha256(data).hexdigest()


# -- what to draw ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PictureJob:
    """Everything the browser needs to make one finding's picture (read from the workspace)."""

    item_id: str
    case_id: str
    decision_id: int
    page_url: str
    dom: bytes
    dom_sha256: str
    screenshot: bytes | None
    screenshot_sha256: str | None
    focus: tuple[str, ...]  # the conduct found, in page order: the crop centres on the first found
    keep: tuple[str, ...]  # conduct that is itself protected words (bias speech): not covered
    evidence_images: tuple[str, ...]  # the investigator's marks (selectors or addresses)

    @property
    def key(self) -> str:
        """Identifies the picture this job makes: same inputs and rules, same picture."""
        doc = {"format": FORMAT, "lexicon": lexicon_sha256(), "dom": self.dom_sha256,
               "screenshot": self.screenshot_sha256, "focus": self.focus, "keep": self.keep,
               "evidence_images": self.evidence_images, "decision_id": self.decision_id}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Box:
    """One covered rectangle of the picture (picture pixels) and why it is covered."""

    x: int
    y: int
    w: int
    h: int
    why: str  # "protected: religion" | "image" | "video" | "form field: ..." | ...


@dataclass
class Redacted:
    """One rendered picture with its boxes."""

    png: bytes
    width: int
    height: int
    crop: dict[str, int]  # x, y, w, h of the page (CSS px) the picture shows
    boxes: list[Box]
    evidence_shown: int = 0
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- the browser side -----------------------------------------------------------------------
_COLLECT = """() => {
  const skip = 'script,style,noscript,template,title,head';
  const inlineish = d => d.startsWith('inline') || d === 'contents' || d.startsWith('ruby');
  const blocks = new Map(); const blockIds = new Map();
  const blockOf = el => {
    let e = el;
    while (e && e !== document.body && e.parentElement) {
      if (!blocks.has(e)) { blocks.set(e, inlineish(getComputedStyle(e).display)); }
      if (!blocks.get(e)) { break; }
      e = e.parentElement;
    }
    if (!blockIds.has(e)) { blockIds.set(e, blockIds.size); }
    return blockIds.get(e);
  };
  const nodes = []; const out = [];
  const root = document.body || document.documentElement;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const p = n.parentElement;
    if (!p || !n.data || p.closest(skip)) { continue; }
    nodes.push(n); out.push([n.data, blockOf(p)]);
  }
  window.__vettingNodes = nodes;
  return out;
}"""

_PSEUDO = """() => {
  const els = [...document.querySelectorAll('body, body *')];
  window.__vettingEls = els;
  const out = [];
  const strings = c => (c.match(/"(?:[^"\\\\]|\\\\.)*"|'(?:[^'\\\\]|\\\\.)*'/g) || [])
      .map(s => s.slice(1, -1).replace(/\\\\([0-9a-fA-F]{1,6}) ?/g, (m, h) => String.fromCodePoint(parseInt(h, 16)))
      .replace(/\\\\(.)/g, '$1')).join('');
  els.forEach((el, i) => {
    for (const which of ['before', 'after', 'marker']) {
      const c = getComputedStyle(el, '::' + which).content;
      if (c && c !== 'none' && c !== 'normal') {
        const text = strings(c);
        if (text) { out.push([i, which, text]); }
      }
    }
    const list = getComputedStyle(el).listStyleType;  // list-style-type: "Catholic " draws a marker
    if (list && /^["']/.test(list)) { out.push([i, 'marker', strings(list)]); }
  });
  return out;
}"""

_MATERIALIZE = """(list) => {
  const els = window.__vettingEls;
  for (const [i, which, text] of list) {
    const el = els[i];
    const cs = getComputedStyle(el, '::' + which);
    const span = document.createElement('span');
    for (const prop of cs) {
      if (prop !== 'content') { span.style.setProperty(prop, cs.getPropertyValue(prop)); }
    }
    span.textContent = text;
    el.setAttribute('data-vetting-no-' + which, '');
    if (which === 'marker') { span.style.setProperty('display', 'inline'); }
    if (which === 'after') { el.append(span); } else { el.prepend(span); }
  }
  const style = document.createElement('style');
  style.textContent = '[data-vetting-no-before]::before{content:none!important}'
    + '[data-vetting-no-after]::after{content:none!important}'
    + '[data-vetting-no-marker]{list-style-type:none!important}'
    + '[data-vetting-no-marker]::marker{content:none!important}';
  (document.head || document.documentElement).appendChild(style);
}"""

_FIELDS = """(sel) => {
  const els = [...document.querySelectorAll(sel)];
  window.__vettingFields = els;
  return els.map(e => [e.tagName.toLowerCase(), (e.value || '') + ' ' + (e.placeholder || '')
    + ' ' + (e.tagName === 'SELECT' ? [...e.selectedOptions].map(o => o.text).join(' ') : '')]);
}"""

_MEDIA = """([sel, marks]) => {
  const els = [...document.querySelectorAll(sel)];
  window.__vettingMedia = els;
  return els.map(e => {
    const srcs = ['src', 'data', 'poster', 'href', 'xlink:href', 'srcset'].map(a => e.getAttribute(a)).filter(Boolean);
    let selected = false;
    for (const m of marks) { try { if (e.matches(m)) { selected = true; } } catch (err) { /* an address */ } }
    return [e.tagName.toLowerCase(), srcs, selected];
  });
}"""

_RECTS = """([pieces, fields, media]) => {
  const r = x => [x.left, x.top, x.width, x.height];
  const nodes = window.__vettingNodes;
  const text = pieces.map(([i, a, b]) => {
    const range = document.createRange();
    range.setStart(nodes[i], a); range.setEnd(nodes[i], b);
    return [...range.getClientRects()].map(r);
  });
  const f = fields.map(i => [r(window.__vettingFields[i].getBoundingClientRect())]);
  const m = media.map(i => [r(window.__vettingMedia[i].getBoundingClientRect())]);
  return [text, f, m, window.scrollY];
}"""

_EXTENT = """() => {
  const nodes = window.__vettingNodes; const h = innerHeight;
  let left = Infinity, right = -Infinity, bottom = -Infinity;
  const range = document.createRange();
  const add = rect => { if (rect.width > 0 && rect.bottom > 0 && rect.top < h) {
      left = Math.min(left, rect.left); right = Math.max(right, rect.right);
      bottom = Math.max(bottom, rect.bottom); } };
  for (const n of nodes) { range.selectNodeContents(n); add(range.getBoundingClientRect()); }
  for (const e of window.__vettingMedia) { add(e.getBoundingClientRect()); }
  for (const e of window.__vettingFields) { add(e.getBoundingClientRect()); }
  // a centred column keeps its own borders and padding (a full-width wrapper is no column)
  for (const e of (document.body ? document.body.children : [])) {
    const rect = e.getBoundingClientRect();
    if (rect.width < innerWidth - 1) { add(rect); }
  }
  return [left, right, bottom];
}"""


_LINE_START = """(y) => {
  let best = y; const range = document.createRange();
  for (const n of window.__vettingNodes) {
    range.selectNodeContents(n);
    for (const r of range.getClientRects()) {
      const top = r.top + scrollY, bottom = r.bottom + scrollY;
      if (top < y && y < bottom) { best = Math.min(best, top); }
    }
  }
  return best;
}"""


_SHADOW_ROOT = re.compile(rb"shadowroot", re.IGNORECASE)


def _inert_shadow_roots(dom: bytes) -> bytes:
    """Declarative shadow DOM (``<template shadowrootmode=closed>``) would be attached by the
    parser, JavaScript or not, where no script of ours could read its text (a closed root). The
    attribute is renamed, so the template stays an inert template: its content is not drawn."""
    return _SHADOW_ROOT.sub(b"data-vetting-inert-shadowroot", dom)


def _utf16(text: str, offset: int) -> int:
    """A Python offset into ``text`` as the DOM counts it (UTF-16 code units)."""
    return len(text[:offset].encode("utf-16-le")) // 2


def _joined(nodes: Sequence[tuple[str, int]], sep: str) -> tuple[str, list[tuple[int, int]]]:
    """The page's text as one string (blocks apart by a line break, text nodes of one block by
    ``sep``) and where each node sits in it. Whitespace is mapped one-for-one to spaces."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos, previous = 0, None
    for text, block in nodes:
        if parts:
            gap = "\n" if block != previous else sep
            parts.append(gap)
            pos += len(gap)
        clean = text.translate(_WS)
        spans.append((pos, pos + len(clean)))
        parts.append(clean)
        pos += len(clean)
        previous = block
    return "".join(parts), spans


def _phrase_spans(text: str, phrases: Iterable[str]) -> list[tuple[int, int]]:
    """Where each phrase occurs in ``text``: case-insensitive, any whitespace between words."""
    found = []
    for phrase in phrases:
        words = re.findall(r"\w+", phrase)
        if not words:
            continue
        rx = re.compile(r"(?<!\w)" + r"\W{0,8}".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)
        found += [m.span() for m in rx.finditer(text)]
    return found


def _mentions(nodes: Sequence[tuple[str, int]], keep: Sequence[str]) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """Every protected mention of the page's text as (characteristic, [(node, start, end)]) in
    DOM offsets. The text is read twice, with inline pieces joined and apart, and the mentions of
    both readings are covered: ``Cath<b>olic</b>`` and ``Catholic<br>church`` are both found."""
    out: dict[tuple[int, int, int], str] = {}
    for sep in ("", " "):
        text, spans = _joined(nodes, sep)
        kept = _phrase_spans(text, keep)
        for m in find_protected(text):
            if any(a <= m.start and m.end <= b for a, b in kept):
                continue
            for piece in _pieces(m, spans):
                out.setdefault(piece, m.characteristic)
    grouped: dict[str, list[tuple[int, int, int]]] = {}
    for piece, characteristic in sorted(out.items()):
        grouped.setdefault(characteristic, []).append(piece)
    return [(c, pieces) for c, pieces in grouped.items()]


def _pieces(m: Mention, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    pieces = []
    for i, (a, b) in enumerate(spans):
        if b <= m.start:
            continue
        if a >= m.end:
            break
        pieces.append((i, max(a, m.start) - a, min(b, m.end) - a))
    return pieces


class Redactor:
    """One headless Chromium making many pictures (launching it is the slow part)."""

    def __init__(self) -> None:
        self._pw: Any = None
        self._browser: Any = None
        self._page: Any = None
        self._count = 0
        self._serving: tuple[str, bytes] | None = None  # (address, archived DOM) of the job in hand

    def __enter__(self) -> Self:
        from playwright.sync_api import sync_playwright

        from spiders.browser import LAUNCH_ARGS, find_chromium

        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=find_chromium(), args=list(LAUNCH_ARGS),
                                                     headless=True)
        except Exception:
            self._pw.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._browser is not None:
                self._browser.close()
        finally:
            self._pw.stop()

    def _route(self, r: Any) -> None:
        """The browser's only source: the job's archived DOM, once, at its address."""
        serving = self._serving
        if serving is not None and r.request.url == serving[0] and r.request.is_navigation_request():
            self._serving = None  # served once: a refresh of the page is refused like any other
            r.fulfill(status=200, body=serving[1], headers={
                "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": PAGE_CSP})
        elif r.request.is_navigation_request():
            r.abort("aborted")  # a refresh or redirect of the page: refused, and the page stays
        else:
            r.abort()

    def reset(self) -> None:
        """Drop the page after a failure: the next job gets a new context and page."""
        page, self._page = self._page, None
        if page is not None:
            with contextlib.suppress(Exception):  # a crashed page may not close cleanly
                page.context.close()

    def _fresh_page(self, width: int) -> Any:
        """One context and page for every job (a new page costs a renderer process, a second
        or more). Nothing carries over: JavaScript is off, each job is a new document at a new
        address, no cookie or storage is ever set (no script, no response header but ours)."""
        if self._page is None:
            context = self._browser.new_context(java_script_enabled=False, viewport={"width": width, "height": 720},
                                                service_workers="block", accept_downloads=False)
            context.route("**/*", self._route)
            self._page = context.new_page()
            self._page.set_default_timeout(60_000)
        else:
            self._page.set_viewport_size({"width": width, "height": 720})
        return self._page

    def render(self, job: PictureJob, cover: bool = True) -> Redacted:
        """The picture of ``job``; ``cover=False`` leaves everything uncovered (the tests' control:
        it shows that OCR does read the words the boxes hide)."""
        started = time.monotonic()
        original = _raster(job.screenshot)
        width = original.width if original is not None else DEFAULT_WIDTH
        width = min(max(width, WIDTH_RANGE[0]), WIDTH_RANGE[1])
        page = self._fresh_page(width)
        self._count += 1
        address = f"{SERVED_AT}/{self._count}"
        self._serving = (address, _inert_shadow_roots(job.dom))
        try:
            page.goto(address, wait_until="load")
        finally:
            self._serving = None
        return self._draw(page, job, width, original, cover, started)

    def _draw(self, page: Any, job: PictureJob, width: int, original: Any, cover: bool,
              started: float) -> Redacted:
        from PIL import Image, ImageDraw

        notes: list[str] = []
        # Offline, a broken image with alt text shrinks to its text: dropping the alt keeps the
        # size the page gave it (images are covered anyway), so the layout stays the captured one.
        page.evaluate("() => { const s = document.createElement('style'); "
                      "s.textContent = 'noscript{display:none!important}'; "
                      "(document.head || document.documentElement).appendChild(s); }")
        page.evaluate("() => document.querySelectorAll('img[alt], input[alt], area[alt]')"
                      ".forEach(e => e.removeAttribute('alt'))")
        pseudo = page.evaluate(_PSEUDO)
        generated = [p for p in pseudo if find_protected(p[2])]
        if generated:
            page.evaluate(_MATERIALIZE, generated)
        nodes = [(t, int(b)) for t, b in page.evaluate(_COLLECT)]
        mentions = _mentions(nodes, job.keep)
        fields = [i for i, (_, value) in enumerate(page.evaluate(_FIELDS, _FIELD_SELECTOR)) if find_protected(value)]
        selectors = [m for m in job.evidence_images if not _is_address(m)]
        media = page.evaluate(_MEDIA, [MEDIA_SELECTOR, selectors])
        marked = {i for i, (_, srcs, selected) in enumerate(media)
                  if selected or _names_address(srcs, job.evidence_images, job.page_url)}
        doc_height = int(page.evaluate("() => Math.max(document.documentElement.scrollHeight, "
                                       "document.body ? document.body.scrollHeight : 0)"))
        # Where the finding is: the first conduct phrase found in the page's text.
        text, spans = _joined(nodes, " ")
        focus_pieces: list[tuple[int, int, int]] = []
        for phrase in job.focus:
            hits = sorted(_phrase_spans(text, [phrase]))
            if hits:
                m = Mention("focus", hits[0][0], hits[0][1], "")
                focus_pieces = _pieces(m, spans)
                break
        if job.focus and not focus_pieces:
            notes.append("the finding's excerpt was not found in the archived page; the picture shows its top")
        pieces = [self._dom(nodes, p) for p in focus_pieces]
        rects = page.evaluate(_RECTS, [pieces, [], [i for i in sorted(marked)]])
        scroll0 = rects[3]
        focus_rects = [r for rs in rects[0] for r in rs if r[2] > 0 or r[3] > 0]
        top = 0
        height = min(CROP_HEIGHT, max(doc_height, 1))
        if focus_rects:
            f_top = min(r[1] for r in focus_rects) + scroll0
            top = int(max(0, min(f_top - CONTEXT_ABOVE, doc_height - height)))
            top = int(max(0, min(top, page.evaluate(_LINE_START, top) - 4)))  # never half a line
        for r in rects[2]:  # grow the crop to include a marked image, within the maximum
            a, b = r[0][1] + scroll0, r[0][1] + r[0][3] + scroll0
            new_top, new_bottom = min(top, a - 16), max(top + height, b + 16)
            if new_bottom - new_top <= CROP_HEIGHT_MAX:
                top, height = int(max(0, new_top)), int(min(doc_height, new_bottom) - max(0, new_top))
        layout_matches = original is not None and (original.width, original.height) == (width, doc_height)
        page.set_viewport_size({"width": width, "height": max(height, 1)})
        page.evaluate("(y) => window.scrollTo(0, y)", top)
        all_pieces = [self._dom(nodes, p) for _, ps in mentions for p in ps]
        text_rects, field_rects, media_rects, scroll_y = page.evaluate(
            _RECTS, [all_pieces, fields, list(range(len(media)))])
        png = page.screenshot(type="png")
        left, right, bottom = page.evaluate(_EXTENT)
        picture = Image.open(io.BytesIO(png)).convert("RGB")
        boxes: list[Box] = []
        shown = 0
        for i, rect in enumerate(media_rects):
            x, y, w, h = rect[0]
            if w <= 0 or h <= 0:
                continue
            if i in marked and layout_matches:
                box = (int(x), int(y + scroll_y), int(x + w), int(y + h + scroll_y))
                picture.paste(original.crop(box), (int(x), int(y)))
                shown += 1
                continue
            if i in marked:
                notes.append("a marked evidence image could not be placed from the capture (the page's layout "
                             "offline differs from the screenshot); it is covered")
            boxes.append(Box(int(x), int(y), int(w + 0.999), int(h + 0.999), media[i][0] if media[i][0] in
                             ("video", "audio", "iframe", "frame", "object", "embed", "canvas") else "image"))
        labels = [c for c, ps in mentions for _ in ps]
        for characteristic, piece_rects in zip(labels, text_rects, strict=True):
            for x, y, w, h in piece_rects:
                if w > 0 and h > 0:
                    boxes.append(Box(int(x) - BOX_PAD, int(y) - BOX_PAD, int(w + 0.999) + 2 * BOX_PAD,
                                     int(h + 0.999) + 2 * BOX_PAD, f"protected: {characteristic.replace('_', ' ')}"))
        for rect in field_rects:
            x, y, w, h = rect[0]
            boxes.append(Box(int(x), int(y), int(w + 0.999), int(h + 0.999), "form field"))
        visible = [b for b in boxes if b.x + b.w > 0 and b.y + b.h > 0 and b.x < picture.width
                   and b.y < picture.height]
        if cover:
            draw = ImageDraw.Draw(picture)
            for b in visible:
                draw.rectangle((b.x, b.y, b.x + b.w - 1, b.y + b.h - 1), fill=(0, 0, 0))
        # Narrow to the page's content (a centred column need not carry the empty margins).
        x0, x1, y1 = 0, picture.width, picture.height
        if isinstance(left, int | float) and isinstance(right, int | float) and left < right:
            x0, x1 = max(0, int(left) - MARGIN), min(picture.width, int(right + 0.999) + MARGIN)
        if x1 - x0 < MIN_WIDTH:
            x0, x1 = max(0, min(x0, picture.width - MIN_WIDTH)), min(picture.width, max(x1, x0 + MIN_WIDTH))
        if isinstance(bottom, int | float) and bottom > 0:
            y1 = max(1, min(picture.height, int(bottom + 0.999) + MARGIN))
        picture = picture.crop((x0, 0, x1, y1))
        moved = [Box(b.x - x0, b.y, b.w, b.h, b.why) for b in visible if b.x + b.w > x0 and b.x < x1 and b.y < y1]
        out = io.BytesIO()
        picture.save(out, format="PNG")
        return Redacted(out.getvalue(), picture.width, picture.height,
                        {"x": x0, "y": int(scroll_y), "w": picture.width, "h": picture.height},
                        moved if cover else [], shown, notes, round(time.monotonic() - started, 3))

    @staticmethod
    def _dom(nodes: Sequence[tuple[str, int]], piece: tuple[int, int, int]) -> list[int]:
        i, a, b = piece
        return [i, _utf16(nodes[i][0], a), _utf16(nodes[i][0], b)]


def _raster(data: bytes | None) -> Any:
    """The original screenshot as an image, or None when there is none or it is not a raster
    image Pillow reads (an SVG stored as a "screenshot" is never drawn from)."""
    from PIL import Image, UnidentifiedImageError

    if not data or not data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF")):
        return None
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    return image.convert("RGB")


def _is_address(spec: str) -> bool:
    from vetting.evidence_images import is_address

    return is_address(spec)


def _names_address(srcs: Sequence[str], marks: Sequence[str], page_url: str) -> bool:
    from urllib.parse import urljoin

    wanted = {w for m in marks if _is_address(m) for w in (m.strip(), urljoin(page_url, m.strip()))}
    if not wanted:
        return False
    have = set()
    for src in srcs:
        for part in (src.split(",") if " " in src else [src]):
            url = part.strip().split(" ")[0]
            have |= {url, urljoin(page_url, url)}
    return bool(have & wanted)


# -- the workspace side ---------------------------------------------------------------------
@dataclass(frozen=True)
class PictureView:
    """What a hiring-staff report shows of one finding's page."""

    item_id: str
    png: bytes | None
    note: str  # why there is no picture, or what to know about it
    sha256: str | None = None
    source_sha256: str | None = None
    boxes: int = 0
    covered_media: int = 0
    evidence_shown: int = 0


def _html(data: bytes) -> bool:
    """Markup, not an image or a PDF that happened to be the response."""
    return data.removeprefix(b"\xef\xbb\xbf")[:4096].lstrip()[:1] == b"<"


def picture_job(ws: Workspace, item_id: str,
                marks: dict[tuple[str, int], tuple[str, ...]] | None = None) -> PictureJob | str:
    """The job for one validated item, or why no picture can be made of it. ``marks`` are the
    case's evidence-image marks by (item, decision id) when the caller read them already."""
    from vetting.models import Assessment, Case, Item, ProcedureVersion
    from vetting.validation import current_decision

    with ws.session() as s:
        item = s.get(Item, item_id)
        assessment = s.get(Assessment, item_id)
        case = s.get(Case, item.case_id) if item else None
        version = s.get(ProcedureVersion, case.fingerprint) if case else None
    decision = current_decision(ws, item_id)
    if item is None or case is None or version is None or decision is None or decision.id is None:
        return "no validated decision"
    artifacts = item.artifacts()
    source = next((a for a in artifacts if a["kind"] == "dom"), None)
    if source is None:
        source = next((a for a in artifacts if a["kind"] == "response"), None)
    if source is None:
        return "no picture: nothing of the page's HTML was archived"
    dom = ws.evidence_path(source["path"]).read_bytes()
    if hashlib.sha256(dom).hexdigest() != source["sha256"]:
        return "no picture: the archived page no longer matches its sha256"
    if not _html(dom):
        return "no picture: the archived content is not an HTML page"
    shot = next((a for a in artifacts if a["kind"] == "screenshot"), None)
    screenshot = ws.evidence_path(shot["path"]).read_bytes() if shot else None
    if screenshot is not None and hashlib.sha256(screenshot).hexdigest() != shot["sha256"]:
        screenshot = None
    proc = json.loads(version.canonical_json)
    protected = {c["id"] for c in proc["categories"] if c.get("protected_conduct")}
    found = set(json.loads(decision.findings_json))
    flags = sorted(json.loads(assessment.flags_json) if assessment else [], key=lambda f: (f["start"], f["end"]))
    text = item.text or ""
    focus = tuple(dict.fromkeys(text[f["start"]:f["end"]] or f.get("matched_text", "") for f in flags
                                if f["category_id"] in found))
    keep = tuple(dict.fromkeys(text[f["start"]:f["end"]] or f.get("matched_text", "") for f in flags
                               if f["category_id"] in found and f["category_id"] in protected))
    return PictureJob(item.id, item.case_id, decision.id, item.final_url or item.url, dom, source["sha256"],
                      screenshot, shot["sha256"] if shot and screenshot is not None else None, focus, keep,
                      (marks if marks is not None else _case_events(ws, item.case_id)[0]).get(
                          (item.id, decision.id), ()))


def _case_events(ws: Workspace, case_id: str) -> tuple[dict[tuple[str, int], tuple[str, ...]],
                                                        dict[str, dict[str, Any]]]:
    """One pass over the case's audit events: the evidence images each decision marked (in its
    ``item.validated`` event), and, by job key, the ``evidence.redacted`` events recorded."""
    marks: dict[tuple[str, int], tuple[str, ...]] = {}
    recorded: dict[str, dict[str, Any]] = {}
    for e in ws.audit.events(case_id=case_id):
        if e.action == "item.validated" and isinstance(e.payload.get("decision_id"), int) and e.subject:
            marks[(e.subject, e.payload["decision_id"])] = tuple(
                str(m) for m in e.payload.get("evidence_images") or ())
        elif e.action == "evidence.redacted" and isinstance(e.payload.get("job_key"), str):
            recorded[e.payload["job_key"]] = e.payload
    return marks, recorded


def _view(job: PictureJob, png: bytes, payload: dict[str, Any]) -> PictureView:
    boxes = payload.get("boxes") or []
    return PictureView(job.item_id, png, "; ".join(payload.get("notes") or []), payload["redacted"]["sha256"],
                       job.dom_sha256, len(boxes), sum(1 for b in boxes if not b["why"].startswith(("protected",
                                                                                                     "form"))),
                       int(payload.get("evidence_shown", 0)))


def _record(ws: Workspace, job: PictureJob, made: Redacted) -> dict[str, Any]:
    rel, digest = ws.store_bytes(made.png, ".png")
    payload = {
        "format": FORMAT, "job_key": job.key, "decision_id": job.decision_id,
        "source": {"kind": "dom", "sha256": job.dom_sha256},
        "original_screenshot_sha256": job.screenshot_sha256,
        "redacted": {"path": rel, "sha256": digest, "width": made.width, "height": made.height},
        "artifacts": [{"kind": "redacted", "path": rel, "sha256": digest}],
        "crop": made.crop, "boxes": [asdict(b) for b in made.boxes], "evidence_images": list(job.evidence_images),
        "evidence_shown": made.evidence_shown, "notes": made.notes, "lexicon_sha256": lexicon_sha256(),
        "seconds": made.seconds,
    }
    ws.record("evidence.redacted", actor=ACTOR, case_id=job.case_id, subject=job.item_id, payload=payload)
    return payload


def redacted_pictures(ws: Workspace, case_id: str, item_ids: Sequence[str]) -> dict[str, PictureView]:
    """The hiring-staff picture of each item: made once (and recorded), then reused while its
    inputs are unchanged and its stored file still re-hashes to what was recorded."""
    marks, recorded = _case_events(ws, case_id)
    jobs: dict[str, PictureJob | str] = {i: picture_job(ws, i, marks) for i in item_ids}
    views: dict[str, PictureView] = {}
    todo: list[PictureJob] = []
    for item_id, job in jobs.items():
        if isinstance(job, str):
            views[item_id] = PictureView(item_id, None, job)
            continue
        payload = recorded.get(job.key)
        if payload is not None:
            try:
                png = ws.evidence_path(payload["redacted"]["path"]).read_bytes()
            except OSError:
                png = b""
            if hashlib.sha256(png).hexdigest() == payload["redacted"]["sha256"]:
                views[item_id] = _view(job, png, payload)
                continue
        todo.append(job)
    if todo:
        for job, made in zip(todo, _render_all(todo), strict=True):
            if isinstance(made, str):  # never a fallback to the screenshot: no picture, and why
                views[job.item_id] = PictureView(job.item_id, None, made)
            else:
                views[job.item_id] = _view(job, made.png, _record(ws, job, made))
        ws.audit.checkpoint()
    return views


def _render_all(jobs: Sequence[PictureJob]) -> list[Redacted | str]:
    """Render with one browser; a page that cannot be drawn gives the reason instead. Playwright's
    sync API refuses a thread with a running asyncio loop (the collection reactor's), so then
    the work happens on a worker thread."""
    def work() -> list[Redacted | str]:
        out: list[Redacted | str] = []
        with Redactor() as redactor:
            for job in jobs:
                try:
                    out.append(redactor.render(job))
                except Exception as exc:  # noqa: BLE001 - a hostile page must not stop the report
                    redactor.reset()
                    first = (str(exc).strip().splitlines() or [""])[0][:200]
                    out.append(f"no picture: the archived page could not be drawn offline "
                               f"({type(exc).__name__}: {first})")
        return out

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return work()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(work).result()
