"""Fax documents to page images, and annotated pages back to a PDF.

PDFs are rendered with pypdfium2 (PDFium, wheels on PyPI for every platform CI runs),
multi-page TIFFs (what fax machines produce) with Pillow. No external binaries.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

MAX_PAGES = 200
MAX_PIXELS = 40_000_000  # per page: a hostile page size must not eat the memory


class CorruptDocument(ValueError):
    """The bytes are no readable PDF or TIFF."""


def kind_of(data: bytes) -> str | None:
    if data[:5] == b"%PDF-" or b"%PDF-" in data[:1024]:
        return "application/pdf"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def render_pages(data: bytes, *, dpi: int = 100) -> list[Image.Image]:
    """Every page as an RGB image. Raises :class:`CorruptDocument`."""
    kind = kind_of(data)
    if kind == "application/pdf":
        return _render_pdf(data, dpi)
    if kind == "image/tiff":
        return _render_tiff(data)
    raise CorruptDocument("not a PDF or TIFF document")


def _render_pdf(data: bytes, dpi: int) -> list[Image.Image]:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:  # PdfiumError and friends: the bytes are the problem
        raise CorruptDocument(f"unreadable PDF: {exc}") from exc
    try:
        count = len(pdf)
        if count == 0:
            raise CorruptDocument("the PDF has no pages")
        if count > MAX_PAGES:
            raise CorruptDocument(f"the PDF has {count} pages (at most {MAX_PAGES})")
        pages = []
        for index in range(count):
            page = pdf[index]
            try:
                width, height = page.get_size()
                scale = dpi / 72
                if width * height * scale * scale > MAX_PIXELS:
                    scale = (MAX_PIXELS / (width * height)) ** 0.5
                bitmap = page.render(scale=scale)
                pages.append(bitmap.to_pil().convert("RGB"))
            except CorruptDocument:
                raise
            except Exception as exc:
                raise CorruptDocument(f"page {index + 1} cannot be rendered: {exc}") from exc
            finally:
                page.close()
        return pages
    finally:
        pdf.close()


def _render_tiff(data: bytes) -> list[Image.Image]:
    try:
        image = Image.open(io.BytesIO(data))
        pages = []
        for index in range(MAX_PAGES + 1):
            try:
                image.seek(index)
            except EOFError:
                break
            if index == MAX_PAGES:
                raise CorruptDocument(f"the TIFF has more than {MAX_PAGES} pages")
            if image.width * image.height > MAX_PIXELS:
                raise CorruptDocument("a TIFF page is too large")
            pages.append(image.convert("RGB"))
    except CorruptDocument:
        raise
    except Exception as exc:
        raise CorruptDocument(f"unreadable TIFF: {exc}") from exc
    if not pages:
        raise CorruptDocument("the TIFF has no pages")
    return pages


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


# Pillow's built-in font has no Polish or Ukrainian letters: prefer a system font with
# them (Debian: fonts-dejavu-core), fall back to the built-in one.
FONT_CANDIDATES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> Any:
    for name in FONT_CANDIDATES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


STAMP_RGB = (200, 20, 20)
HIGHLIGHT_RGBA = (255, 230, 0, 110)
COMMENT_RGB = (20, 60, 170)


def draw_annotations(page: Image.Image, annotations: Iterable[Any]) -> Image.Image:
    """A copy of ``page`` with ``annotations`` (objects with kind, x, y, width, height,
    text, color) drawn on it; coordinates are fractions of the page."""
    base = page.convert("RGBA")
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    w, h = base.size
    font_size = max(12, h // 60)
    font = _font(font_size)
    for ann in annotations:
        x0, y0 = int(ann.x * w), int(ann.y * h)
        x1 = int((ann.x + (ann.width or 0)) * w)
        y1 = int((ann.y + (ann.height or 0)) * h)
        if ann.kind == "highlight":
            draw.rectangle([x0, y0, max(x1, x0 + 2), max(y1, y0 + 2)], fill=HIGHLIGHT_RGBA)
        elif ann.kind == "stamp":
            text = ann.text or ""
            box = draw.multiline_textbbox((x0 + 8, y0 + 6), text, font=font)
            draw.rectangle(
                [x0, y0, max(x1, box[2] + 8), max(y1, box[3] + 6)], outline=STAMP_RGB, width=3
            )
            draw.multiline_text((x0 + 8, y0 + 6), text, fill=STAMP_RGB, font=font)
        else:
            text = ann.text or ""
            box = draw.multiline_textbbox((x0 + 6, y0 + 4), text, font=font)
            draw.rectangle(
                [x0, y0, max(x1, box[2] + 6), max(y1, box[3] + 4)],
                fill=(255, 250, 205, 235),
                outline=COMMENT_RGB,
                width=2,
            )
            draw.multiline_text((x0 + 6, y0 + 4), text, fill=COMMENT_RGB, font=font)
    return Image.alpha_composite(base, overlay).convert("RGB")


def pages_to_pdf(pages: Sequence[Image.Image], *, dpi: int) -> bytes:
    out = io.BytesIO()
    first, rest = pages[0], list(pages[1:])
    first.save(out, format="PDF", save_all=True, append_images=rest, resolution=float(dpi))
    return out.getvalue()


def text_to_pdf(text: str, *, title: str | None = None, dpi: int = 100) -> bytes:
    """A fax document generated from typed text (a letter, a reply to an order): A4 pages,
    wrapped lines, the title on top of the first page."""
    import textwrap

    width, height = int(8.27 * dpi), int(11.69 * dpi)
    margin = dpi // 2
    body_font, title_font = _font(max(12, dpi // 7)), _font(max(16, dpi // 4))
    line_height = int(max(12, dpi // 7) * 1.45)
    chars = max(20, int((width - 2 * margin) / (max(12, dpi // 7) * 0.55)))
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        lines.extend(textwrap.wrap(paragraph, chars) or [""])
    pages: list[Image.Image] = []
    y = height  # start a page at once
    draw: ImageDraw.ImageDraw | None = None
    for index, line in enumerate(lines):
        if draw is None or y + line_height > height - margin:
            page = Image.new("RGB", (width, height), "white")
            pages.append(page)
            draw = ImageDraw.Draw(page)
            y = margin
            if title and len(pages) == 1:
                draw.text((margin, y), title, fill="black", font=title_font)
                y += line_height * 2
        draw.text((margin, y), line, fill="black", font=body_font)
        y += line_height
        if index > MAX_PAGES * 80:
            break
    if not pages:
        pages.append(Image.new("RGB", (width, height), "white"))
    return pages_to_pdf(pages, dpi=dpi)
