"""Transcripts as PDF, with fpdf2: headings, labelled fields and wrapped plain-text bodies.

Unicode: DejaVu Sans is embedded when it is installed (one of `FONT_DIRS`), with a CJK fallback
font where one of `FALLBACK_FONTS` exists; a character none of the loaded fonts has is drawn as
U+FFFD. Without DejaVu Sans the PDF uses the core Helvetica font, which knows only latin-1:
every other character is then replaced by `?`. No html is rendered, only text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TTFFont

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
)
FALLBACK_FONTS = (
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts/truetype/arphic-gkai00mp/gkai00mp.ttf"),
)
REPLACEMENT = "\ufffd"
MARGIN_MM = 15


@dataclass(frozen=True)
class Section:
    """One part of a transcript: a heading line, labelled fields, and free text."""

    heading: str
    fields: tuple[tuple[str, str], ...] = ()
    text: str = ""


@dataclass(frozen=True)
class Fonts:
    """Where the Unicode fonts are; `regular=None` means the core latin-1 Helvetica."""

    regular: Path | None
    bold: Path | None = None
    fallback: Path | None = None

    @classmethod
    def installed(cls) -> Fonts:
        regular = _first(d / "DejaVuSans.ttf" for d in FONT_DIRS)
        if regular is None:
            return cls(None)
        bold = regular.with_name("DejaVuSans-Bold.ttf")
        return cls(regular, bold if bold.is_file() else None, _first(FALLBACK_FONTS))


def _first(paths: Iterable[Path]) -> Path | None:
    return next((path for path in paths if path.is_file()), None)


class _Document(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-MARGIN_MM + 3)
        self.set_font(self.body_family, size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}    {self.page_no()}/{{nb}}", align="R")

    body_family = "helvetica"


def render_pdf(
    title: str,
    sections: Sequence[Section],
    *,
    footer: str = "",
    created_at: datetime | None = None,
    fonts: Fonts | None = None,
) -> bytes:
    """The first section is the header; each further one starts with a rule and its heading."""
    fonts = Fonts.installed() if fonts is None else fonts
    pdf = _Document(format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_MM + 5)
    clean = _setup_fonts(pdf, fonts)
    pdf.footer_text = clean(footer)
    pdf.set_title(clean(title))
    if created_at is not None:
        pdf.set_creation_date(created_at)
    pdf.add_page()
    for number, section in enumerate(sections):
        if number:
            pdf.ln(2)
            pdf.set_draw_color(180)
            pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
            pdf.ln(2)
        _write(pdf, section, clean, size=14 if number == 0 else 10)
    return bytes(pdf.output())


def _setup_fonts(pdf: _Document, fonts: Fonts) -> _Clean:
    if fonts.regular is None:
        pdf.body_family = "helvetica"
        return _Clean(None)
    pdf.add_font("body", "", str(fonts.regular))
    pdf.add_font("body", "B", str(fonts.bold or fonts.regular))
    covered = _characters(pdf, "body")
    if fonts.fallback is not None:
        pdf.add_font("fallback", "", str(fonts.fallback))
        covered |= _characters(pdf, "fallback")
        pdf.set_fallback_fonts(["fallback"], exact_match=False)
    pdf.body_family = "body"
    return _Clean(frozenset(covered))


def _characters(pdf: FPDF, key: str) -> set[int]:
    font = pdf.fonts[key]
    return set(font.cmap) if isinstance(font, TTFFont) else set()


class _Clean:
    """Text made printable: tabs as spaces, control characters dropped, and characters the
    fonts lack replaced (by U+FFFD, or `?` with the latin-1 core font)."""

    def __init__(self, covered: frozenset[int] | None) -> None:
        self.covered = covered

    def __call__(self, text: str) -> str:
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
        kept = "".join(c for c in text if c == "\n" or not unicodedata.category(c).startswith("C"))
        if self.covered is None:
            return kept.encode("latin-1", "replace").decode("latin-1")
        return "".join(c if c == "\n" or ord(c) in self.covered else REPLACEMENT for c in kept)


def _write(pdf: _Document, section: Section, clean: _Clean, *, size: int) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_text_color(0)
    pdf.set_font(pdf.body_family, "B", size)
    pdf.multi_cell(width, size * 0.5, clean(section.heading), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.body_family, "", 9)
    pdf.set_text_color(60)
    for label, value in section.fields:
        pdf.multi_cell(width, 4.5, clean(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
    if section.text:
        pdf.ln(2)
        pdf.set_text_color(0)
        pdf.set_font(pdf.body_family, "", 10)
        pdf.multi_cell(width, 5, clean(section.text.rstrip()), new_x="LMARGIN", new_y="NEXT")
