"""Every HTML page the course writes runs nothing a submission planted.

Student text reaches HTML in the feedback pages (the student's own notebook, graded), the
reports (names, notes, answer cells) and formgrader (the TA's browser). Three layers:

* the graded notebook holds no script: the grading process keeps only safe output types and
  numeric image sizes (vicourse/grading/graded_outputs.py), and escapes raw HTML and neutralises
  links to `javascript:`, `vbscript:` and `data:` URLs in markdown (`safe_markdown`), so
  formgrader, which renders the notebook itself, is covered too;
* each page the course writes has such links made inert once more, after rendering, where
  every encoding trick has been resolved (`inert_links`);
* and it carries a Content-Security-Policy: no script at all, no event handler attribute,
  no `javascript:` URL runs even if one got through. No page needs one: notebook pages have
  their math rendered as MathML when they are written (vicourse/reports/offline_math.py), and load
  nothing, like the reports.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

# Pages load nothing: no script from anywhere, plots as embedded images, styles inline.
NOTEBOOK_PAGE_POLICY = ("default-src 'none'; script-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                        "object-src 'none'; base-uri 'none'; form-action 'none'")
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_ESCAPED = re.compile(r"\\(.)")


def dangerous_url(url: str) -> bool:
    """Whether a browser would take this URL (as written in HTML or markdown) as script or a
    document of its own: entities and backslash escapes decoded, whitespace and controls removed."""
    plain = _CONTROL.sub("", html.unescape(_ESCAPED.sub(r"\1", url))).lower().lstrip("<")
    return plain.startswith(DANGEROUS_SCHEMES)


# markdown: an inline link's destination, a reference definition, an autolink
_INLINE = re.compile(r"(\]\(\s*)(<[^>\n]*>|[^)\s]*)")
_REFERENCE = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*)(<[^>\n]*>|\S+)", re.M)
_AUTOLINK = re.compile(r"<([A-Za-z][A-Za-z0-9+.\-]{1,31}:[^<>\s]*)>")


def safe_markdown(source: str) -> str:
    """Markdown whose links cannot run script: dangerous destinations become "#"."""
    def inert(match):
        return match.group(1) + "#" if dangerous_url(match.group(2)) else match.group(0)

    source = _INLINE.sub(inert, source)
    source = _REFERENCE.sub(inert, source)
    return _AUTOLINK.sub(lambda m: "&lt;blocked link&gt;" if dangerous_url(m.group(1)) else m.group(0), source)


_URL_ATTRIBUTE = re.compile(r"""(\s(?:href|src|action|formaction|xlink:href|poster|background)\s*=\s*)"""
                            r"""("[^"]*"|'[^']*'|[^\s>]+)""", re.I)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,", re.I)


def inert_links(page: str) -> str:
    """Rendered HTML with every dangerous URL attribute replaced by "#" (embedded PNG, JPEG and
    GIF images excepted: they are how plots are shown)."""
    def inert(match):
        value = match.group(2).strip("\"'")
        if _DATA_IMAGE.match(value.strip()) or not dangerous_url(value):
            return match.group(0)
        return match.group(1) + '"#"'

    return _URL_ATTRIBUTE.sub(inert, page)


# What markdown becomes, and nothing that loads or runs: nbconvert's own sanitizer allows bleach's
# short list only, and shows every paragraph, heading and table of a sanitized page as escaped text.
SAFE_TAGS = ["a", "abbr", "acronym", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
             "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
             "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"]
SAFE_ATTRIBUTES = {"*": ["class", "id"], "a": ["href", "title"], "abbr": ["title"], "acronym": ["title"],
                   "ol": ["start"], "td": ["colspan", "rowspan"], "th": ["colspan", "rowspan"]}


def sanitized(fragment: str) -> str:
    """HTML a student's markdown or output became, with every other tag escaped into text and every
    other attribute dropped; links only to http(s) and mailto (bleach)."""
    import bleach

    return bleach.clean(fragment, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES, protocols=["http", "https", "mailto"])


def with_policy(page: str, policy: str) -> str:
    """The page with its links made inert and `policy` as its first element in <head>."""
    meta = f'<meta http-equiv="Content-Security-Policy" content="{html.escape(policy)}">'
    page = inert_links(page)
    head = re.search(r"<head[^>]*>", page, re.I)
    if head is None:
        return meta + page
    return page[:head.end()] + meta + page[head.end():]


def notebook_page(page: str) -> str:
    """A page nbconvert wrote, as the course hands it out: needing no network (its math rendered,
    no CDN script), its links inert, and the notebook page policy."""
    from .offline_math import offline_page

    return with_policy(offline_page(page), NOTEBOOK_PAGE_POLICY)


def secure_file(path: Path) -> None:
    """`notebook_page` for a page nbconvert wrote to disk (feedback)."""
    path.write_text(notebook_page(path.read_text(encoding="utf-8")), encoding="utf-8")
