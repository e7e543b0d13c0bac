"""The one-page PDF of an invoice (fpdf2).

:func:`render` takes an :class:`InvoiceDocument` (plain values, gathered by the API from the
plugin's row and the FHIR Patient and Practitioner) and returns the PDF bytes. Text is set
in DejaVu Sans (regular and bold), embedded as a subset: a Unicode TrueType font shipped
with the plugin (``fonts/``, with its licence), so names keep every accent and script it
covers (Latin with all its diacritics, Greek, Cyrillic, Armenian, Georgian, Hebrew,
Arabic...) and read back exactly from the PDF's text. A character the font lacks (Chinese,
Japanese, Devanagari...) is written as ``?``, never dropped silently. The PDF core fonts
(Helvetica) would have covered Windows-1252 only.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from plugins.invoicing.money import format_money, rate_percent

FONT = "DejaVuSans"
FONT_DIR = Path(__file__).resolve().parent / "fonts"
FONT_FILES = {"": FONT_DIR / "DejaVuSans.ttf", "B": FONT_DIR / "DejaVuSans-Bold.ttf"}
"""The font file of each style used (regular, bold); ``fonts/LICENSE`` is their licence."""
MISSING = "?"
LABEL_W = 45.0
AMOUNT_W = 50.0
LINE_H = 7.0


@dataclass(frozen=True)
class InvoiceDocument:
    """What the PDF shows."""

    issuer: str
    number: str
    date: str
    """The day of issue (``2026-12-01``)."""
    patient_name: str
    practitioner_name: str
    appointment: str
    """When the consultation took place, as shown."""
    service: str
    currency: str
    net: int
    tax: int
    gross: int
    tax_rate_bp: int


@cache
def covered() -> frozenset[int]:
    """The code points both embedded styles have glyphs for (read once per process)."""
    points: set[int] | None = None
    for path in FONT_FILES.values():
        font = TTFont(path, lazy=True)
        try:
            mapped = set(font.getBestCmap() or {})
        finally:
            font.close()
        points = mapped if points is None else points & mapped
    return frozenset(points or ())


def printable(text: str) -> str:
    """``text`` (NFC) as the PDF can write it: control and other unprintable characters
    become spaces, characters the font lacks become ``?``; everything else is kept, marks
    included (the grave of "ọ̀", which has no precomposed form)."""
    glyphs = covered()
    out = []
    for char in unicodedata.normalize("NFC", text):
        if not char.isprintable():
            out.append(" ")
        elif ord(char) in glyphs:
            out.append(char)
        else:
            out.append(MISSING)
    return "".join(out)


def _fit(pdf: FPDF, text: str, width: float) -> str:
    """``text`` cut (with an ellipsis) to fit ``width`` in the current font."""
    text = printable(text)
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def render(doc: InvoiceDocument) -> bytes:
    """The invoice as a one-page A4 PDF."""
    pdf = FPDF(format="A4")
    for style, path in FONT_FILES.items():
        pdf.add_font(FONT, style, str(path))
    pdf.set_auto_page_break(False)
    pdf.set_margins(20, 20, 20)
    pdf.set_title(printable(f"Invoice {doc.number}"))
    pdf.set_author(printable(doc.issuer))
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT, "B", 16)
    pdf.cell(width / 2, 10, _fit(pdf, doc.issuer, width / 2))
    pdf.set_font(FONT, "B", 20)
    pdf.cell(width / 2, 10, "INVOICE", align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)

    pdf.set_font(FONT, "", 11)
    for label, value in (
        ("Invoice number", doc.number),
        ("Date issued", doc.date),
        ("Patient", doc.patient_name),
        ("Practitioner", doc.practitioner_name),
        ("Appointment", doc.appointment),
    ):
        pdf.set_font(FONT, "B", 11)
        pdf.cell(LABEL_W, LINE_H, label)
        pdf.set_font(FONT, "", 11)
        pdf.cell(
            width - LABEL_W,
            LINE_H,
            _fit(pdf, value, width - LABEL_W),
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(8)

    pdf.set_font(FONT, "B", 11)
    pdf.cell(width - AMOUNT_W, LINE_H, "Description", border="B")
    pdf.cell(AMOUNT_W, LINE_H, "Amount", border="B", align=Align.R)
    pdf.ln(LINE_H + 1)
    pdf.set_font(FONT, "", 11)
    pdf.cell(width - AMOUNT_W, LINE_H, _fit(pdf, doc.service, width - AMOUNT_W - 2))
    pdf.cell(AMOUNT_W, LINE_H, format_money(doc.net, doc.currency), align=Align.R)
    pdf.ln(LINE_H + 4)

    totals = (
        ("Net", doc.net, ""),
        (f"Tax ({rate_percent(doc.tax_rate_bp)})", doc.tax, ""),
        ("Total", doc.gross, "B"),
    )
    for label, amount, style in totals:
        pdf.set_font(FONT, style, 11)
        border = "T" if label == "Total" else 0
        pdf.cell(width - AMOUNT_W, LINE_H, label, border=border, align=Align.R)
        pdf.cell(
            AMOUNT_W,
            LINE_H,
            format_money(amount, doc.currency),
            border=border,
            align=Align.R,
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    pdf.ln(10)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(
        width,
        5,
        printable(
            f"Amounts in {doc.currency}. Tax is charged at {rate_percent(doc.tax_rate_bp)} "
            "of the net amount, rounded half up to the smallest currency unit."
        ),
        align=Align.L,
    )
    return bytes(pdf.output())
