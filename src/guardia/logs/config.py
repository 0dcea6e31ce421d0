"""The ``logs:`` section of guardia.yml: storage, limits, what to collect, LogQL rule files.

``scrape_configs`` takes Promtail's shape, so a promtail.yml's jobs paste in unchanged:

```yaml
logs:
  retention: 31d
  retention_size: 20GB
  limits: {max_streams: 10000, max_line_size: 256KB, max_labels_per_stream: 15}
  positions: {filename: data/logs/positions.json}
  rule_files: [loki-rules/*.yml]          # Loki ruler format: LogQL in expr
  delete_request_cancel_period: 24h        # /loki/api/v1/delete requests wait this long (default 0s)
  scrape_configs:
    - job_name: nginx
      static_configs:
        - labels: {job: nginx, __path__: /var/log/nginx/*.log}
      pipeline_stages:
        - regex: {expression: '" (?P<status>\\d{3}) '}
        - labels: {status: }
    - job_name: syslog
      syslog: {listen_address: 0.0.0.0:1514, listen_protocol: tcp, labels: {job: syslog}}
    - job_name: journal
      journal: {labels: {job: systemd-journal}}
```

Every problem is reported with its field path (``logs.scrape_configs[0].pipeline_stages[1]...``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardia.config.relabel import RelabelConfig
from guardia.logs.errors import LogsError
from guardia.logs.logql.units import duration_seconds, parse_bytes
from guardia.logs.relabel import parse_relabel_configs
from guardia.logs.stages import StageConfigError, build_multiline, build_stages
from guardia.logs.syslog import SyslogConfig
from guardia.logs.tail import TailTarget
from guardia.model.labels import is_valid_label_name


class LogsConfigError(LogsError):
    """The ``logs:`` section is invalid; ``problems`` holds every ``logs.path: message``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))

    def located(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Each problem as (field path, message), for positions in the YAML file."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for p in self.problems:
            m = _LOCATED.match(p)
            if not m:
                out.append((("logs",), p))
                continue
            path: list[str | int] = []
            for name, index in _PART.findall(m.group(1)):
                path.append(int(index) if index else name)
            out.append((tuple(path), m.group(2)))
        return out


_LOCATED = re.compile(r"^([A-Za-z_][\w.\[\]]*?)(?::\s+|\s+(?=is |must |needs |takes ))(.*)$", re.S)
_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


@dataclass(frozen=True)
class JournalConfig:
    job_name: str
    labels: tuple[tuple[str, str], ...] = ()
    max_age_s: float = 12 * 3600
    path: str = ""
    relabel: tuple[RelabelConfig, ...] = ()


@dataclass(frozen=True)
class LogsConfig:
    path: str = ""
    retention_ms: int = 31 * 24 * 3600 * 1000
    retention_bytes: int = 0
    max_streams: int = 10_000
    max_line_bytes: int = 256 << 10
    max_labels_per_stream: int = 15
    positions_file: str = ""
    tail: tuple[TailTarget, ...] = ()
    syslog: tuple[SyslogConfig, ...] = ()
    journal: tuple[JournalConfig, ...] = ()
    rule_files: tuple[str, ...] = ()
    # how long a log deletion request waits before it is processed, and may be cancelled
    # (Loki's compactor.delete_request_cancel_period; guardia processes at once by default)
    delete_request_cancel_period_s: float = 0.0


TOP = {"path", "retention", "retention_size", "limits", "positions", "scrape_configs", "rule_files",
       "delete_request_cancel_period"}
JOB = {"job_name", "static_configs", "pipeline_stages", "syslog", "journal", "relabel_configs"}


def parse_logs_config(raw: Mapping[str, Any] | None, base_dir: str | Path = ".") -> LogsConfig:
    """Validate the section; paths are relative to the config file's directory."""
    if not raw:
        return LogsConfig()
    problems: list[str] = []
    base = Path(base_dir)

    def err(where: str, msg: str) -> None:
        problems.append(f"logs.{where}: {msg}" if where else f"logs: {msg}")

    def rel(p: str) -> str:
        return p if os.path.isabs(p) else str(base / p)

    if not isinstance(raw, Mapping):
        raise LogsConfigError(["logs: must be a mapping (see docs/logs.md)"])
    for k in sorted(set(raw) - TOP):
        err(str(k), f"unknown field; allowed: {', '.join(sorted(TOP))}")
    kw: dict[str, Any] = {}
    if raw.get("path"):
        kw["path"] = rel(str(raw["path"]))
    if raw.get("retention") is not None:
        try:
            kw["retention_ms"] = int(duration_seconds(str(raw["retention"])) * 1000)
        except ValueError as e:
            err("retention", str(e))
    if raw.get("retention_size") is not None:
        try:
            v = raw["retention_size"]
            kw["retention_bytes"] = int(v) if isinstance(v, int) else int(parse_bytes(str(v)))
        except ValueError as e:
            err("retention_size", str(e))
    limits = raw.get("limits") or {}
    if not isinstance(limits, Mapping):
        err("limits", "must be a mapping")
        limits = {}
    for k in sorted(set(limits) - {"max_streams", "max_line_size", "max_labels_per_stream"}):
        err(f"limits.{k}", "unknown field; allowed: max_line_size, max_labels_per_stream, max_streams")
    for key, attr in (("max_streams", "max_streams"), ("max_labels_per_stream", "max_labels_per_stream")):
        if key in limits:
            if not isinstance(limits[key], int) or limits[key] <= 0:
                err(f"limits.{key}", "must be a positive integer")
            else:
                kw[attr] = limits[key]
    if "max_line_size" in limits:
        try:
            v = limits["max_line_size"]
            kw["max_line_bytes"] = int(v) if isinstance(v, int) else int(parse_bytes(str(v)))
        except ValueError as e:
            err("limits.max_line_size", str(e))
    positions = raw.get("positions") or {}
    if isinstance(positions, Mapping) and positions.get("filename"):
        kw["positions_file"] = rel(str(positions["filename"]))
    if raw.get("delete_request_cancel_period") is not None:
        try:
            kw["delete_request_cancel_period_s"] = duration_seconds(str(raw["delete_request_cancel_period"]))
        except ValueError as e:
            err("delete_request_cancel_period", f"{e} (a duration such as 24h)")
    rule_files = raw.get("rule_files") or []
    if not isinstance(rule_files, list | tuple) or not all(isinstance(x, str) for x in rule_files):
        err("rule_files", "must be a list of file paths or globs")
    else:
        kw["rule_files"] = tuple(rel(x) for x in rule_files)
    tail: list[TailTarget] = []
    syslogs: list[SyslogConfig] = []
    journals: list[JournalConfig] = []
    jobs = raw.get("scrape_configs") or []
    if not isinstance(jobs, list | tuple):
        err("scrape_configs", "must be a list of jobs (Promtail's scrape_configs)")
        jobs = []
    names: set[str] = set()
    for i, job in enumerate(jobs):
        where = f"scrape_configs[{i}]"
        if not isinstance(job, Mapping):
            err(where, "must be a mapping with a job_name")
            continue
        for k in sorted(set(job) - JOB):
            err(f"{where}.{k}", f"unknown field; allowed: {', '.join(sorted(JOB))}")
        name = job.get("job_name")
        if not isinstance(name, str) or not name:
            err(f"{where}.job_name", "is required")
            continue
        if name in names:
            err(f"{where}.job_name", f"{name!r} is used twice")
        names.add(name)
        rules = parse_relabel_configs(job.get("relabel_configs"), f"{where}.relabel_configs", err)
        specs = job.get("pipeline_stages") or []
        try:
            if not isinstance(specs, list | tuple):
                raise StageConfigError("must be a list of stages")
            stages = tuple(build_stages(specs, f"{where}.pipeline_stages"))
            multiline = build_multiline(specs, f"{where}.pipeline_stages")
        except StageConfigError as e:
            problems.append(f"logs.{e}" if str(e).startswith("scrape_configs") else f"logs.{where}: {e}")
            continue
        kinds = [k for k in ("static_configs", "syslog", "journal") if job.get(k)]
        if len(kinds) != 1:
            err(where, "needs exactly one of static_configs (files), syslog or journal")
            continue
        if kinds[0] == "static_configs":
            tail.extend(
                _tail_targets(
                    job["static_configs"], name, stages, multiline, f"{where}.static_configs", err, rel, rules
                )
            )
        elif kinds[0] == "syslog":
            s = _syslog(job["syslog"], name, f"{where}.syslog", err, rules)
            if s is not None:
                syslogs.append(s)
        else:
            j = job["journal"]
            labels = (
                _labels(j.get("labels") or {}, f"{where}.journal.labels", err)
                if isinstance(j, Mapping)
                else ()
            )
            max_age = 12 * 3600.0
            if isinstance(j, Mapping) and j.get("max_age"):
                try:
                    max_age = duration_seconds(str(j["max_age"]))
                except ValueError as e:
                    err(f"{where}.journal.max_age", str(e))
            journals.append(
                JournalConfig(
                    name,
                    labels or (("job", name),),
                    max_age,
                    str(j.get("path", "")) if isinstance(j, Mapping) else "",
                    rules,
                )
            )
    if problems:
        raise LogsConfigError(problems)
    return LogsConfig(tail=tuple(tail), syslog=tuple(syslogs), journal=tuple(journals), **kw)


def _labels(raw: Any, where: str, err: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, Mapping):
        err(where, "must be a mapping of label names to values")
        return ()
    out: list[tuple[str, str]] = []
    for k, v in raw.items():
        if not is_valid_label_name(str(k)) and not str(k).startswith("__"):
            err(f"{where}.{k}", "invalid label name: use [a-zA-Z_][a-zA-Z0-9_]*")
            continue
        out.append((str(k), "" if v is None else str(v)))
    return tuple(out)


def _tail_targets(
    raw: Any, name: str, stages: tuple[Any, ...], multiline: Any, where: str, err: Any, rel: Any,
    rules: tuple[RelabelConfig, ...] = (),
) -> list[TailTarget]:
    if not isinstance(raw, list | tuple):
        err(where, "must be a list")
        return []
    out: list[TailTarget] = []
    for i, sc in enumerate(raw):
        here = f"{where}[{i}]"
        if not isinstance(sc, Mapping):
            err(here, "must be a mapping with labels (and __path__)")
            continue
        labels = dict(_labels(sc.get("labels") or {}, f"{here}.labels", err))
        path = labels.pop("__path__", "")
        exclude = labels.pop("__path_exclude__", "")
        if not path:
            err(f"{here}.labels.__path__", "is required: the file glob to tail, e.g. /var/log/nginx/*.log")
            continue
        if not any(k for k in labels if not k.startswith("__")):
            labels["job"] = name
        out.append(
            TailTarget(
                name,
                tuple(rel(p) for p in path.split(",")),
                tuple(rel(p) for p in exclude.split(",") if p),
                tuple(labels.items()),
                stages,
                multiline,
                rules,
            )
        )
    return out


def _syslog(
    raw: Any, name: str, where: str, err: Any, rules: tuple[RelabelConfig, ...] = ()
) -> SyslogConfig | None:
    if not isinstance(raw, Mapping):
        err(where, "must be a mapping with listen_address")
        return None
    allowed = {
        "listen_address",
        "listen_protocol",
        "labels",
        "use_incoming_timestamp",
        "label_structured_data",
        "idle_timeout",
        "max_message_length",
    }
    for k in sorted(set(raw) - allowed):
        err(f"{where}.{k}", f"unknown field; allowed: {', '.join(sorted(allowed))}")
    addr = raw.get("listen_address")
    if not isinstance(addr, str) or ":" not in addr or not addr.rpartition(":")[2].isdigit():
        err(f"{where}.listen_address", "is required as host:port, e.g. 0.0.0.0:1514")
        return None
    proto = str(raw.get("listen_protocol", "tcp")).lower()
    if proto not in ("tcp", "udp"):
        err(f"{where}.listen_protocol", "must be tcp or udp")
        return None
    labels = _labels(raw.get("labels") or {}, f"{where}.labels", err) or (("job", name),)
    return SyslogConfig(
        addr,
        proto,
        labels,
        bool(raw.get("use_incoming_timestamp", True)),
        bool(raw.get("label_structured_data", False)),
        relabel=rules,
    )
