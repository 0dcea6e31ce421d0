"""The ``web.dashboards`` section of guardia.yml (checked for shape when the config loads):

    web:
      dashboards:
        provisioning: [dashboards/, /etc/guardia/dashboards]   # folders of .json/.yml files
        builtin: true                                          # guardia's own dashboards

Folders are relative to the config file; they are read at start and on every reload."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class DashboardsConfig:
    provisioning: tuple[Path, ...] = ()
    builtin: bool = True


def dashboards_config(web: Mapping[str, Any], config_file: str) -> DashboardsConfig:
    section = web.get("dashboards") or {}
    if not isinstance(section, Mapping):
        return DashboardsConfig()
    folders = section.get("provisioning") or ()
    if isinstance(folders, str):
        folders = (folders,)
    base = Path(config_file).parent if config_file else Path.cwd()
    paths = tuple(Path(str(f)) if Path(str(f)).is_absolute() else (base / str(f)).resolve() for f in folders)
    return DashboardsConfig(paths, section.get("builtin", True) is not False)
