"""The one-page PDF of an invoice (fpdf2).

:func:`render` takes an :class:`InvoiceDocument` (plain values, gathered by the API from the
plugin's row and the FHIR Patient and Practitioner) and returns the PDF bytes. Text uses
the PDF core font Helvetica, which needs no font file but covers Windows-1252 only (Latin-1
plus ``€``, ``Œ``, typographic quotes...): other characters are written without their
accents where that makes them fit (``Ọ`` as ``O``, ``Ṣ`` as ``S``), and as ``?`` otherwise.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from plugins.invoicing.money import format_money, rate_percent

FONT = "Helvetica"
ENCODING = "windows-1252"
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


def printable(text: str) -> str:
    """``text`` in characters the core fonts can write (see the module docstring)."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        if _encodable(char):
            out.append(char)
            continue
        if unicodedata.combining(char):
            continue  # a mark left over after NFC (the grave of "ọ̀"): dropped
        bare = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
        out.append(bare if bare and _encodable(bare) else "?")
    return "".join(out)


def _encodable(text: str) -> bool:
    try:
        text.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return text.isprintable()


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
    pdf.core_fonts_encoding = ENCODING
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
