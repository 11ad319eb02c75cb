"""Self-contained HTML pages: the leaderboard's and the report's shared frame and table builder.

A page is one file: CSS, the plotter (plotjs.py), the data as embedded JSON and the page's own
``draw(data)`` function. Nothing is loaded from the network. Tables are written as HTML here (so
they read without JavaScript); the script makes them sortable and draws the plots.
"""

from __future__ import annotations

import json
from html import escape

from .plotjs import SCRIPT, STYLE

# "<", ">" and "&" in the embedded JSON (only ever inside its strings) as JSON escapes: "</script>"
# would end the script element early, and "<!--" followed by "<script" makes the HTML parser read
# past the closing tag (a pipeline named "<!--<script>" once left the page without data).
# JSON.parse reads the escapes back as the characters; U+2028/2029 are valid in JSON and JS alike.
_EMBED = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def embedded_json(data) -> str:
    """``data`` as JSON text that is safe inside ``<script type="application/json">``: no ``<``,
    ``>`` or ``&`` appears in it (each written as its ``\\u`` escape)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).translate(_EMBED)


def page(title: str, body: str, data, draw_js: str) -> str:
    """The whole document. ``draw_js`` defines ``function draw(data)``, called once loaded."""
    payload = embedded_json(data)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f'<pre id="errors" hidden></pre>\n{body}\n'
            f'<script type="application/json" id="data">{payload}</script>\n'
            f"<script>{SCRIPT}\n{draw_js}\nH.run(draw);\n</script>\n</body>\n</html>\n")


def cell(html: str, sort=None, cls: str = "") -> dict:
    """A table cell: its inner HTML (already escaped), the value it sorts by, its class."""
    return {"html": html, "sort": sort, "cls": cls}


def text_cell(text) -> dict:
    return cell(escape(str(text)), None, "text")


def table(headers: list[tuple[str, str]], rows: list[tuple[list[dict], str]], ident: str = "") -> str:
    """A sortable table: ``headers`` as (label, class), ``rows`` as (cells, row class)."""
    head = "".join(f'<th class="{c}">{escape(h)}</th>' for h, c in headers)
    body = []
    for cells, row_class in rows:
        tds = []
        for c in cells:
            sort = "" if c["sort"] is None else f' data-v="{escape(str(c["sort"]))}"'
            tds.append(f'<td class="{c["cls"]}"{sort}>{c["html"]}</td>')
        body.append(f'<tr class="{row_class}">{"".join(tds)}</tr>')
    name = f' id="{ident}"' if ident else ""
    return (f'<table class="sortable"{name}><thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(body) + "\n</tbody></table>")


def bullets(items: list[str], cls: str = "meta") -> str:
    """A list of already-escaped HTML items."""
    return f'<ul class="{cls}">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if items else ""


def number(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else escape(str(value))
