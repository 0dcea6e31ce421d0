#!/usr/bin/env python3
"""Build the web UI's front-end bundle (src/guardia/web/ui/static/guardia.{js,css}).

Runs ``npm ci`` (exact versions from frontend/package-lock.json) and esbuild
(frontend/build.mjs), then writes ``bundle.stamp``: a hash of every input (package.json,
the lockfile, build.mjs, frontend/src/**).  When the stamp matches, nothing runs, so this is
cheap to call from the package build (setup.py), from CI and from the UI tests.

    python3 scripts/build_ui.py           # build if missing or stale
    python3 scripts/build_ui.py --check   # exit 1 if missing or stale, build nothing
    python3 scripts/build_ui.py --force   # rebuild regardless

Set GUARDIA_SKIP_UI_BUILD=1 to install without node (the UI then runs without charts and
the PromQL editor, and says so on every page).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "frontend"
STATIC = ROOT / "src" / "guardia" / "web" / "ui" / "static"
OUTPUTS = ("guardia.js", "guardia.css")
STAMP = STATIC / "bundle.stamp"


def inputs() -> list[Path]:
    files = [FRONTEND / "package.json", FRONTEND / "package-lock.json", FRONTEND / "build.mjs"]
    files += sorted(p for p in (FRONTEND / "src").rglob("*") if p.is_file())
    return files


def input_hash() -> str:
    h = hashlib.sha256()
    for p in inputs():
        h.update(str(p.relative_to(FRONTEND)).encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()


def is_current() -> bool:
    if not all((STATIC / name).is_file() for name in OUTPUTS) or not STAMP.is_file():
        return False
    return STAMP.read_text().strip() == input_hash()


def build() -> None:
    npm = shutil.which("npm")
    node = shutil.which("node")
    if npm is None or node is None:
        raise SystemExit(
            "building guardia's web UI needs node and npm (apt-get install nodejs npm); "
            "or set GUARDIA_SKIP_UI_BUILD=1 to install without the UI's charts and editor"
        )
    env = {**os.environ, "npm_config_fund": "false", "npm_config_audit": "false",
           "npm_config_update_notifier": "false"}
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=FRONTEND, check=True, env=env)
    STATIC.mkdir(parents=True, exist_ok=True)
    subprocess.run([node, "build.mjs", str(STATIC)], cwd=FRONTEND, check=True, env=env)
    STAMP.write_text(input_hash() + "\n")


def ensure(force: bool = False) -> bool:
    """Build when needed; True if a build ran."""
    if not force and is_current():
        return False
    if os.environ.get("GUARDIA_SKIP_UI_BUILD") and not force:
        print("build_ui: GUARDIA_SKIP_UI_BUILD set, the UI bundle is not built", file=sys.stderr)
        return False
    build()
    return True


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if is_current():
            return 0
        print("the UI bundle is missing or older than frontend/: run python3 scripts/build_ui.py",
              file=sys.stderr)
        return 1
    ran = ensure(force="--force" in argv)
    print("build_ui: built" if ran else "build_ui: bundle is current")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
