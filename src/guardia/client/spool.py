"""Alerts that could not be delivered, kept on local disk until guardia answers again.

One JSON file per batch in the spool folder, written atomically (temp file + rename), so a
crash never leaves half a batch; the oldest are sent first, and a batch is deleted only after
the server took it.  The folder is bounded (``max_files``): past it the oldest batch is
dropped, loudly, rather than filling the disk of an app whose guardia is gone for good.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("guardia.client")

DEFAULT_MAX_FILES = 10_000


def default_dir() -> Path:
    return Path(os.environ.get("GUARDIA_SPOOL_DIR") or Path(tempfile.gettempdir()) / "guardia-spool")


class Spool:
    def __init__(self, directory: str | Path | None = None, max_files: int = DEFAULT_MAX_FILES) -> None:
        self.dir = Path(directory) if directory is not None else default_dir()
        self.max_files = max_files
        self._seq = 0

    def put(self, alerts: list[dict[str, Any]]) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        self._seq += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._seq}.json"
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            json.dump(alerts, f)
        path = self.dir / name
        os.replace(tmp, path)
        files = self.files()
        for old in files[: max(0, len(files) - self.max_files)]:
            log.error("event=spool_full dropped=%s max_files=%d", old.name, self.max_files)
            old.unlink(missing_ok=True)
        return path

    def files(self) -> list[Path]:
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if p.suffix == ".json" and not p.name.startswith("."))

    def read(self, path: Path) -> list[dict[str, Any]] | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            log.error("event=spool_unreadable file=%s action=dropped", path)
            path.unlink(missing_ok=True)
            return None
        return data if isinstance(data, list) else None
