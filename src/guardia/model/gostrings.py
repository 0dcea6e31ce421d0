"""Go's spelling of strings and label sets, which Prometheus and Alertmanager print everywhere.

Error messages (PromQL), promtool's test output, Alertmanager group keys and templates'
``printf "%q"`` all show values the way Go's ``strconv.Quote`` does; one implementation keeps
them identical across stages, so a value looks the same in a query error, a group key and
a rule test failure.
"""

from __future__ import annotations

from collections.abc import Iterable

_SIMPLE_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\a": "\\a", "\b": "\\b", "\f": "\\f",
    "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
}


def go_quote(s: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal.

    Raw invalid-UTF-8 bytes (decoded with ``surrogateescape``) come out as ``\\xNN``, like
    Go prints the bytes themselves; other non-printable characters as ``\\xNN``, ``\\uNNNN``
    or ``\\UNNNNNNNN``.
    """
    out = ['"']
    for ch in s:
        o = ord(ch)
        esc = _SIMPLE_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o > 0x7F and not ch.isprintable():
            out.append(f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def labels_string(pairs: Iterable[tuple[str, str]]) -> str:
    """``{a="1", b="2"}``: Go's ``labels.Labels.String()`` / ``model.LabelSet.String()``.

    Pairs are printed in the order given; ``Labels`` are already sorted by name.
    """
    return "{" + ", ".join(f"{k}={go_quote(v)}" for k, v in pairs) + "}"
