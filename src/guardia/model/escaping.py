"""UTF-8 metric and label names: Prometheus 3's escaping schemes and the quoted exposition form.

Prometheus 3 stores any UTF-8 name (``http.server.duration``, ``k8s.pod.name``).  A client
that cannot read them (Prometheus 2, an old client library) says so through content
negotiation: the ``escaping=`` parameter of ``Accept`` names a scheme, and the server rewrites
names that are not legacy-valid before sending them:

- ``allow-utf-8``: names as they are; the text format quotes those that need it
  (``{"http.server.duration", "k8s.pod.name"="a"} 1``);
- ``underscores``: every character a legacy name cannot hold becomes ``_`` (lossy);
- ``dots``: ``.`` becomes ``_dot_``, ``_`` becomes ``__``, anything else ``__`` (dots survive);
- ``values``: ``U__`` then each character a legacy name cannot hold as ``_<hex code point>_``
  and ``_`` as ``__``: reversible (``unescape_values``), and what Prometheus's API accepts in a
  URL path segment (``/api/v1/label/U__k8s_2e_pod_2e_name/values``).

A request that names no scheme gets ``underscores`` (Prometheus 3's default for negotiation),
so a Prometheus 2 federating from guardia reads names it can parse.  The same rules as
Prometheus's ``model.EscapeName`` so both servers answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

ALLOW_UTF8 = "allow-utf-8"
UNDERSCORES = "underscores"
DOTS = "dots"
VALUES = "values"
SCHEMES = (ALLOW_UTF8, UNDERSCORES, DOTS, VALUES)

_LEGACY_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LEGACY_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def is_legacy_metric_name(name: str) -> bool:
    return _LEGACY_METRIC.fullmatch(name) is not None


def is_legacy_label_name(name: str) -> bool:
    return _LEGACY_LABEL.fullmatch(name) is not None


def _legacy_rune(c: str, i: int) -> bool:
    """Prometheus's ``isValidLegacyRune``: letters, ``_``, ``:``, digits after the first."""
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or c == "_" or c == ":" or ("0" <= c <= "9" and i > 0)


def escape_name(name: str, scheme: str) -> str:
    """``name`` as the scheme writes it (``model.EscapeName``)."""
    if not name or scheme == ALLOW_UTF8:
        return name
    if scheme == UNDERSCORES:
        if is_legacy_metric_name(name):
            return name
        return "".join(c if _legacy_rune(c, i) else "_" for i, c in enumerate(name))
    if scheme == DOTS:
        out = []
        for i, c in enumerate(name):
            if c == "_":
                out.append("__")
            elif c == ".":
                out.append("_dot_")
            elif _legacy_rune(c, i):
                out.append(c)
            else:
                out.append("__")
        return "".join(out)
    if scheme == VALUES:
        if is_legacy_metric_name(name):
            return name
        out = ["U__"]
        for i, c in enumerate(name):
            if c == "_":
                out.append("__")
            elif _legacy_rune(c, i):
                out.append(c)
            elif 0xD800 <= ord(c) <= 0xDFFF:
                out.append("_FFFD_")
            else:
                out.append(f"_{ord(c):x}_")
        return "".join(out)
    raise ValueError(f"unknown escaping scheme {scheme!r}; use one of {', '.join(SCHEMES)}")


def unescape_values(name: str) -> str:
    """Undo ``values`` escaping (``U__a_2e_b`` is ``a.b``); a name without the prefix, or not
    validly escaped, is returned as it is (Prometheus's ``UnescapeName``)."""
    if not name.startswith("U__"):
        return name
    body = name[3:]
    out: list[str] = []
    i = 0
    n = len(body)
    while i < n:
        c = body[i]
        if c != "_":
            if not (c.isascii() and (c.isalnum() or c == ":")):
                return name
            out.append(c)
            i += 1
            continue
        if i + 1 < n and body[i + 1] == "_":
            out.append("_")
            i += 2
            continue
        end = body.find("_", i + 1)
        code = body[i + 1:end] if end > 0 else ""
        if not code or any(ch not in "0123456789abcdefABCDEF" for ch in code):
            return name
        try:
            out.append(chr(int(code, 16)))
        except (ValueError, OverflowError):
            return name
        i = end + 1
    return "".join(out)


def escape_labels(pairs: Iterable[tuple[str, str]], scheme: str) -> list[tuple[str, str]]:
    """A series' labels for a client using ``scheme``: label names escaped, and the value of
    ``__name__`` too (it is a name), other values untouched."""
    if scheme == ALLOW_UTF8:
        return list(pairs)
    out = []
    for k, v in pairs:
        if k == "__name__":
            out.append((k, escape_name(v, scheme)))
        else:
            out.append((escape_name(k, scheme), v))
    return out


def accept_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """An ``Accept`` header's media ranges in order: (type in lower case, parameters by lower-case
    name, q); ranges with q of 0 (refused) are left out."""
    out: list[tuple[str, dict[str, str], float]] = []
    for media in accept.split(","):
        kind, *parts = media.split(";")
        params: dict[str, str] = {}
        for param in parts:
            key, _, value = param.partition("=")
            params[key.strip().lower()] = value.strip()
        try:
            q = float(params.get("q", "1"))
        except ValueError:
            q = 1.0
        if q > 0:
            out.append((kind.strip().lower(), params, q))
    return out


def negotiate(accept: str) -> tuple[str, str]:
    """The text format version (``0.0.4`` or ``1.0.0``) and escaping scheme a request's
    ``Accept`` asks for, as ``expfmt.Negotiate`` picks them: the ``text/plain`` range with the
    highest q (ties in order), its ``escaping=`` parameter, ``underscores`` when it names none."""
    best: tuple[float, dict[str, str]] | None = None
    for kind, params, q in accept_ranges(accept):
        if kind == "text/plain" and (best is None or q > best[0]):
            best = (q, params)
    if best is None:
        return "0.0.4", UNDERSCORES
    chosen = best[1]
    version = "1.0.0" if chosen.get("version") == "1.0.0" else "0.0.4"
    scheme = chosen.get("escaping", UNDERSCORES)
    return version, scheme if scheme in SCHEMES else UNDERSCORES


def quote(text: str) -> str:
    """A double-quoted exposition string: ``\\``, ``"`` and newlines escaped."""
    return '"' + text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') + '"'


def series_text(name: str, labels: Iterable[tuple[str, str]]) -> str:
    """A series in the text format; a name that is not legacy-valid is quoted, and a metric
    name that needs quoting moves inside the braces, as Prometheus 3 writes it."""
    inner = [f"{k if is_legacy_label_name(k) else quote(k)}={quote(v)}" for k, v in labels]
    if name and not is_legacy_metric_name(name):
        return "{" + ",".join([quote(name), *inner]) + "}"
    return f"{name}{{{','.join(inner)}}}" if inner else name


def metric_text(name: str) -> str:
    """A metric name in ``# HELP``/``# TYPE`` lines: quoted when not legacy-valid."""
    return name if is_legacy_metric_name(name) else quote(name)
