"""The relabel engine: apply relabel rules to a label set exactly as Prometheus does.

Scrape targets (``relabel_configs``), scraped series (``metric_relabel_configs``) and alerts
(``alert_relabel_configs``) all go through ``process``, so it sits here, below its users, as
Prometheus keeps it in ``model/relabel``.  A rule is anything shaped like ``Rule``: the
validated ``guardia.config.relabel.RelabelConfig`` is one; the actions and defaults live here
so the config model and the engine read one definition.

Rules run in order over one mutable ``dict`` (Prometheus's label builder); each rule sees
what the previous one left.  Setting a label to the empty string removes it.  ``keep``/
``drop`` style rules end processing with ``None``, meaning the target or series is dropped.
Group references in ``target_label`` and ``replacement`` follow Go's ``Regexp.Expand``:
``$1``, ``${1}``, ``$name``, ``${name}``, ``$$`` for a dollar; an unknown group expands to "".
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from typing import Protocol

from guardia.model.labels import is_valid_label_name


class RelabelAction(enum.StrEnum):
    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"


DEFAULT_SEPARATOR = ";"
DEFAULT_REGEX = "(.*)"
DEFAULT_REPLACEMENT = "$1"


class Rule(Protocol):
    """One validated relabel step, as the engine reads it."""

    @property
    def action(self) -> RelabelAction: ...
    @property
    def sources(self) -> tuple[str, ...]: ...
    @property
    def separator(self) -> str: ...
    @property
    def regex(self) -> str: ...
    @property
    def compiled(self) -> re.Pattern[str]:
        """``regex`` anchored at both ends; the engine uses ``fullmatch``."""
    @property
    def modulus(self) -> int: ...
    @property
    def target_label(self) -> str: ...
    @property
    def replacement(self) -> str: ...


_A = RelabelAction
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def expand(template: str, m: re.Match[str]) -> str:
    """Go ``Regexp.ExpandString`` over a Python match."""
    if "$" not in template:
        return template
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        k = i + 1 if brace else i
        start = k
        while k < n and template[k] in _NAME_CHARS:
            k += 1
        name = template[start:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")  # malformed reference: the dollar is kept as text
            continue
        i = k + 1 if brace else k
        out.append(_group(m, name))
    return "".join(out)


def _group(m: re.Match[str], name: str) -> str:
    try:
        if name.isdigit():
            idx = int(name)
            if idx > (m.re.groups or 0):
                return ""
            return m.group(idx) or ""
        return m.group(name) or ""
    except IndexError:  # no group of that name
        return ""


def hashmod(value: str, modulus: int) -> int:
    """MD5 of the value, low 8 bytes read big-endian, modulo ``modulus`` (Prometheus's sum64)."""
    digest = hashlib.md5(value.encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def process(labels: dict[str, str], rules: Sequence[Rule]) -> dict[str, str] | None:
    """Relabel ``labels`` in place; ``None`` when a rule drops it."""
    for cfg in rules:
        if not _apply(labels, cfg):
            return None
    return labels


def _apply(lb: dict[str, str], cfg: Rule) -> bool:
    action = cfg.action
    src = cfg.sources
    val = lb.get(src[0], "") if len(src) == 1 else cfg.separator.join([lb.get(s, "") for s in src])
    if action is _A.REPLACE:
        if cfg.regex == DEFAULT_REGEX and "$" not in cfg.target_label and cfg.replacement in ("$1", "${1}"):
            _set(lb, cfg.target_label, val)
            return True
        m = cfg.compiled.fullmatch(val)
        if m is None:
            return True
        target = expand(cfg.target_label, m)
        if not is_valid_label_name(target):
            return True
        _set(lb, target, expand(cfg.replacement, m))
    elif action is _A.KEEP:
        return cfg.compiled.fullmatch(val) is not None
    elif action is _A.DROP:
        return cfg.compiled.fullmatch(val) is None
    elif action is _A.KEEPEQUAL:
        return lb.get(cfg.target_label, "") == val
    elif action is _A.DROPEQUAL:
        return lb.get(cfg.target_label, "") != val
    elif action is _A.HASHMOD:
        _set(lb, cfg.target_label, str(hashmod(val, cfg.modulus)))
    elif action is _A.LOWERCASE:
        _set(lb, cfg.target_label, val.lower())
    elif action is _A.UPPERCASE:
        _set(lb, cfg.target_label, val.upper())
    elif action is _A.LABELMAP:
        rx = cfg.compiled
        for name, value in list(lb.items()):
            m = rx.fullmatch(name)
            if m is not None:
                _set(lb, expand(cfg.replacement, m), value)
    elif action is _A.LABELDROP:
        rx = cfg.compiled
        for name in [n for n in lb if rx.fullmatch(n) is not None]:
            del lb[name]
    elif action is _A.LABELKEEP:
        rx = cfg.compiled
        for name in [n for n in lb if rx.fullmatch(n) is None]:
            del lb[name]
    return True


def _set(lb: dict[str, str], name: str, value: str) -> None:
    if value == "":
        lb.pop(name, None)
    else:
        lb[name] = value
