"""The drawing half of the redaction (``vetting.reports.redaction``): one archived page in, one
covered picture out, in a Chromium that fetches nothing and runs nothing.

Kept apart from the workspace half so this module knows nothing of the database or the audit
log: it takes a :class:`PictureJob` (the page's bytes, what to centre on, what to keep, which
images were marked) and returns a :class:`Redacted` (the PNG and every box). How it works,
step by step, is in ``vetting.reports.redaction``'s docstring and docs/reports.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Self

from vetting.screening.firewall import Mention, find_protected

__all__ = ["CROP_HEIGHT", "Box", "PictureJob", "Redacted", "Redactor", "lexicon_sha256"]

FORMAT = "vetting-redaction/1"
#: Height of page shown around the finding (CSS px), and how much of it lies above the excerpt.
CROP_HEIGHT = 1200
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
               "evidence_images": len(self.evidence_images), "decision_id": self.decision_id}
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
            boxes.append(_box(rect[0], 0, media[i][0] if media[i][0] in
                              ("video", "audio", "iframe", "frame", "object", "embed", "canvas") else "image"))
        labels = [c for c, ps in mentions for _ in ps]
        for characteristic, piece_rects in zip(labels, text_rects, strict=True):
            for r in piece_rects:
                if r[2] > 0 and r[3] > 0:
                    boxes.append(_box(r, BOX_PAD, f"protected: {characteristic.replace('_', ' ')}"))
        for rect in field_rects:
            boxes.append(_box(rect[0], 0, "form field"))
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


def _box(rect: Sequence[float], pad: int, why: str) -> Box:
    """The whole pixels covering a layout rectangle (fractional edges rounded outwards), padded."""
    x0, y0 = math.floor(rect[0]) - pad, math.floor(rect[1]) - pad
    x1, y1 = math.ceil(rect[0] + rect[2]) + pad, math.ceil(rect[1] + rect[3]) + pad
    return Box(x0, y0, x1 - x0, y1 - y0, why)


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
    from vetting.review.evidence_images import is_address

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
