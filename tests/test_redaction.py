"""Redacted pictures (vetting.reports.redaction): drawn offline from the archived page, every protected
mention and every picture covered, cropped around the finding; checked by OCR (tesseract).

Each test builds a page, renders it in the real Chromium, and reads the result back the way a
person would (OCR) or as pixels. A control renders the same page uncovered, so OCR is shown to
read the words the boxes hide: the absence checks can fail.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from leakcheck import found_terms, html_text_and_pictures, ocr, pdf_text_and_pictures, terms_in
from PIL import Image
from report_fixtures import Built, add_candidate_case, add_item, flag, new_workspace, run_steps, validate

from vetting.reports.redaction import CROP_HEIGHT, PictureJob, Redactor, redacted_pictures
from vetting.reports.render import build_document, render_report

pytestmark = pytest.mark.timeout(900)
AT = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
URL = "https://social.example/u/someone"

#: Protected words where a screenshot shows them but a text extractor may not look.
CORPUS = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>A page</title>
<style>body{font:20px/1.5 "DejaVu Sans",sans-serif;max-width:900px;margin:20px}
.badge::before{content:"Proud " attr(data-who);font-weight:bold}
.after::after{content:" \\2014  Methodist deacon"}</style></head><body>
<h1>Catholic weekend</h1>
<p>Pointing my rifle at the neighbour's fence, seven months pregnant and still the best shot.</p>
<p>Split words: Cath<b>olic</b> and Jewish<br>synagogue friends.</p>
<p class="badge" data-who="Muslim convert"></p>
<p class="after">Sunday school teacher</p>
<figure><img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
 alt="Lesbian pride flag" width="300" height="80"><figcaption>My chemotherapy nurse, a lesbian.</figcaption></figure>
<svg width="400" height="60"><text x="10" y="40" font-size="28">Hindu temple</text></svg>
<p><input value="Buddhist monk" size="20"> <textarea>Deaf since birth</textarea></p>
<p lang="es">Mi esposa está embarazada y es católica.</p>
<p lang="de">Mein Bruder ist schwul und schwerbehindert.</p>
<noscript><p>Enable JavaScript, Mormon friend</p></noscript>
</body></html>"""
HIDDEN_WORDS = ("Catholic", "Jewish", "Muslim", "Methodist", "pregnant", "chemotherapy", "lesbian", "Hindu",
                "Buddhist", "Deaf", "embarazada", "schwul", "schwerbehindert", "Mormon")


def job(html: str, focus: tuple[str, ...] = ("Pointing my rifle",), screenshot: bytes | None = None,
        marks: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> PictureJob:
    data = html.encode()
    return PictureJob("item-x", "case-x", 1, URL, data, hashlib.sha256(data).hexdigest(), screenshot,
                      hashlib.sha256(screenshot).hexdigest() if screenshot else None, focus, keep, marks)


@pytest.fixture(scope="module")
def redactor() -> Iterator[Redactor]:
    with Redactor() as r:
        yield r


def test_every_protected_word_is_covered_wherever_the_page_shows_it(redactor: Redactor) -> None:
    control = redactor.render(job(CORPUS), cover=False)
    seen = ocr(control.png)
    readable = [w for w in HIDDEN_WORDS if found_terms(seen, [w])]
    assert len(readable) >= len(HIDDEN_WORDS) - 4, (readable, seen)  # OCR does read them uncovered
    assert "Pointing my rifle" in " ".join(seen.split())
    made = redactor.render(job(CORPUS))
    text = ocr(made.png)
    assert found_terms(text, HIDDEN_WORDS) == [], text
    assert "Pointing my rifle" in " ".join(text.split())  # the conduct stays legible
    whys = {b.why for b in made.boxes}
    assert {"protected: religion", "protected: pregnancy", "protected: disability health", "image",
            "form field"} <= whys, whys
    assert sum(b.why == "image" for b in made.boxes) >= 2  # the <img> and the inline <svg>


def test_kept_conduct_words_stay_visible(redactor: Redactor) -> None:
    page = "<p>those Catholics down the street should leave, says my Catholic aunt</p>"
    made = redactor.render(job(page, focus=("those Catholics down the street",),
                               keep=("those Catholics down the street",)))
    assert [b.why for b in made.boxes] == ["protected: religion"]  # "Catholic aunt" only
    text = " ".join(ocr(made.png).split())
    assert "Catholics down the street" in text and "Catholic aunt" not in text


def test_nothing_is_fetched_and_nothing_runs(redactor: Redactor, tmp_path: Path) -> None:
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    page = (f'<html><head><link rel="stylesheet" href="{base}/css"><style>@import "{base}/import";'
            f'body{{background:url({base}/bg)}}</style><script src="{base}/js"></script>'
            f'<meta http-equiv="refresh" content="0;url={base}/refresh"></head><body>'
            f'<p id="t">Pointing my rifle</p><img src="{base}/img" width="10" height="10">'
            f'<iframe src="{base}/frame"></iframe><video poster="{base}/poster" src="{base}/video"></video>'
            f'<object data="{base}/object"></object><link rel="prefetch" href="{base}/prefetch">'
            f'<script>document.getElementById("t").textContent = "SCRIPT RAN"; fetch("{base}/fetch")</script>'
            f'<img src="x" onerror="this.alt=\'HANDLER RAN\'"></body></html>')
    try:
        made = redactor.render(job(page))
    finally:
        server.shutdown()
    assert hits == []
    text = ocr(made.png)
    assert "SCRIPT RAN" not in text and "Pointing my rifle" in " ".join(text.split())


def test_a_very_long_page_gives_a_legible_crop_around_the_finding(redactor: Redactor) -> None:
    """231,102 px of page: the picture is a readable window around the conduct, not a hairline."""
    page = ('<body style="margin:0;font:24px sans-serif"><div style="height:200000px">top</div>'
            '<p>Pointing my rifle at the mail carrier, a Baptist.</p><div style="height:31000px"></div>'
            '<p style="overflow-wrap:anywhere">' + "W" * 3000 + "</p></body>")
    made = redactor.render(job(page))
    assert made.height <= CROP_HEIGHT and made.width >= 480
    assert 200000 - 400 <= made.crop["y"] <= 200000
    text = " ".join(ocr(made.png).split())
    assert "Pointing my rifle at the mail carrier" in text and "Baptist" not in text


def _blank(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (255, 255, 255)).save(buf, format="PNG")
    return buf.getvalue()


def test_only_the_marked_evidence_image_is_shown(redactor: Redactor) -> None:
    page = ('<html><body style="margin:0"><p style="margin:0;height:50px">Pointing my rifle</p>'
            '<img id="gang" src="/media/1.png" width="200" height="100">'
            '<img id="other" src="/media/2.png" width="200" height="100"></body></html>')
    # The "original screenshot" with the images loaded: gang sign red, the other one green.
    original = Image.new("RGB", (1280, 720), (255, 255, 255))
    original.paste((220, 0, 0), (0, 50, 200, 150))
    original.paste((0, 200, 0), (200, 50, 400, 150))
    buf = io.BytesIO()
    original.save(buf, format="PNG")
    for mark in ("#gang", "/media/1.png", "https://social.example/media/1.png"):
        made = redactor.render(job(page, screenshot=buf.getvalue(), marks=(mark,)))
        picture = Image.open(io.BytesIO(made.png)).convert("RGB")
        x0 = made.crop["x"]
        assert picture.getpixel((100 - x0, 100)) == (220, 0, 0), mark  # the evidence, from the capture
        assert picture.getpixel((300 - x0, 100)) == (0, 0, 0), mark  # the other picture, covered
        assert made.evidence_shown == 1 and [b.why for b in made.boxes] == ["image"]
    # When the offline layout cannot match the screenshot, the marked picture stays covered.
    made = redactor.render(job(page, screenshot=_blank((1280, 999)), marks=("#gang",)))
    assert made.evidence_shown == 0 and len(made.boxes) == 2 and made.notes


# -- the workspace side: recorded, reused, verified, and what hiring staff get -------------
@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Built:
    root = tmp_path_factory.mktemp("redacted")
    b = Built(new_workspace(root))
    add_candidate_case(b, root, "pat-q", "Pat Q")
    run_steps(b, "pat-q")
    style = CORPUS[CORPUS.index("<style>"):CORPUS.index("</style>") + 8]
    text = style + CORPUS.split("<body>", 1)[1].split("</body>")[0]
    item = add_item(b, "pat-q", "corpus", text, title="Catholic weekend",
                    flags=[flag(text, "Pointing my rifle", "tactical-instruments", "IV.C.1.e", True)])
    validate(b, item, ("tactical-instruments",), discredit="Pointing a rifle at a home, posted publicly.")
    return b


def test_each_picture_is_an_audit_event_reused_until_its_inputs_change(case: Built) -> None:
    ws, case_id = case.ws, case.case_id("pat-q")
    first = redacted_pictures(ws, case_id, ["item-pat-q-corpus"])["item-pat-q-corpus"]
    events = [e for e in ws.audit.events(case_id=case_id) if e.action == "evidence.redacted"]
    assert len(events) == 1
    p = events[0].payload
    assert p["redacted"]["sha256"] == hashlib.sha256(first.png).hexdigest() == first.sha256
    item = case.items["item-pat-q-corpus"]
    source = next(a for a in item.artifacts() if a["kind"] == "response")
    shot = next(a for a in item.artifacts() if a["kind"] == "screenshot")
    assert p["source"]["sha256"] == source["sha256"] and p["original_screenshot_sha256"] == shot["sha256"]
    assert p["boxes"] and all(set(b) == {"x", "y", "w", "h", "why"} for b in p["boxes"])
    assert not any(w.lower() in str(p).lower() for w in HIDDEN_WORDS)  # the event names no masked word
    again = redacted_pictures(ws, case_id, ["item-pat-q-corpus"])["item-pat-q-corpus"]
    assert again.sha256 == first.sha256
    assert len([e for e in ws.audit.events(case_id=case_id) if e.action == "evidence.redacted"]) == 1


def test_a_changed_picture_is_detected_and_never_shown(case: Built, tmp_path: Path) -> None:
    from report_fixtures import clone

    from audit import verify_log

    b = clone(case, tmp_path)
    case_id = b.case_id("pat-q")
    redacted_pictures(b.ws, case_id, ["item-pat-q-corpus"])
    event = [e for e in b.ws.audit.events(case_id=case_id) if e.action == "evidence.redacted"][-1]
    path = b.ws.evidence_path(event.payload["redacted"]["path"])
    original = path.read_bytes()
    path.write_bytes(original[:-20] + bytes(20))  # a byte flip in the stored picture
    report = verify_log(b.ws.engine, b.ws.key_dir, evidence_root=b.ws.evidence_root)
    assert not report.ok and any(event.payload["redacted"]["path"] in str(p) for p in report.problems)
    view = redacted_pictures(b.ws, case_id, ["item-pat-q-corpus"])["item-pat-q-corpus"]
    assert view.png is not None and view.png != path.read_bytes()  # made again, not the tampered file


def test_hiring_staff_outputs_carry_no_masked_term(case: Built, tmp_path: Path) -> None:
    """The findings report, HTML and PDF: text, attributes, and OCR of every picture."""
    ws = case.ws
    item = case.items["item-pat-q-corpus"]
    terms = terms_in(item.text, item.title, *HIDDEN_WORDS)
    assert len(terms) >= 14
    html = build_document(ws, "findings", case.case_id("pat-q"), lambda: AT).html
    text, pictures = html_text_and_pictures(html)
    assert len(pictures) == 1
    assert found_terms(text, terms) == []
    assert found_terms(ocr(pictures[0]), terms) == []
    pdf = render_report(ws, "findings", case.case_id("pat-q"), "pdf", tmp_path / "f.pdf", "Capt. X", clock=lambda: AT)
    pdf_text, pdf_pictures = pdf_text_and_pictures(pdf)
    assert "Pointing my rifle" in pdf_text  # the oracle reads the PDF
    assert found_terms(pdf_text, terms) == []
    assert pdf_pictures
    for picture in pdf_pictures:
        assert found_terms(ocr(picture), terms) == []


def test_no_html_archived_means_no_picture_never_the_screenshot(tmp_path: Path) -> None:
    """A capture without HTML (an image or a PDF at the address): hiring staff get a note, not
    the stored screenshot."""
    import json

    from vetting.domain.models import Item

    b = Built(new_workspace(tmp_path))
    add_candidate_case(b, tmp_path, "lee-q", "Lee Q")
    run_steps(b, "lee-q")
    item = add_item(b, "lee-q", "image", "Pointing my rifle at a Baptist church.", title="A photo")
    with b.ws.session() as s:
        row = s.get(Item, item.id)
        row.artifacts_json = json.dumps([a for a in row.artifacts() if a["kind"] != "response"])
        s.add(row)
        s.commit()
    validate(b, item)
    html = build_document(b.ws, "findings", b.case_id("lee-q"), lambda: AT).html
    text, pictures = html_text_and_pictures(html)
    assert pictures == [] and "nothing of the page's HTML was archived" in text


def test_a_page_that_cannot_be_drawn_gets_a_note_and_the_next_one_a_picture(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A page whose drawing fails (here the browser's own timeout error, raised for one page)
    costs its own picture only: the report gets a note, never the screenshot, and the next
    page is drawn on a new browser page."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    import vetting.reports.redaction

    b = Built(new_workspace(tmp_path))
    add_candidate_case(b, tmp_path, "ray-q", "Ray Q")
    run_steps(b, "ray-q")
    slow = add_item(b, "ray-q", "slow", "<p>Pointing my rifle</p>")
    fine = add_item(b, "ray-q", "fine", "<p>Pointing my rifle at a Baptist.</p>")
    validate(b, slow)
    validate(b, fine)
    real_draw = vetting.reports.redaction.Redactor._draw

    def draw(self, page, job, *args):  # type: ignore[no-untyped-def]
        if job.item_id == slow.id:
            raise PlaywrightTimeout("Timeout 60000ms exceeded.\n=== logs ===")
        return real_draw(self, page, job, *args)

    monkeypatch.setattr(vetting.reports.redaction.Redactor, "_draw", draw)
    views = redacted_pictures(b.ws, b.case_id("ray-q"), [slow.id, fine.id])
    assert views[slow.id].png is None
    assert views[slow.id].note == ("no picture: the archived page could not be drawn offline "
                                   "(TimeoutError: Timeout 60000ms exceeded.)")
    assert views[fine.id].png is not None and "Baptist" not in ocr(views[fine.id].png)
    html = build_document(b.ws, "findings", b.case_id("ray-q"), lambda: AT).html
    assert "could not be drawn offline" in html and len(html_text_and_pictures(html)[1]) == 1


def test_no_picture_loads_offline_even_inline_ones(redactor: Redactor) -> None:
    """Even uncovered, the offline page shows no image: data: URIs in <img>, CSS backgrounds and
    generated content are refused by the page's Content-Security-Policy (default-src 'none')."""
    import base64

    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="80"><rect width="600" height="80" '
           'fill="white"/><text x="10" y="55" font-size="48" fill="black">SIKH GURDWARA</text></svg>')
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    page = (f'<p>Pointing my rifle</p><img src="{uri}" width="600" height="80">'
            f'<div style="width:600px;height:80px;background:url({uri})"></div>'
            f'<style>.x::before{{content:url({uri})}}</style><div class="x"></div>')
    control = redactor.render(job(page), cover=False)
    text = ocr(control.png)
    assert "Pointing my rifle" in " ".join(text.split()) and "GURDWARA" not in text.upper()
    shown = ocr(redactor.render(job("<p>Pointing my rifle</p><p style='font-size:48px'>SIKH GURDWARA</p>"),
                                cover=False).png)
    assert "GURDWARA" in shown.upper()  # the same words as text are read: the check above can fail


def test_list_markers_and_shadow_roots_hide_nothing(redactor: Redactor) -> None:
    """Words drawn as list markers, and text in a (closed) declarative shadow root, which no
    script can read, are never shown uncovered."""
    page = ('<p>Pointing my rifle</p><ul style="font-size:32px;margin-left:200px">'
            '<li style="list-style-type:\'Catholic \'">first</li>'
            '<li><style>li.m::marker{content:"Jewish "}</style></li><li class="m">second</li></ul>'
            '<div><template shadowrootmode="closed"><p style="font-size:40px">Mormon elders</p></template>'
            '<p>light</p></div>')
    text = ocr(redactor.render(job(page)).png)
    assert found_terms(text, ["Catholic", "Jewish", "Mormon"]) == [], text
    assert "second" in text and "light" in text and "Pointing my rifle" in text
    control = ocr(redactor.render(job(page), cover=False).png)
    assert found_terms(control, ["Catholic", "Jewish"]) == ["Catholic", "Jewish"], control
