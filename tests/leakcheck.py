"""Test oracles for the firewall's promise to hiring staff: read a hiring-staff output the way
a person (or a machine) could, and list the masked terms found in it.

* HTML: every text node and every attribute value (a term in an ``alt`` or ``title`` leaks too);
* PDF: ``pdftotext`` (poppler-utils) for its text, ``pdfimages`` for its pictures;
* pictures: OCR with ``tesseract`` (tesseract-ocr), run as a subprocess.

Terms are compared folded (case, diacritics) and whole-word, whitespace-insensitive; the
firewall's own labels (``[protected: religion]``) are removed first, they name a category, not
the candidate's.
"""

from __future__ import annotations

import base64
import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from bs4 import BeautifulSoup

from vetting.screening.firewall import find_protected
from vetting.screening.names import fold

_LABEL = re.compile(r"\[protected: [a-z ]+\]")


def normalise(text: str) -> str:
    return " ".join(fold(_LABEL.sub(" ", text)).split())


def found_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The terms that occur in ``text`` (folded, whole words, any whitespace between words)."""
    haystack = normalise(text)
    out = []
    for term in sorted(set(terms)):
        words = re.findall(r"\w+", fold(term))
        if words and re.search(r"(?<!\w)" + r"\W+".join(map(re.escape, words)) + r"(?!\w)", haystack):
            out.append(term)
    return out


def terms_in(*texts: str) -> set[str]:
    """Every protected mention the firewall finds in the given texts (one spelling per folded form)."""
    found: dict[str, str] = {}
    for t in texts:
        for m in find_protected(t):
            found.setdefault(" ".join(fold(m.text).split()), m.text)
    return set(found.values())


def ocr(png: bytes) -> str:
    """Text tesseract reads in a picture (upscaled 2x first: it reads small print better)."""
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    image = image.resize((image.width * 2, image.height * 2))
    buf = BytesIO()
    image.save(buf, format="PNG")
    result = subprocess.run(["tesseract", "stdin", "stdout", "--psm", "3"], input=buf.getvalue(),
                            capture_output=True, timeout=300, check=True)
    return result.stdout.decode("utf-8", errors="replace")


def html_text_and_pictures(html: str) -> tuple[str, list[bytes]]:
    """All the text and attribute values of an HTML document, and its embedded pictures."""
    from bs4 import NavigableString

    soup = BeautifulSoup(html, "html.parser")
    # every string, the <title>, <style> and the JSON data block included (get_text skips them)
    pieces = [str(s) for s in soup.descendants if isinstance(s, NavigableString)]
    pictures = []
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if tag.name == "img" and name == "src" and value.startswith("data:image/"):
                pictures.append(base64.b64decode(value.split(",", 1)[1]))
            else:
                pieces.append(value)
    return "\n".join(pieces), pictures


def pdf_text_and_pictures(pdf: Path) -> tuple[str, list[bytes]]:
    """``pdftotext`` of a PDF, and its images as PNG (``pdfimages -png``)."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True,
                          timeout=300).stdout.decode("utf-8", errors="replace")
    with tempfile.TemporaryDirectory(prefix="pdfimages") as tmp:
        subprocess.run(["pdfimages", "-png", str(pdf), f"{tmp}/img"], check=True, capture_output=True, timeout=300)
        pictures = [p.read_bytes() for p in sorted(Path(tmp).glob("img-*.png"))]
    return text, pictures
