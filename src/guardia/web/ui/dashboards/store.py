"""Where dashboards live: built into guardia, provisioned from folders named in guardia.yml
(read-only, re-read on reload), and saved (uploaded in the UI, pushed through Grafana's API or
``guardia dashboards import``) as JSON files under ``<data>/dashboards/``.

Saving follows Grafana's rules so tools that push to Grafana behave the same here: a stale
``version`` is refused unless ``overwrite``, a title taken by another dashboard in the same
folder is refused, provisioned and built-in dashboards cannot be overwritten.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from guardia.config.loader import Config
from guardia.web.ui.dashboards.config import dashboards_config
from guardia.web.ui.dashboards.model import Dashboard, DashboardError, load_text, parse_dashboard

log = logging.getLogger("guardia.dashboards")

SUFFIXES = (".json", ".yml", ".yaml")


def slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "dashboard"


def numeric_id(uid: str) -> int:
    """A stable integer id for a uid (Grafana's API carries both; tools key on the uid)."""
    return zlib.crc32(uid.encode()) & 0x7FFFFFFF or 1


@dataclass(frozen=True, slots=True)
class StoredDashboard:
    dashboard: Dashboard
    source: str  # "builtin" | "provisioned" | "saved"
    path: str
    folder: str = ""
    created: float = 0.0
    updated: float = 0.0
    message: str = ""

    @property
    def uid(self) -> str:
        return self.dashboard.uid

    @property
    def id(self) -> int:
        return numeric_id(self.uid)

    @property
    def slug(self) -> str:
        return slugify(self.dashboard.title)

    @property
    def url(self) -> str:
        return f"/d/{self.uid}/{self.slug}"

    @property
    def provisioned(self) -> bool:
        return self.source != "saved"


class SaveError(Exception):
    """A refused save, with the HTTP status and Grafana's ``status`` code for it."""

    def __init__(self, http_status: int, status: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status = status
        self.message = message


def _read_file(path: Path) -> Mapping[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DashboardError([f"cannot read: {e}"], str(path)) from None
    return load_text(text, path.name)


def _with_uid(data: Mapping[str, Any], fallback: str) -> dict[str, Any]:
    d = dict(data)
    if not d.get("uid"):
        d["uid"] = fallback
    return d


def _file_uid(path: Path) -> str:
    """The uid of a provisioned file without one: its name, made uid-safe and short."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.stem).strip("-") or "dashboard"
    return base[:40]


class DashboardStore:
    def __init__(self, data_dir: Path | str | None = None, *, builtin: bool = True) -> None:
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self._lock = threading.Lock()
        self._builtin: dict[str, StoredDashboard] = {}
        self.show_builtin = builtin
        self._provisioned: dict[str, StoredDashboard] = {}
        self._saved: dict[str, StoredDashboard] = {}
        self.errors: list[str] = []  # files that could not be loaded, for the dashboards page
        self._builtin_errors: list[str] = []
        self._provisioning_errors: list[str] = []
        if builtin:
            self._load_builtin()
        if self.data_dir is not None:
            self._load_saved()
        self._refresh_errors()

    # -- loading -------------------------------------------------------------------------

    def _load_builtin(self) -> None:
        root = resources.files("guardia.web.ui.dashboards").joinpath("builtin")
        for entry in sorted(root.iterdir(), key=lambda e: e.name):
            if not entry.name.endswith(SUFFIXES):
                continue
            try:
                data = load_text(entry.read_text(encoding="utf-8"), entry.name)
                d = parse_dashboard(_with_uid(data, _file_uid(Path(entry.name))), f"builtin/{entry.name}")
            except DashboardError as e:
                self._builtin_errors.append(str(e))
                continue
            self._builtin[d.uid] = StoredDashboard(d, "builtin", f"builtin/{entry.name}", folder="guardia")

    def _load_saved(self) -> None:
        assert self.data_dir is not None
        if not self.data_dir.is_dir():
            return
        for path in sorted(self.data_dir.glob("*.json")):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                meta = record.get("meta", {})
                d = parse_dashboard(record["dashboard"], str(path))
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
                log.error("event=dashboard_unreadable file=%s reason=%r", path, str(e))
                continue
            self._saved[d.uid] = StoredDashboard(
                d, "saved", str(path), folder=str(meta.get("folder", "")),
                created=float(meta.get("created", 0)), updated=float(meta.get("updated", 0)),
                message=str(meta.get("message", "")),
            )

    def provision(self, folders: Sequence[Path]) -> list[str]:
        """(Re)load every dashboard file in ``folders``; returns the problems, file by file.

        A file that does not load is reported and skipped; the others still appear."""
        found: dict[str, StoredDashboard] = {}
        errors: list[str] = []
        for folder in folders:
            if not folder.is_dir():
                errors.append(f"{folder}: dashboard provisioning folder does not exist")
                continue
            for path in sorted(p for p in folder.rglob("*") if p.suffix in SUFFIXES and p.is_file()):
                try:
                    d = parse_dashboard(_with_uid(_read_file(path), _file_uid(path)), str(path))
                except DashboardError as e:
                    errors.append(str(e) if e.source else f"{path}: {e}")
                    continue
                if d.uid in found:
                    errors.append(f"{path}: uid {d.uid!r} is also used by {found[d.uid].path}; "
                                  "this file is skipped")
                    continue
                rel = path.parent.relative_to(folder)
                found[d.uid] = StoredDashboard(d, "provisioned", str(path),
                                               folder="" if str(rel) == "." else str(rel))
        with self._lock:
            self._provisioned = found
            self._provisioning_errors = errors
            self._refresh_errors()
        for problem in errors:
            log.error("event=dashboard_provisioning_error reason=%r", problem)
        return errors

    def apply_config(self, cfg: Config) -> None:
        """``web.dashboards`` of guardia.yml: provisioning folders (re-read now) and built-ins."""
        dc = dashboards_config(cfg.sections.web, cfg.file)
        self.show_builtin = dc.builtin
        self.provision(dc.provisioning)

    def _refresh_errors(self) -> None:
        self.errors = [*self._builtin_errors, *self._provisioning_errors]

    # -- reading -------------------------------------------------------------------------

    def get(self, uid: str) -> StoredDashboard | None:
        with self._lock:
            builtin = self._builtin.get(uid) if self.show_builtin else None
            return self._saved.get(uid) or self._provisioned.get(uid) or builtin

    def all(self) -> list[StoredDashboard]:
        with self._lock:
            merged = {**(self._builtin if self.show_builtin else {}), **self._provisioned, **self._saved}
        return sorted(merged.values(), key=lambda s: (s.folder, s.dashboard.title.lower()))

    def search(self, query: str = "", tags: Iterable[str] = (), uids: Iterable[str] = ()
               ) -> list[StoredDashboard]:
        q = query.lower()
        want_tags = set(tags)
        want_uids = set(uids)
        return [
            s for s in self.all()
            if (not q or q in s.dashboard.title.lower())
            and want_tags <= set(s.dashboard.tags)
            and (not want_uids or s.uid in want_uids)
        ]

    # -- writing -------------------------------------------------------------------------

    def save(self, data: Mapping[str, Any], *, overwrite: bool = False, folder: str = "",
             message: str = "") -> StoredDashboard:
        """Save like Grafana's ``POST /api/dashboards/db``; raises ``SaveError`` or
        ``DashboardError`` (a dashboard that does not parse)."""
        if self.data_dir is None:
            raise SaveError(503, "unavailable", "this guardia has no data directory to save dashboards in")
        body = dict(data)
        body.pop("id", None)
        uid = str(body.get("uid") or "")
        with self._lock:
            if not uid:
                uid = secrets.token_urlsafe(10).replace("-", "a").replace("_", "b")[:14]
                body["uid"] = uid
            if uid in self._provisioned or uid in self._builtin:
                owner = self._provisioned.get(uid) or self._builtin[uid]
                raise SaveError(400, "provisioned-dashboard",
                                f"Cannot save provisioned dashboard {uid!r} (from {owner.path}); "
                                "save a copy under another uid")
            old = self._saved.get(uid)
            if old is not None and not overwrite:
                sent = body.get("version")
                if sent is None or int(sent) != old.dashboard.version:
                    raise SaveError(412, "version-mismatch", "The dashboard has been changed by someone else")
            title = str(body.get("title") or "")
            for other in self._saved.values():
                clash = other.uid != uid and other.folder == folder and other.dashboard.title == title
                if clash and not overwrite:
                    raise SaveError(412, "name-exists",
                                    "A dashboard with the same name in the folder already exists")
            body["version"] = (old.dashboard.version if old else 0) + 1
            d = parse_dashboard(body, f"dashboard {uid!r}")
            now = time.time()
            stored = StoredDashboard(d, "saved", str(self.data_dir / f"{uid}.json"), folder=folder,
                                     created=old.created if old else now, updated=now, message=message)
            self._write(stored, body)
            self._saved[uid] = stored
        log.info("event=dashboard_saved uid=%s version=%d title=%r", uid, d.version, d.title)
        return stored

    def _write(self, s: StoredDashboard, body: Mapping[str, Any]) -> None:
        assert self.data_dir is not None
        self.data_dir.mkdir(parents=True, exist_ok=True)
        record = {"dashboard": body, "meta": {"folder": s.folder, "created": s.created, "updated": s.updated,
                                              "message": s.message}}
        path = Path(s.path)
        tmp = path.with_suffix(".json.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def delete(self, uid: str) -> StoredDashboard:
        with self._lock:
            s = self._saved.get(uid)
            if s is None:
                if uid in self._provisioned or uid in self._builtin:
                    raise SaveError(400, "provisioned-dashboard", "provisioned dashboard cannot be deleted")
                raise SaveError(404, "not-found", "Dashboard not found")
            Path(s.path).unlink(missing_ok=True)
            del self._saved[uid]
        return s
