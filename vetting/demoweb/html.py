"""House style of the demo sites: one plain HTML5 page shape, escaping helpers.

Every page is server-built from the data files, so everything taken from data goes through
:func:`esc`; only ``/scripts`` on the hostile host serves hostile markup, on purpose.
"""

from __future__ import annotations

import html

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;"
          "color:#222}header{border-bottom:1px solid #ccc;margin-bottom:1rem}"
          ".post{border:1px solid #ddd;border-radius:6px;padding:.6rem .8rem;margin:.6rem 0}"
          "time{color:#666;font-size:.85em}img{max-width:100%;display:block}")


def esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def esc_text(value: object) -> str:
    """HTML-escape element text (``<``, ``>``, ``&`` only), so markers like "isn't" stay verbatim."""
    return html.escape(str(value), quote=False)


def page(brand: str, title: str, body: str, head: str = "") -> str:
    """A complete page: ``brand`` and ``title`` are escaped, ``body`` and ``head`` are markup."""
    return (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{esc(title)} · {esc(brand)}</title><style>{_STYLE}</style>{head}</head>\n"
            f"<body><header><a href=\"/\"><strong>{esc(brand)}</strong></a>"
            f" <small>(fictional demo site)</small></header>\n<main>\n{body}\n</main>\n"
            f"<footer><small>All people and content on this site are fictional.</small></footer>"
            f"</body></html>\n")


def time_tag(iso: str) -> str:
    """``<time datetime=...>`` with the date shown as YYYY-MM-DD."""
    return f'<time datetime="{esc(iso)}">{esc(iso[:10])}</time>'


def svg_image(label: str, width: int = 480, height: int = 320) -> bytes:
    """A placeholder picture: a grey box whose caption is the photo's description."""
    text = esc(label[:70])
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{text}</title>'
            f'<rect width="100%" height="100%" fill="#d9dde3"/>'
            f'<text x="50%" y="50%" font-size="14" text-anchor="middle" fill="#333">{text}</text>'
            f"</svg>").encode()


def login_form(site: str, next_url: str, intro: str = "", user_label: str = "Email") -> str:
    """The body of a demo login page: a password form the guard must recognise as a wall."""
    return (f"<h1>Log in to {esc(site)}</h1>{intro}"
            '<form method="post" action="/login">'
            f'<label>{esc(user_label)} <input name="user"></label>'
            '<label>Password <input type="password" name="password"></label>'
            f'<input type="hidden" name="next" value="{esc(next_url)}">'
            '<button type="submit">Log in</button></form>')


def png_with_text(lines: list[str], width: int = 480, height: int = 200) -> bytes:
    """A picture with words painted into its pixels (a meme, a photographed sign): the text is
    in no DOM node and no alt attribute, only in the image, as OCR would find it."""
    import io

    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), (250, 236, 200))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=30)
    step = height // (len(lines) + 1)
    for n, line in enumerate(lines, 1):
        draw.text((width // 2, n * step), line, fill=(20, 20, 20), font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
