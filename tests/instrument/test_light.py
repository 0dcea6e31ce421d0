"""guardia.instrument goes into the monitored apps: it must not drag the server in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

# Importing any of these would mean an app pays for the server (numpy, the TSDB, the web stack).
_SERVER = ("guardia.server", "guardia.storage", "guardia.web", "guardia.promql", "guardia.config",
           "guardia.model", "guardia.cli", "numpy", "starlette", "uvicorn", "zstandard", "yaml")

_PROBE = """
import sys, json
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED or any(name == b or name.startswith(b + '.') for b in BLOCKED):
            raise ImportError(f'blocked: {name}')
        return None
BLOCKED = set(json.loads(sys.argv[1]))
sys.meta_path.insert(0, Block())
import guardia.instrument
from guardia.instrument import instrument, WebSocketMetrics
import guardia.instrument.gunicorn_hooks
print(json.dumps(sorted(m for m in sys.modules if m.startswith('guardia'))))
"""


def test_importable_with_the_servers_packages_blocked() -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(_SERVER)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    assert all(m == "guardia" or m.startswith("guardia.instrument") for m in loaded), loaded
