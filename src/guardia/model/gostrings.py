"""Go's spelling of strings and label sets, which Prometheus and Alertmanager print everywhere.

Error messages (PromQL), promtool's test output, Alertmanager group keys and templates'
``printf "%q"`` all show values the way Go's ``strconv.Quote`` does; one implementation keeps
them identical across stages, so a value looks the same in a query error, a group key and
a rule test failure.  ``go_unescape`` is the way back (``strconv.Unquote``), for template
string literals and the quoted strings of PromQL test scripts.
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


_UNESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92,
              '"': 34, "'": 39}


def go_unescape(body: str) -> str:
    """The inside of a double-quoted Go literal, decoded as ``strconv.Unquote`` does.

    ``\\x`` and octal escapes are bytes of UTF-8 text; an unknown or cut-off escape raises
    ``ValueError("invalid syntax")`` as Go returns ``ErrSyntax``.
    """
    out = bytearray()
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        if e in _UNESCAPES:
            out.append(_UNESCAPES[e])
            i += 2
        elif e == "x":
            out.append(int(body[i + 2:i + 4], 16))
            i += 4
        elif e in "01234567":
            out.append(int(body[i + 1:i + 4], 8))
            i += 4
        elif e in "uU":
            width = 4 if e == "u" else 8
            out += chr(int(body[i + 2:i + 2 + width], 16)).encode()
            i += 2 + width
        else:
            raise ValueError("invalid syntax")
    return out.decode("utf-8", errors="replace")
