"""Write a report: a list of blocks (headings, text, tables, images) as README-ready markdown with
relative image links, as one self-contained HTML file with images embedded, and tables as CSV.

Knows nothing about benchmarks: it formats what reports.document assembled. Text may come from
a stranger's results (a device name, a reason, a path), so each format escapes it for itself:
markdown gets no raw HTML, links or table-breaking pipes and newlines (`md_text`), HTML is
escaped by the standard library, and a CSV cell never starts a spreadsheet formula (`csv_cell`).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from bench.safetext import printable
from reports.tables import Table

if TYPE_CHECKING:  # a report without figures never imports matplotlib
    from reports.canvas import Plot

MD_FILE, HTML_FILE = "report.md", "report.html"
CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
th, td { border: 1px solid #ccc; padding: 0.2rem 0.45rem; text-align: left; vertical-align: top; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 0.3rem 0; }
.notes { font-size: 0.8rem; color: #555; margin-top: -0.6rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; }
figcaption { font-size: 0.85rem; color: #555; }
.warning { border-left: 4px solid #b00; background: #fff3f3; padding: 0.5rem 0.8rem; }
"""


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Alert:
    """A paragraph the reader must not miss (the run-level noise verdict)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class TableBlock:
    table: Table


@dataclass(frozen=True)
class Image:
    plot: Plot


Block = Heading | Text | Alert | Bullets | TableBlock | Image


# --- markdown ----------------------------------------------------------------------------------

# Characters that start markdown structure inside a line: code, emphasis, links and images,
# table cells; backslash-escaped (CommonMark renders them as themselves). < and > become
# entities, so no raw HTML (a <script>) reaches a renderer that allows it.
MD_SPECIAL = re.compile(r"([\\`*\[\]|])")
MD_ENTITIES = {"<": "&lt;", ">": "&gt;"}


def md_text(value: Any) -> str:
    """Text as one line of markdown that shows exactly as written (control characters, newlines
    included, are shown as escapes by bench.safetext)."""
    text = MD_SPECIAL.sub(r"\\\1", printable(value))
    return text.replace("<", MD_ENTITIES["<"]).replace(">", MD_ENTITIES[">"])


def md_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text cell, column name and index label escaped (numbers as they are)."""

    def cell(v: Any) -> Any:
        return md_text(v) if isinstance(v, str) else v

    out = frame.map(cell)
    out.columns = [cell(c) for c in frame.columns]
    out.index = frame.index.map(cell)
    out.index.name = cell(frame.index.name)
    return out


def md_block(block: Block) -> str:
    match block:
        case Heading(text, level):
            return f"{'#' * level} {md_text(text)}"
        case Text(text):
            return md_text(text)
        case Alert(text):
            return f"> **{md_text(text)}**"
        case Bullets(items):
            return "\n".join(f"- {md_text(item)}" for item in items)
        case TableBlock(table):
            notes = "".join(f"\n\n{md_text(note)}" for note in table.notes)
            return f"**{md_text(table.title)}**\n\n{md_frame(table.frame).to_markdown()}{notes}"
        case Image(plot):
            svg = f" ([SVG]({plot.svg}))" if plot.svg else ""
            return f"![{md_text(plot.title)}]({plot.png}){svg}"
    raise TypeError(f"unknown block {block!r}")


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(md_block(b) for b in blocks) + "\n"


# --- HTML --------------------------------------------------------------------------------------


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def html_block(block: Block, root: Path) -> str:
    match block:
        case Heading(text, level):
            return f"<h{level}>{html.escape(text)}</h{level}>"
        case Text(text):
            return f"<p>{html.escape(text)}</p>"
        case Alert(text):
            return f"<p class='warning'><strong>{html.escape(text)}</strong></p>"
        case Bullets(items):
            return "<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"
        case TableBlock(table):
            body = table.frame.reset_index().to_html(border=0, escape=True, index=False)
            body = body.replace(">", f"><caption>{html.escape(table.title)}</caption>", 1)
            notes = "".join(f"<p class='notes'>{html.escape(n)}</p>" for n in table.notes)
            return body + notes
        case Image(plot):
            caption = html.escape(plot.title)
            return (
                f"<figure><img src='{data_uri(root / plot.png)}' alt='{caption}'>"
                f"<figcaption>{caption}</figcaption></figure>"
            )
    raise TypeError(f"unknown block {block!r}")


def to_html(blocks: list[Block], root: Path, title: str) -> str:
    body = "\n".join(html_block(b, root) for b in blocks)
    return (
        f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


# --- CSV ---------------------------------------------------------------------------------------

# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...):
# such text cells get a leading apostrophe, which spreadsheets show as text (OWASP's advice).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START) and not is_number(value):
        return "'" + value
    return value


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.map(csv_cell)
    out.columns = [csv_cell(c) for c in frame.columns]
    return out


# --- files -------------------------------------------------------------------------------------


def write(
    blocks: list[Block], csv: dict[str, pd.DataFrame], out_dir: Path, formats: set[str], title: str
) -> list[Path]:
    """Write the chosen formats (md, html, csv) into out_dir; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if "md" in formats:
        written.append(out_dir / MD_FILE)
        written[-1].write_text(to_markdown(blocks))
    if "html" in formats:
        written.append(out_dir / HTML_FILE)
        written[-1].write_text(to_html(blocks, out_dir, title))
    if "csv" in formats:
        for name, frame in csv.items():
            written.append(out_dir / f"{name}.csv")
            csv_frame(frame).to_csv(written[-1], index=False)
    return written
