"""Command checks: Nagios/Icinga plugins, run without a shell, read as their spec says.

Exit code 0/1/2/3 is OK/WARNING/CRITICAL/UNKNOWN (anything else UNKNOWN); the first line of
output is ``TEXT | perfdata``, later lines are long text and may carry more perfdata after a
``|``.  Each perfdata item ``'label'=value[UOM];[warn];[crit];[min];[max]`` becomes one row,
labelled ``perfdata`` (and ``unit``), with time and size units turned into seconds and bytes as
Prometheus names them.  A plugin that outlives its timeout is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import time

from guardia.checks.config import CommandSpec
from guardia.checks.result import Outcome, RowLabels, Status

_SCALE = {
    "s": (1.0, "seconds"), "ms": (1e-3, "seconds"), "us": (1e-6, "seconds"),
    "b": (1.0, "bytes"), "kb": (1024.0, "bytes"), "mb": (1024.0**2, "bytes"),
    "gb": (1024.0**3, "bytes"), "tb": (1024.0**4, "bytes"),
    "%": (1.0, "percent"), "c": (1.0, "total"),
}
_VALUE = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)([a-zA-Z%]*)$")
MAX_OUTPUT = 64 * 1024


def _split_perf(text: str) -> list[str]:
    """Perfdata items split on spaces, a quoted label keeping its spaces."""
    try:
        return shlex.split(text.replace("''", "\x00"), posix=True)
    except ValueError:
        return text.split()


def parse_perfdata(text: str) -> list[tuple[RowLabels, float]]:
    """Rows from a perfdata string; malformed items are skipped (plugins vary), not fatal."""
    rows: list[tuple[RowLabels, float]] = []
    for item in _split_perf(text):
        label, eq, rest = item.replace("\x00", "'").rpartition("=")
        if not eq or not label:
            continue
        m = _VALUE.match(rest.split(";", 1)[0])
        if m is None:
            continue  # 'U' (unknown) or garbage
        value, uom = float(m.group(1)), m.group(2)
        factor, unit = _SCALE.get(uom.lower(), (1.0, uom))
        labels: list[tuple[str, str]] = [("perfdata", label)]
        if unit:
            labels.append(("unit", unit))
        rows.append((tuple(sorted(labels)), value * factor))
    return rows


def parse_plugin_output(out: str, code: int, duration_s: float) -> Outcome:
    lines = out.splitlines() or [""]
    first, _, perf = lines[0].partition("|")
    perf_parts = [perf]
    for line in lines[1:]:
        if "|" in line:
            perf_parts.append(line.split("|", 1)[1])
    rows = parse_perfdata(" ".join(perf_parts))
    status = Status(code) if 0 <= code <= 3 else Status.UNKNOWN
    message = first.strip()
    if code not in (0, 1, 2, 3):
        message = f"exit code {code} (not a Nagios plugin state): {message}"
    return Outcome(True, status, tuple(rows), message, duration_s)


async def run_command(spec: CommandSpec, timeout_s: float, cwd: str) -> Outcome:
    start = time.monotonic()
    env = {**os.environ, **spec.env} if spec.env else None
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True)
    except OSError as e:
        return Outcome.failed(f"cannot run {spec.argv[0]}: {e.strerror or e}", time.monotonic() - start)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)  # the plugin's own children too (new session)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.wait(), timeout=1)
        raise
    code = proc.returncode if proc.returncode is not None else 3
    if code < 0:
        return Outcome.failed(f"{spec.argv[0]} was killed by signal {-code}", time.monotonic() - start)
    text = out[:MAX_OUTPUT].decode("utf-8", "replace")
    return parse_plugin_output(text, code, time.monotonic() - start)
