"""Label sets printed the way Prometheus prints them in error messages."""

from __future__ import annotations

import json

from guardia.model import Labels


def labels_str(ls: Labels) -> str:
    """``{__name__="x", a="b"}``: Go's ``labels.Labels.String()``."""
    return "{" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in ls) + "}"


def go_quote(s: str) -> str:
    """Go's ``%q``: double-quoted, raw invalid-UTF-8 bytes (surrogate escapes) as ``\\xNN``."""
    out = []
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def valid_label_name(name: str) -> bool:
    """Prometheus 3 (UTF-8 names): any non-empty valid UTF-8 string."""
    if not name:
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
