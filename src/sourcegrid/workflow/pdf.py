"""Small PDF writer for dossiers and assessments (reportlab, Chinese text).

Chinese needs a CJK font: reportlab's built-in CID font ``STSong-Light``
(Adobe-GB1 character collection, :class:`reportlab.pdfbase.cidfonts.UnicodeCIDFont`)
works without font files; the PDF names the font and the viewer supplies the
glyphs (Acrobat, pdf.js, poppler with poppler-data). Nothing is downloaded.

A document is a list of blocks ``(kind, content)``: ``title`` (text),
``heading`` (text), ``text`` (text), ``pairs`` (list of (label, value)),
``table`` ((columns, rows) of text), ``trend`` (a DataFrame date, cell, city drawn
as two lines).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CJK_FONT", "build_pdf"]

#: reportlab's built-in CID font for Simplified Chinese (no font file needed).
CJK_FONT = "STSong-Light"
_MAX_ROWS = 200


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if CJK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
    return CJK_FONT


#: Characters outside Adobe-GB1 that the CID font cannot show, and their stand-ins.
_OUTSIDE_GB1 = str.maketrans({"µ": "u", "³": "3", "²": "2", "–": "-", "₂": "2", "₃": "3",
                              "₅": "5", "−": "-"})


def _escape(text: str) -> str:
    text = str(text).translate(_OUTSIDE_GB1)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trend_drawing(trend: pd.DataFrame, width: float, font: str):
    from reportlab.graphics.shapes import Drawing, Line, PolyLine, String
    from reportlab.lib import colors

    height = 150
    drawing = Drawing(width, height)
    values = trend[["cell", "city"]].to_numpy(float)
    top = float(np.nanmax(values)) * 1.1 if np.isfinite(values).any() else 1.0
    left, bottom, right = 36, 20, width - 10
    drawing.add(Line(left, bottom, right, bottom, strokeColor=colors.grey))
    drawing.add(Line(left, bottom, left, height - 5, strokeColor=colors.grey))
    for fraction in (0.5, 1.0):
        y = bottom + (height - 5 - bottom) * fraction
        drawing.add(String(2, y - 3, f"{top * fraction:.0f}", fontName=font, fontSize=7))
    n = len(trend)
    for column, colour in (("cell", colors.HexColor("#c0392b")),
                           ("city", colors.HexColor("#2c3e50"))):
        points = []
        for i, v in enumerate(trend[column].to_numpy(float)):
            if np.isfinite(v):
                points += [left + (right - left) * i / max(n - 1, 1),
                           bottom + (height - 5 - bottom) * v / top]
        if len(points) >= 4:
            drawing.add(PolyLine(points, strokeColor=colour, strokeWidth=1.2))
    drawing.add(String(left, 4, f"{trend['date'].iloc[0]}", fontName=font, fontSize=7))
    drawing.add(String(right - 50, 4, f"{trend['date'].iloc[-1]}", fontName=font, fontSize=7))
    drawing.add(String(left + 80, 4, "— cell 网格   — city 全市", fontName=font, fontSize=7,
                       fillColor=colors.HexColor("#555555")))
    return drawing


def build_pdf(path: str | Path, blocks: list[tuple[str, object]], *, title: str = "") -> Path:
    """Write ``blocks`` (see the module docstring) as an A4 landscape PDF at ``path``."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import (
        LongTable,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        TableStyle,
    )

    font = _font()
    styles = {
        "title": ParagraphStyle("title", fontName=font, fontSize=16, leading=20, spaceAfter=6),
        "heading": ParagraphStyle("heading", fontName=font, fontSize=12, leading=15,
                                  spaceBefore=8, spaceAfter=4,
                                  textColor=colors.HexColor("#1f4e79")),
        "text": ParagraphStyle("text", fontName=font, fontSize=9, leading=12),
        "cell": ParagraphStyle("cell", fontName=font, fontSize=7, leading=9),
    }
    page = landscape(A4)
    document = SimpleDocTemplate(str(path), pagesize=page, leftMargin=12 * mm,
                                 rightMargin=12 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                                 title=title, author="sourcegrid")
    width = page[0] - 24 * mm
    story = []
    for kind, content in blocks:
        if kind in ("title", "heading", "text"):
            story.append(Paragraph(_escape(content), styles[kind]))
        elif kind == "pairs":
            rows = [[Paragraph(_escape(k), styles["cell"]), Paragraph(_escape(v), styles["cell"])]
                    for k, v in content]
            if rows:
                table = LongTable(rows, colWidths=[width * 0.25, width * 0.75])
                table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                                           ("VALIGN", (0, 0), (-1, -1), "TOP")]))
                story.append(table)
        elif kind == "table":
            columns, rows = content
            shown = rows[:_MAX_ROWS]
            data = [[Paragraph(_escape(c), styles["cell"]) for c in columns]]
            data += [[Paragraph(_escape(v), styles["cell"]) for v in row] for row in shown]
            table = LongTable(data, colWidths=[width / max(len(columns), 1)] * len(columns),
                              repeatRows=1)
            table.setStyle(TableStyle([
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde6f0")),
                ("VALIGN", (0, 0), (-1, -1), "TOP")]))
            story.append(table)
            if len(rows) > _MAX_ROWS:
                story.append(Paragraph(f"{_MAX_ROWS} of {len(rows)} rows shown",
                                       styles["text"]))
        elif kind == "trend":
            story.append(_trend_drawing(content, width, font))
        else:  # pragma: no cover - programming error
            raise ValueError(f"unknown block kind {kind!r}")
        story.append(Spacer(1, 2 * mm))
    document.build(story)
    return Path(path)
