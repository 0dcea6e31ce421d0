"""`guardia serve` without typer: its flags as data, their parsing, and the run itself.

The server is a long-lived process, and everything imported only to read its command line
stays resident for its whole life: typer, click's help machinery, rich (typer's and httpx's
output), pygments and pydantic (typer's parameter coercion) cost about 7 MiB in every server
and every agent (``guardia serve --agent`` is meant to run at a fraction of a full guardia's
memory).  So ``guardia serve`` reads its flags here, from the same table its typer command is
declared from (``guardia.cli.serve``), and typer is loaded only for what it does better:
``--help``, an unknown flag or a bad value, whose messages stay typer's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from guardia.server import ServeOptions


@dataclass(frozen=True, slots=True)
class Flag:
    """One ``guardia serve`` flag: the parameter it fills, its spellings, default and help.
    A bool default makes it a switch (no value); an int default, an integer."""

    param: str
    names: tuple[str, ...]
    default: str | int | bool | None
    help: str


FLAGS: tuple[Flag, ...] = (
    Flag("config", ("--config", "--config.file"), None,
         "prometheus.yml or guardia.yml to run (default: quickstart)."),
    Flag("listen", ("--web.listen-address",), "127.0.0.1:9090",
         "host:port for the UI and API (0.0.0.0:9090 for all)."),
    Flag("storage_path", ("--storage.tsdb.path",), "data", "Directory for samples and WAL."),
    Flag("retention_time", ("--storage.tsdb.retention.time",), "15d",
         "Delete data older than this (e.g. 15d, 26w)."),
    Flag("retention_size", ("--storage.tsdb.retention.size",), "0",
         "Delete oldest blocks while blocks plus the WAL (the head on disk) pass this size "
         "(e.g. 10GB; 0 = off)."),
    Flag("wal_keep_size", ("--storage.remote.wal-keep-size",), "2GB",
         "WAL kept past a checkpoint for remote_write queues still sending it (0 = none)."),
    Flag("lookback_delta", ("--query.lookback-delta",), "5m",
         "How far back a query looks for the latest sample."),
    Flag("query_timeout", ("--query.timeout",), "2m", "Longest a query may run."),
    Flag("query_max_samples", ("--query.max-samples",), 50_000_000,
         "Most samples one query may load into memory."),
    Flag("external_url", ("--web.external-url",), "",
         "URL guardia is reachable at (its path becomes the route prefix)."),
    Flag("outage_tolerance", ("--rules.alert.for-outage-tolerance",), "1h",
         "Max downtime for which alert 'for' state is restored."),
    Flag("grace_period", ("--rules.alert.for-grace-period",), "10m",
         "Min time left of 'for' after a restart."),
    Flag("enable_admin_api", ("--web.enable-admin-api",), False, "Enable /api/v1/admin (TSDB snapshots)."),
    Flag("web_config_file", ("--web.config.file",), None,
         "Prometheus web config (TLS, basic_auth_users) plus guardia's roles: see docs/auth.md."),
    Flag("log_level", ("--log.level",), "info", "debug, info, warn or error."),
    Flag("agent", ("--agent",), False,
         "Agent mode: scrape and probe only to forward to remote_write "
         "(a WAL; no blocks, rules or queries)."),
    Flag("agent_path", ("--storage.agent.path",), "data-agent",
         "Directory for the agent's WAL (with --agent)."),
    Flag("enable_feature", ("--enable-feature",), "",
         "Prometheus feature flags, comma-separated or repeated: promql-delayed-name-removal, "
         "created-timestamp-zero-ingestion (created timestamps of scrapes and remote write 2.0 "
         "stored as zero samples). "
         "Features guardia always has (native-histograms, exemplar-storage, "
         "promql-experimental-functions, ...) are accepted as they are."),
)
FLAG = {f.param: f for f in FLAGS}
_BY_NAME = {n: f for f in FLAGS for n in f.names}

_SIZE_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


class FlagError(ValueError):
    """A flag's value is refused; the message names the flag or the value."""


def parse_size(text: str) -> int:
    """Prometheus byte sizes: ``512MB``, ``10GB`` (powers of 1024), or ``0`` for no limit."""
    s = text.strip().upper()
    if s in ("", "0"):
        return 0
    for unit in sorted(_SIZE_UNITS, key=len, reverse=True):
        if s.endswith(unit) and s[: -len(unit)].strip().isdigit():
            return int(s[: -len(unit)]) * _SIZE_UNITS[unit]
    raise FlagError(f"{text!r} is not a size; use e.g. 512MB, 10GB (units B KB MB GB TB PB)")


def _duration(text: str, flag: str) -> int:
    from guardia.model import DurationError, parse_duration

    try:
        return parse_duration(text)
    except DurationError as e:
        raise FlagError(f"{flag}: {e}") from None


def parse_args(args: list[str]) -> dict[str, Any] | None:
    """Flag values from a ``guardia serve`` command line, or None for anything but known flags
    with well-formed values (help, an unknown flag, a missing or non-integer value, an
    argument): typer then reads the line and says what is wrong, as it always did."""
    values: dict[str, Any] = {f.param: f.default for f in FLAGS}
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        f = _BY_NAME.get(name)
        if f is None:
            return None
        if isinstance(f.default, bool):
            if eq:
                return None
            values[f.param] = True
        else:
            if not eq:
                i += 1
                if i >= len(args):
                    return None
                value = args[i]
            if isinstance(f.default, int):
                try:
                    values[f.param] = int(value)
                except ValueError:
                    return None
            elif f.param == "enable_feature" and values[f.param]:
                values[f.param] += "," + value  # repeated, as Prometheus takes it
            else:
                values[f.param] = value
        i += 1
    return values


def options(v: dict[str, Any]) -> ServeOptions:
    """The server's options from the flags' values; ``FlagError`` names a refused one."""
    if v["agent"]:  # before guardia.server imports prometheus_client: an agent skips its __init__
        from guardia.web import light_client

        light_client.install()
    from guardia.server import ServeOptions, split_host_port

    if v["log_level"] not in _LEVELS:
        raise FlagError("--log.level must be one of debug, info, warn, error")
    try:
        split_host_port(v["listen"])
    except ValueError as e:
        raise FlagError(str(e)) from None
    flags = {
        "config.file": v["config"] or "",
        "web.listen-address": v["listen"],
        "storage.tsdb.path": v["storage_path"],
        "storage.tsdb.retention.time": v["retention_time"],
        "storage.tsdb.retention.size": v["retention_size"],
        "storage.remote.wal-keep-size": v["wal_keep_size"],
        "query.lookback-delta": v["lookback_delta"],
        "query.timeout": v["query_timeout"],
        "query.max-samples": str(v["query_max_samples"]),
        "web.external-url": v["external_url"],
        "rules.alert.for-outage-tolerance": v["outage_tolerance"],
        "rules.alert.for-grace-period": v["grace_period"],
        "web.enable-admin-api": str(v["enable_admin_api"]).lower(),
        "web.config.file": v["web_config_file"] or "",
        "log.level": v["log_level"],
        "agent": str(v["agent"]).lower(),
        "storage.agent.path": v["agent_path"],
        "enable-feature": v["enable_feature"],
    }
    features = enabled_features(v["enable_feature"])
    return ServeOptions(
        config_file=v["config"],
        listen_address=v["listen"],
        storage_path=v["storage_path"],
        retention_time_ms=_duration(v["retention_time"], "--storage.tsdb.retention.time"),
        retention_size=parse_size(v["retention_size"]),
        wal_keep_for_remote_bytes=parse_size(v["wal_keep_size"]),
        lookback_delta_ms=_duration(v["lookback_delta"], "--query.lookback-delta"),
        query_timeout_ms=_duration(v["query_timeout"], "--query.timeout"),
        query_max_samples=v["query_max_samples"],
        external_url=v["external_url"],
        for_outage_tolerance_ms=_duration(v["outage_tolerance"], "--rules.alert.for-outage-tolerance"),
        for_grace_period_ms=_duration(v["grace_period"], "--rules.alert.for-grace-period"),
        enable_admin_api=v["enable_admin_api"],
        agent=v["agent"],
        agent_storage_path=v["agent_path"],
        web_config_file=v["web_config_file"],
        flags=flags,
        delayed_name_removal="promql-delayed-name-removal" in features,
        ct_zero_ingestion="created-timestamp-zero-ingestion" in features,
    )


# Prometheus feature flags whose behaviour guardia has without being asked.
ALWAYS_ON = frozenset({
    "native-histograms", "exemplar-storage", "promql-experimental-functions", "otlp-write-receiver",
    "remote-write-receiver", "expand-external-labels", "memory-snapshot-on-shutdown",
    "promql-per-step-stats", "auto-gomaxprocs", "auto-gomemlimit", "concurrent-rule-eval",
    "utf8-names", "old-ui", "metadata-wal-records", "extra-scrape-metrics",
})
FEATURES = frozenset({"promql-delayed-name-removal", "created-timestamp-zero-ingestion"})


def enabled_features(text: str) -> set[str]:
    """The ``--enable-feature`` names guardia acts on; the others are logged, not refused, so a
    Prometheus unit file starts as it is (Prometheus itself only warns about unknown ones)."""
    out: set[str] = set()
    for name in (n.strip() for n in text.split(",")):
        if not name:
            continue
        if name in FEATURES:
            out.add(name)
        elif name in ALWAYS_ON:
            logging.getLogger("guardia.serve").info(
                "event=feature_always_on feature=%s msg=%r", name, "guardia does this without the flag")
        else:
            logging.getLogger("guardia.serve").warning(
                "event=unknown_feature feature=%s msg=%r", name,
                f"not a feature guardia knows; it is ignored (known: {', '.join(sorted(FEATURES))})")
    return out


def _error(text: str) -> None:
    """One error line on stderr, whole (never wrapped into a log file), red only on a terminal
    that has not asked for no colour."""
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        text = f"\x1b[31m{text}\x1b[0m"
    print(text, file=sys.stderr, flush=True)


FULL_ARENAS = 1  # see limit_malloc_arenas


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas, unless ``MALLOC_ARENA_MAX`` says otherwise.

    glibc gives each thread that allocates its own arena (up to 8 per core), and memory freed
    in one stays resident there: the server's worker threads (WAL writes, remote-write
    encoding, maintenance) left 4-6 MiB in theirs in an agent at 20,000 series (76.7 against
    80.3-82.5 MiB, alternated runs).  Python allocates under the GIL, so the threads hardly
    contend for a shared arena.  Called before any thread starts; not glibc: nothing to do.

    A full server takes one arena (``FULL_ARENAS``): with two, the worker threads that share
    the second (the first audit's queries and imports, maintenance, rule evaluation) kept
    5.5-6 MiB resident there that the main heap, trimmed after every window compression and
    maintenance round, would have reused."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return
    import ctypes

    m_arena_max = -8  # malloc.h
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(m_arena_max, arenas)


def fixed_mmap_threshold(threshold: int = 128 * 1024) -> None:
    """Allocations of ``threshold`` bytes or more always mapped on their own, unless
    ``MALLOC_MMAP_THRESHOLD_`` says otherwise (agent mode only).

    glibc raises its threshold to the size of each mapped block freed (up to 32 MiB), so after
    the first scrapes a scrape body, a WAL record or a remote-write request comes from the heap
    instead, and the heap keeps what is freed between the small objects that stay.  A fixed
    threshold gives those blocks back at once: ten agents at 20,000 series each, alternated
    runs, 62 MiB each against 64 (the same 62 in every agent), for about 10% more CPU (page
    faults of the blocks mapped anew at each scrape: 1.28 against 1.17 s a minute).  An agent
    is run for its memory; full mode keeps glibc's default.  Not glibc: nothing to do."""
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    import ctypes

    m_mmap_threshold = -3  # malloc.h
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(m_mmap_threshold, threshold)


def run(opts: ServeOptions, log_level: str) -> int:
    """Run the server until it is stopped; the exit status (1 when it could not start)."""
    limit_malloc_arenas(2 if opts.agent else FULL_ARENAS)
    if opts.agent:
        fixed_mmap_threshold()
    from guardia.config.errors import ConfigError
    from guardia.server import GuardiaProcess
    from guardia.storage.agent import AgentLockedError

    logging.basicConfig(
        level=_LEVELS[log_level],
        stream=sys.stderr,
        format="ts=%(asctime)s level=%(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per scrape is noise
    locked: tuple[type[Exception], ...] = ()
    if not opts.agent:  # the agent never loads the store (nor its error types)
        from guardia.storage.tsdb.db import StorageLockedError

        locked = (StorageLockedError,)
    try:
        asyncio.run(GuardiaProcess(opts).run())
    except ConfigError as e:
        _error("guardia serve: the configuration does not load")
        print(str(e), file=sys.stderr, flush=True)
        return 1
    except locked as e:
        _error(f"guardia serve: {e} with --storage.tsdb.path")
        return 1
    except AgentLockedError as e:
        _error(f"guardia serve: {e} (--storage.agent.path)")
        return 1
    except OSError as e:
        _error(f"guardia serve: {e} (is another process using {opts.listen_address}?)")
        return 1
    return 0


def skip_httpx_cli() -> None:
    """Keep httpx from importing its command-line client.

    ``import httpx`` loads ``httpx._main`` (rich, click, pygments: about 4 MiB resident) whenever
    those are installed, and typer's dependencies install them; httpx falls back to a stub when
    that import fails, which a ``None`` in ``sys.modules`` makes it do.  Only for ``guardia
    serve``, which never runs httpx's CLI; a library user's process is left alone."""
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def skip_uvicorn_cli() -> None:
    """Load uvicorn's ``Config`` and ``Server`` without its package ``__init__``.

    ``import uvicorn`` runs ``uvicorn.main``: its command line (click) and its worker
    supervisors (multiprocessing), ~1.5 MiB resident that ``guardia serve`` never uses; the
    server needs only ``uvicorn.Config`` and ``uvicorn.Server`` (and uvicorn's own modules
    import ``Config`` from the package).  So the package is made from its spec without
    running ``__init__`` and given those two.  If that fails (another uvicorn layout) the
    package is imported as usual.  Only for ``guardia serve`` in full mode, before anything imports
    uvicorn; a library user's process is left alone."""
    if "uvicorn" in sys.modules:
        return
    import importlib.util

    try:
        spec = importlib.util.find_spec("uvicorn")
        if spec is None or spec.loader is None:
            return
        pkg = importlib.util.module_from_spec(spec)
        sys.modules["uvicorn"] = pkg
        from uvicorn.config import Config
        from uvicorn.server import Server

        pkg.Config, pkg.Server = Config, Server  # type: ignore[attr-defined]
    except Exception:  # anything unexpected: the ordinary import
        for name in [m for m in sys.modules if m == "uvicorn" or m.startswith("uvicorn.")]:
            del sys.modules[name]


def fast_serve(args: list[str]) -> int | None:
    """Run ``guardia serve ARGS`` without typer, or None when typer should read the line."""
    values = parse_args(args)
    if values is None:
        return None
    skip_httpx_cli()
    try:
        opts = options(values)
    except FlagError:
        return None  # typer says what is wrong with the value, in its usual words
    if not opts.agent and not opts.flags.get("web.config.file"):
        skip_uvicorn_cli()  # (an agent serves with SmallServer; a web config may turn TLS on: hypercorn)
    return run(opts, values["log_level"])
