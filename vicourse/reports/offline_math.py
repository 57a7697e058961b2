"""Math in the HTML pages the course writes, rendered when the page is written.

nbconvert leaves a notebook's math as `$...$` text for MathJax, which its pages load from a
CDN: offline, a student or TA sees the raw TeX. Here each formula is turned into MathML when the
page is written, with latex2mathml (pinned in requirements.lock), and the browser lays it out
itself: no script, no font to fetch, nothing downloaded, so the pages can forbid every script.

The formulas are found as MathJax would find them in the browser: `$...$`, `\\(...\\)`,
`$$...$$`, `\\[...\\]` and `\\begin{env}...\\end{env}` in text outside code, preformatted
output, scripts and styles, with `\\$` for a dollar sign. Only text between tags is touched;
attributes and everything else keep their bytes.

A formula can come from a student (feedback, formgrader), and latex2mathml writes `\\text{}` and
`\\href{}` through unescaped, so its tree is written out here instead: MathML elements and
presentation attributes only, every text escaped. A formula it cannot convert, or one longer
than MAX_TEX, stays as its TeX text.
"""

from __future__ import annotations

import bisect
import html
import re
from html.parser import HTMLParser
from xml.etree.ElementTree import Element

MAX_TEX = 5_000  # characters of one formula; a longer one stays text
# inside these nothing is math: MathJax's own list, and math already rendered
SKIPPED = {"script", "noscript", "style", "textarea", "pre", "code", "title", "math", "svg", "annotation",
           "annotation-xml"}
MATHML_TAGS = {"math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "mfrac", "msqrt", "mroot", "msub",
               "msup", "msubsup", "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none",
               "mtable", "mtr", "mtd", "mstyle", "mpadded", "mphantom", "menclose", "merror", "semantics"}
MATHML_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "form", "separator", "largeop",
                     "movablelimits", "accent", "accentunder", "lspace", "rspace", "minsize", "maxsize",
                     "symmetric", "width", "height", "depth", "voffset", "linethickness", "displaystyle",
                     "scriptlevel", "columnalign", "columnlines", "columnspacing", "rowalign", "rowlines",
                     "rowspacing", "frame", "framespacing", "equalrows", "equalcolumns", "notation",
                     "mathcolor", "mathbackground", "mathsize", "columnspan", "rowspan"}
# Where each kind of formula ends, found once per text: every opener looks its closer up (bisect),
# so no text of unclosed openers costs more than one pass.
_CLOSERS = {"$$": re.compile(r"(?=\$\$)"), "\\]": re.compile(r"(?=\\\])"), "\\)": re.compile(r"(?=\\\))")}
_OPENERS = {"$$": "$$", "\\[": "\\]", "\\(": "\\)"}
_BEGIN = re.compile(r"\\begin\{([A-Za-z]{1,20}\*?)\}")
_END = re.compile(r"\\end\{([A-Za-z]{1,20}\*?)\}")

# A browser's default math font is often a text font; these are math fonts, the last one Debian's.
# MathML Core leaves `columnalign` to CSS: aligned equations line up at their relation signs.
MATH_STYLE = ('<style>math{font-family:"Latin Modern Math","STIX Two Math","Cambria Math",'
              '"DejaVu Math TeX Gyre",math}math[display="block"]{margin:.6em 0}'
              'mtd[columnalign="left"]{text-align:left}mtd[columnalign="right"]{text-align:right}</style>')


# What latex2mathml leaves as the command's own text, rewritten first into what it reads: `\\arg`, a
# delimiter command after a size (`\\big\\|`), and `aligned` (whose `&` it shows), which lays out as
# `align*`. A command, or an alignment `&`, still left in the text fails the formula.
_SIZED_DELIMITER = re.compile(r"(\\[bB]igg?[lrm]?)\s*\\(\||[lr]?[Vv]ert(?![A-Za-z])|langle|rangle)")
_DELIMITERS = {"|": "\u2016", "Vert": "\u2016", "lVert": "\u2016", "rVert": "\u2016", "vert": "|", "lvert": "|",
               "rvert": "|", "langle": "\u27e8", "rangle": "\u27e9"}
_ARG = re.compile(r"\\arg(?![A-Za-z])")
_ALIGNED = re.compile(r"\\(begin|end)\{aligned\}")
_COMMAND_LEFT = re.compile(r"\\([A-Za-z]+|[^A-Za-z\s])")


def _readable(tex: str) -> str:
    tex = _SIZED_DELIMITER.sub(lambda m: m.group(1) + " " + _DELIMITERS[m.group(2)], tex)
    tex = _ALIGNED.sub(lambda m: f"\\{m.group(1)}{{align*}}", tex)
    return _ARG.sub(r"\\operatorname{arg}", tex)


class UnsafeMathML(ValueError):
    pass


def _write(element: Element, out: list[str]) -> None:
    if element.tag not in MATHML_TAGS:
        raise UnsafeMathML(element.tag)
    attributes = "".join(f' {name}="{html.escape(value)}"' for name, value in sorted(element.attrib.items())
                         if name in MATHML_ATTRIBUTES)
    out.append(f"<{element.tag}{attributes}>")
    out.append(_text(element.text))
    for child in element:
        _write(child, out)
        out.append(_text(child.tail))
    out.append(f"</{element.tag}>")


def _text(text: str | None) -> str:
    # latex2mathml keeps symbols as character references in its text (`\\&` as &#x00026;)
    plain = html.unescape(text or "")
    if _COMMAND_LEFT.search(plain) or (text or "").strip() == "&":
        raise UnsafeMathML(f"a command or an alignment it did not read: {plain}")
    return html.escape(plain, quote=False)


def mathml(tex: str, display: bool) -> str | None:
    """The formula as MathML markup, or None where it cannot be converted."""
    from latex2mathml.converter import convert_to_element

    if not tex.strip() or len(tex) > MAX_TEX:
        return None
    try:
        element = convert_to_element(_readable(tex), display="block" if display else "inline")
        out: list[str] = []
        _write(element, out)
    except Exception:  # noqa: BLE001 - any TeX it cannot read (or too deeply nested) stays text
        return None
    return "".join(out)


def _formulas(text: str):
    """(start, end, TeX, display) of each formula in `text`, left to right; TeX None for `\\$`, a
    dollar sign. A backslash escapes the character after it; `$...$` ends at the next unescaped `$`."""
    closers = {closer: [m.start() for m in pattern.finditer(text)] for closer, pattern in _CLOSERS.items()}
    ends: dict[str, list[int]] = {}
    for m in _END.finditer(text):
        ends.setdefault(m.group(1), []).append(m.start())
    dollars, i = [], 0  # the unescaped single dollars
    while i < len(text):
        if text[i] == "$":
            dollars.append(i)
        i += 2 if text[i] == "\\" else 1

    def closing(positions: list[int], after: int) -> int | None:
        found = bisect.bisect_left(positions, after)
        return positions[found] if found < len(positions) and positions[found] - after <= MAX_TEX else None

    i = 0
    while i < len(text):
        two, begin = text[i:i + 2], _BEGIN.match(text, i) if text.startswith("\\begin{", i) else None
        if two == "\\$":
            yield i, i + 2, None, False
        elif two in _OPENERS and (end := closing(closers[_OPENERS[two]], i + 3)) is not None:
            yield i, end + 2, text[i + 2:end], two != "\\("
            i = end + 2
            continue
        elif begin and (end := closing(ends.get(begin.group(1), []), begin.end())) is not None:
            close = end + len(f"\\end{{{begin.group(1)}}}")
            yield i, close, text[i:close], True
            i = close
            continue
        elif text[i] == "$" and two != "$$" and (end := closing(dollars, i + 2)) is not None:
            yield i, end + 1, text[i + 1:end], False
            i = end + 1
            continue
        i += 2 if text[i] == "\\" or two == "$$" else 1


def _rendered_text(text: str) -> str | None:
    """A run of (unescaped) text as HTML with its formulas as MathML; None if it holds none."""
    pieces, at, found = [], 0, False
    for start, end, tex, display in _formulas(text):
        converted = "$" if tex is None else mathml(tex, display)
        if converted is None:
            continue
        pieces.append(html.escape(text[at:start], quote=False) + converted)
        at, found = end, found or tex is not None
    if not found:
        return None
    return "".join(pieces) + html.escape(text[at:], quote=False)


class _TextRuns(HTMLParser):
    """(start, end) offsets of each run of text between tags that may hold math."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=False)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", page)]
        self.skipping: list[str] = []
        self.runs: list[tuple[int, int]] = []
        self.open_run: int | None = None
        self.feed(page)
        self.close()
        self._end_run(len(page))

    def _offset(self) -> int:
        line, column = self.getpos()
        return self.line_starts[line - 1] + column

    def _text(self) -> None:
        if self.open_run is None and not self.skipping:
            self.open_run = self._offset()

    def _end_run(self, at: int | None = None) -> None:
        if self.open_run is not None:
            self.runs.append((self.open_run, self._offset() if at is None else at))
            self.open_run = None

    def handle_data(self, data):
        self._text()

    handle_entityref = handle_charref = handle_data

    def handle_starttag(self, tag, attrs):
        self._end_run()
        if tag in SKIPPED:
            self.skipping.append(tag)

    def handle_endtag(self, tag):
        self._end_run()
        if tag in self.skipping:
            while self.skipping.pop() != tag:
                pass

    def handle_startendtag(self, tag, attrs):
        self._end_run()

    def handle_comment(self, data):
        self._end_run()

    handle_decl = handle_pi = unknown_decl = handle_comment


def render_math(page: str) -> str:
    """HTML (a page or a fragment) with the math in its text as MathML."""
    if "$" not in page and "\\" not in page:
        return page
    out, at = [], 0
    for start, end in _TextRuns(page).runs:
        rendered = _rendered_text(html.unescape(page[start:end]))
        if rendered is not None:
            out += [page[at:start], rendered]
            at = end
    return "".join(out) + page[at:] if out else page


_HEAD = re.compile(r"<head\b[^>]*>.*?</head>", re.S | re.I)
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script>\s*", re.S | re.I)


def offline_page(page: str) -> str:
    """A page nbconvert wrote, made to need no network: its math rendered, the scripts of its
    head (MathJax, require.js, mermaid from a CDN) removed, a math font chosen. Nothing a
    student wrote is in the head, which the template writes before the notebook."""
    page = render_math(page)
    head = _HEAD.search(page)
    if head is None:
        return page
    cleaned = _SCRIPT.sub("", head.group(0))
    cleaned = cleaned[:-len("</head>")] + MATH_STYLE + "</head>"
    return page[:head.start()] + cleaned + page[head.end():]


def clean_html(source: str) -> str:
    """The `clean_html` filter of nbgrader's exporters (formgrader, feedback), set by
    `c.HTMLExporter.filters` in nbgrader_config.py: the sanitizer of vicourse/reports/html_safety.py, then
    the math rendered. The sanitizer never sees MathML; it is made from the sanitized text."""
    from .html_safety import sanitized

    return render_math(sanitized(source))
