"""Find the format of an SLO file and read every SLO in it.

A file may hold several YAML documents (Kubernetes manifests often do); each is read on its
own with its real line numbers.  ``slos:`` in guardia.yml holds guardia-form SLOs inline and
``file:`` entries (globs, relative to the config file) naming SLO files of any format.
"""

from __future__ import annotations

import glob
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from guardia.config.errors import ConfigError, ConfigIssue
from guardia.config.yamlsource import YamlSource, load_yaml, parse_yaml
from guardia.slo.own import read_own
from guardia.slo.pyrra import read_pyrra
from guardia.slo.reader import Reader
from guardia.slo.sloth import read_sloth
from guardia.slo.spec import SLO

_DOC_SEP = re.compile(r"^---[ \t]*(#.*)?$", re.M)


def _documents(text: str, file: str) -> list[YamlSource]:
    """Each ``---``-separated document, parsed with line numbers of the whole file."""
    starts = [0] + [m.end() + 1 for m in _DOC_SEP.finditer(text)]
    ends = [m.start() for m in _DOC_SEP.finditer(text)] + [len(text)]
    out = []
    for s, e in zip(starts, ends, strict=True):
        chunk = text[s:e] if s <= e else ""
        if not chunk.strip() or all(ln.strip().startswith("#") or not ln.strip()
                                    for ln in chunk.splitlines()):
            continue
        # Pad with newlines so the parser's line numbers are the file's.
        pad = text.count("\n", 0, s)
        out.append(parse_yaml("\n" * pad + chunk, file))
    return out


def read_document(r: Reader) -> list[SLO]:
    data = r.src.data
    if isinstance(data, list):
        return _read_own_list(r, data, ())
    if not isinstance(data, dict):
        r.err((), "an SLO file must be a mapping: a sloth spec (version: prometheus/v1), a "
              "Kubernetes object (sloth.slok.dev/v1 or pyrra.dev/v1alpha1) or guardia's slos: list")
        return []
    api = str(data.get("apiVersion", ""))
    kind = str(data.get("kind", ""))
    if str(data.get("version", "")) == "prometheus/v1":
        return read_sloth(r, data, (), k8s=False)
    if api.startswith("sloth.slok.dev/"):
        if kind != "PrometheusServiceLevel":
            r.err(("kind",), f"sloth's Kubernetes kind is PrometheusServiceLevel, got {kind!r}")
            return []
        return read_sloth(r, data, (), k8s=True)
    if api.startswith("pyrra.dev/"):
        if kind != "ServiceLevelObjective":
            r.err(("kind",), f"pyrra's kind is ServiceLevelObjective, got {kind!r}")
            return []
        return read_pyrra(r, data, ())
    if "version" in data:
        r.err(("version",), f"unknown sloth spec version {data['version']!r}; guardia reads "
              "prometheus/v1")
        return []
    if api:
        r.err(("apiVersion",), f"unknown apiVersion {api!r}; guardia reads sloth.slok.dev/v1 "
              "and pyrra.dev/v1alpha1")
        return []
    if "slos" in data:
        slos = data["slos"]
        if not isinstance(slos, list):
            r.err(("slos",), "slos must be a list of SLOs")
            return []
        return _read_own_list(r, slos, ("slos",))
    r.err((), "not an SLO file: expected version: prometheus/v1 (sloth), apiVersion: "
          "sloth.slok.dev/v1 or pyrra.dev/v1alpha1, or a slos: list")
    return []


def _read_own_list(r: Reader, items: list[Any], base: tuple[str, ...]) -> list[SLO]:
    out = []
    for i, item in enumerate(items):
        d = r.mapping(item, (*base, i), "an SLO")
        if d is not None:
            slo = read_own(r, d, (*base, i))
            if slo is not None:
                out.append(slo)
    return out


def load_file(path: str | Path) -> tuple[list[SLO], list[ConfigIssue]]:
    """SLOs and warnings of one file; ``ConfigError`` lists every error in it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError.single(str(p), "SLO file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError.single(str(p), f"cannot read SLO file: {e}") from None
    issues: list[ConfigIssue] = []
    slos: list[SLO] = []
    for src in _documents(text, str(p)):
        r = Reader(src, issues)
        slos.extend(read_document(r))
    _check_unique(slos, issues)
    if any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    return slos, issues


def _check_unique(slos: list[SLO], issues: list[ConfigIssue]) -> None:
    seen: dict[tuple[str, str], SLO] = {}
    for s in slos:
        key = (s.service, s.name)
        if key in seen:
            issues.append(ConfigIssue(s.file, None, None, "", f"SLO {s.name!r} of service "
                                      f"{s.service!r} is defined twice (also in {seen[key].file})"))
        else:
            seen[key] = s


def load_config_slos(config_file: str | Path) -> tuple[list[SLO], list[ConfigIssue]]:
    """The SLOs of a guardia.yml's ``slos:`` section (inline and ``file:`` entries)."""
    src = load_yaml(config_file)
    data = src.data if isinstance(src.data, dict) else {}
    entries = data.get("slos") or []
    issues: list[ConfigIssue] = []
    if not isinstance(entries, list):
        raise ConfigError([src.issue(("slos",), "slos must be a list")])
    r = Reader(src, issues)
    base = Path(config_file).parent
    slos: list[SLO] = []
    for i, entry in enumerate(entries):
        if isinstance(entry, dict) and "file" in entry and "name" not in entry:
            pattern = str(entry["file"])
            full = pattern if Path(pattern).is_absolute() else str(base / pattern)
            paths = sorted(glob.glob(full)) if any(c in pattern for c in "*?[") else [full]
            if not paths:
                r.err(("slos", i, "file"), f"no SLO file matches {pattern!r}", severity="warning")
            for fp in paths:
                try:
                    got, warns = load_file(fp)
                except ConfigError as e:
                    issues.extend(e.issues)
                    continue
                slos.extend(got)
                issues.extend(warns)
            continue
        d = r.mapping(entry, ("slos", i), "an SLO")
        if d is not None:
            slo = read_own(r, d, ("slos", i))
            if slo is not None:
                slos.append(replace(slo, file=str(config_file)))
    _check_unique(slos, issues)
    if any(i.severity == "error" for i in issues):
        raise ConfigError(issues)
    return slos, issues


_CONFIG_KEYS = ("global", "scrape_configs", "rule_files", "alerting", "alertmanager", "probes",
                "checks", "web", "remote_write", "remote_read")


def load_any(path: str | Path) -> tuple[list[SLO], list[ConfigIssue]]:
    """An SLO file of any format, or a guardia.yml (its ``slos:`` section)."""
    p = Path(path)
    try:
        head = p.read_text(encoding="utf-8")
    except OSError:
        return load_file(p)  # reports the missing or unreadable file
    if re.search(rf"^({'|'.join(_CONFIG_KEYS)}):", head, re.M) or re.search(
            r"^\s*-\s*file:", head, re.M):
        return load_config_slos(p)
    return load_file(p)


def find(slos: list[SLO], name: str) -> SLO:
    """An SLO by ``name`` or ``service/name`` (or sloth's id ``service-name``)."""
    hits = [s for s in slos if name in (s.name, f"{s.service}/{s.name}", s.id)]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(f"{s.service}/{s.name}" for s in slos) or "none"
    if not hits:
        raise KeyError(f"no SLO named {name!r} (known: {known})")
    raise KeyError(f"{name!r} names several SLOs; use service/name (known: {known})")
