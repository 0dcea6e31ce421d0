"""guardia.yml: a prometheus.yml plus guardia's own top-level sections.

``alertmanager:`` holds an alertmanager.yml inline or points at one (``{file: path}``), so a
team keeps one file; ``probes:``, ``checks:``, ``slos:`` and ``web:`` belong to features whose
own issues define them, so here they are only checked for shape (a list of named mappings,
or a mapping) and handed over frozen.  Everything else in the file is read exactly as a
prometheus.yml, so a plain prometheus.yml is a valid guardia.yml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from guardia.config.errors import ConfigIssue
from guardia.config.errors import Path as FieldPath
from guardia.config.kinds import GUARDIA_KEYS
from guardia.config.yamlsource import YamlSource

LIST_SECTIONS = ("probes", "checks", "slos")


@dataclass(frozen=True, slots=True)
class GuardiaSections:
    """The guardia-only parts of a guardia.yml, frozen (tuples and read-only mappings)."""

    alertmanager_inline: Any = None
    alertmanager_file: str | None = None
    probes: tuple[Any, ...] = ()
    checks: tuple[Any, ...] = ()
    slos: tuple[Any, ...] = ()
    web: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    logs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    # read by guardia.reports (metrics, targets, schedules: see docs/reports.md)
    reports: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


def freeze(obj: Any) -> Any:
    """Deep-freeze plain YAML data: dicts become read-only mappings, lists become tuples."""
    if isinstance(obj, dict):
        return MappingProxyType({k: freeze(v) for k, v in obj.items()})
    if isinstance(obj, list | tuple):
        return tuple(freeze(v) for v in obj)
    return obj


def split_guardia(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prometheus part, guardia part) of a guardia.yml document."""
    prom = {k: v for k, v in data.items() if k not in GUARDIA_KEYS}
    own = {k: v for k, v in data.items() if k in GUARDIA_KEYS}
    return prom, own


def parse_guardia_sections(src: YamlSource, own: dict[str, Any]) -> tuple[GuardiaSections, list[ConfigIssue]]:
    issues: list[ConfigIssue] = []

    def err(path: FieldPath, msg: str) -> None:
        issues.append(src.issue(path, msg))

    am_inline: Any = None
    am_file: str | None = None
    am = own.get("alertmanager")
    if am is not None:
        if not isinstance(am, dict):
            err(("alertmanager",), "alertmanager must be a mapping: an inline alertmanager.yml, or "
                "{file: path/to/alertmanager.yml}")
        elif "file" in am:
            extra = sorted(str(k) for k in am if k != "file")
            if extra:
                err(("alertmanager", extra[0]),
                    "with 'file', the alertmanager section takes no other fields; "
                    "put them in the referenced file")
            if not isinstance(am["file"], str) or not am["file"].strip():
                err(("alertmanager", "file"), "file must be the path of an alertmanager.yml")
            else:
                am_file = am["file"]
        else:
            am_inline = am

    lists: dict[str, tuple[Any, ...]] = {}
    for key in LIST_SECTIONS:
        value = own.get(key)
        if value is None:
            lists[key] = ()
            continue
        if not isinstance(value, list):
            err((key,), f"{key} must be a list of mappings, each with a name")
            lists[key] = ()
            continue
        names: dict[str, int] = {}
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                err((key, i), f"each entry of {key} must be a mapping with a name")
                continue
            if key == "slos" and "file" in entry and "name" not in entry:
                continue  # {file: slos/*.yml}: sloth, pyrra or guardia SLO files, read by guardia.slo
            py = entry.get("python")
            if key == "checks" and "name" not in entry and isinstance(py, dict) and "module" in py:
                continue  # {python: {module: m}}: the @guardia.checks.check functions of m, named there
            name = entry.get("name")
            if not isinstance(name, str) or not name:
                err((key, i), f"{key}[{i}] needs a name")
            elif name in names:
                err((key, i, "name"), f"{key} name {name!r} is used twice (first at {key}[{names[name]}])")
            else:
                names[name] = i
        lists[key] = freeze(value)

    web = own.get("web")
    if web is not None and not isinstance(web, dict):
        err(("web",), "web must be a mapping (e.g. listen_address: 0.0.0.0:9090)")
        web = None
    elif web is not None:
        _check_web_dashboards(web.get("dashboards"), err)
    logs = own.get("logs")
    if logs is not None and not isinstance(logs, dict):
        err(("logs",), "logs must be a mapping (scrape_configs, retention, limits, rule_files: "
            "see docs/logs.md)")
        logs = None
    reports = own.get("reports")
    if reports is not None and not isinstance(reports, dict):
        err(("reports",), "reports must be a mapping (metrics, targets, schedules: see docs/reports.md)")
        reports = None
    sections = GuardiaSections(
        alertmanager_inline=am_inline,
        alertmanager_file=am_file,
        probes=lists["probes"],
        checks=lists["checks"],
        slos=lists["slos"],
        web=freeze(web or {}),
        logs=freeze(logs or {}),
        reports=freeze(reports or {}),
    )
    return sections, issues


def _check_web_dashboards(section: Any, err: Any) -> None:
    """``web.dashboards``: ``provisioning`` (a folder or a list of folders) and ``builtin``."""
    if section is None:
        return
    where: FieldPath = ("web", "dashboards")
    if not isinstance(section, dict):
        err(where, "web.dashboards must be a mapping: {provisioning: [folder, ...], builtin: true}")
        return
    for key in section:
        if key not in ("provisioning", "builtin"):
            err((*where, key), f"unknown field {key!r} in web.dashboards; use provisioning or builtin")
    folders = section.get("provisioning")
    if folders is not None:
        items = [folders] if isinstance(folders, str) else folders
        if not isinstance(items, list):
            err((*where, "provisioning"), "provisioning must be a folder path or a list of folder paths")
        else:
            for i, f in enumerate(items):
                if not isinstance(f, str) or not f.strip():
                    err((*where, "provisioning", i), "each provisioning entry must be a folder path")
    if "builtin" in section and not isinstance(section["builtin"], bool):
        err((*where, "builtin"), "builtin must be true or false")

