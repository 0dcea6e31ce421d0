"""Text panels: a small, safe Markdown subset (headings, paragraphs, lists, emphasis, code,
links) rendered from escaped text, so a dashboard cannot inject markup or scripts.  Panels in
``html`` mode are shown as their text with the tags removed, for the same reason."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

_LINK = re.compile(r"\[([^\]]+)\]\(((?:https?://|/)[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)(.+?)(?<!\s)\*(?!\*)")
_CODE = re.compile(r"`([^`]+)`")
_TAG = re.compile(r"<[^>]*>")


def _inline(text: str) -> str:
    s = str(escape(text))
    s = _CODE.sub(r"<code>\1</code>", s)
    s = _LINK.sub(r'<a href="\2" rel="noopener">\1</a>', s)
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    return _ITALIC.sub(r"<em>\1</em>", s)


def render_markdown(text: str) -> Markup:
    out: list[str] = []
    para: list[str] = []
    items: list[str] = []

    def flush() -> None:
        if para:
            out.append("<p>" + " ".join(_inline(x) for x in para) + "</p>")
            para.clear()
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(x)}</li>" for x in items) + "</ul>")
            items.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            flush()
            continue
        h = re.match(r"^(#{1,6})\s+(.*)$", line)
        if h:
            flush()
            tag = f"h{min(6, len(h.group(1)) + 2)}"  # panel headings sit below the panel title
            out.append(f"<{tag}>{_inline(h.group(2))}</{tag}>")
            continue
        li = re.match(r"^[-*+]\s+(.*)$", line)
        if li:
            if para:
                flush()
            items.append(li.group(1))
            continue
        if items:
            flush()
        para.append(line)
    flush()
    return Markup("\n".join(out))


def render_text_panel(content: str, mode: str) -> Markup:
    if mode == "html":
        return Markup("<p>") + escape(_TAG.sub(" ", content).strip()) + Markup("</p>")
    return render_markdown(content)
