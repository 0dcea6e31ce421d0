"""The composition root: the one place that builds every subsystem, wires them, runs and reloads them.

``GuardiaProcess.run`` opens the store, loads the config, builds the subsystems, applies the
config to them, starts them and the HTTP server, and waits for a stop.  Nothing else in guardia
constructs a subsystem or knows how two of them connect: scrape, rules and alerting never see
each other, the web package sees them only through the narrow retrievers it declares.

A reload (SIGHUP or ``POST /-/reload``) is one loop over ``reloaders``, as Prometheus's
``main.go`` does it: each subsystem registers one ``Reloader`` that hands it its part of the
new config (``apply_config``).  A config that does not load is refused before any reloader
runs: the old one keeps running, the reason is logged and shown by ``/-/reload`` and
``/api/v1/status/runtimeinfo``.  A new subsystem (probes, SLOs, logs, ...) is built in
``start`` and registered with one line there.  SIGTERM/SIGINT stop scraping, stop HTTP and
close the store (WAL flushed, blocks closed) within a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from prometheus_client import CollectorRegistry, Gauge

from guardia.config.agent_mode import check_agent_config
from guardia.config.errors import ConfigError
from guardia.config.loader import Config, dump_redacted, load_config
from guardia.config.webconfig import WebConfig, load_web_config
from guardia.model import format_duration
from guardia.probes.service import ProbeService
from guardia.scrape import ScrapeManager
from guardia.storage.agent import AgentStorage
from guardia.storage.exemplars import ExemplarRelay, ExemplarStore
from guardia.storage.interface import Storage
from guardia.storage.remote.write_storage import RemoteWriteStorage
from guardia.web.agent import create_agent_app
from guardia.web.auth import Auth, AuthMiddleware
from guardia.web.plain import ASGIApp
from guardia.web.plain_router import as_starlette
from guardia.web.probe_api import probe_routes, push_routes
from guardia.web.protocols import RuntimeView
from guardia.web.selfmetrics import register_process_collectors

if TYPE_CHECKING:  # full mode's subsystems: imported where built (agent mode never loads them)
    import uvicorn
    from starlette.routing import BaseRoute

    from guardia.alerting import Alertmanager
    from guardia.audit.routing import Delivery
    from guardia.audit.service import AuditService
    from guardia.checks.service import CheckService
    from guardia.logs.service import LogsService
    from guardia.probes.status import StatusStore
    from guardia.promql import Engine, Sample
    from guardia.reports.schedule import ReportScheduler
    from guardia.reports.source import HttpSource
    from guardia.rules import Group, Notifier, RuleManager
    from guardia.rules.query import QueryFunc
    from guardia.slo.service import SLOService
    from guardia.storage.remote.metadata import Metadata
    from guardia.storage.remote.otlp_translate import OtlpSettings
    from guardia.storage.remote.query_api import PromQLAPIClient
    from guardia.storage.remote.read_client import RemoteReadClient
    from guardia.storage.tsdb import TSDB
    from guardia.storage.tsdb.db import HeadStats
    from guardia.web.api_v1 import ApiDeps
    from guardia.web.status.pages import StatusSite
    from guardia.web.ui.dashboards.remote_reader import RemoteEngineReader
    from guardia.web.ui.dashboards.store import DashboardStore

log = logging.getLogger("guardia.serve")

SHUTDOWN_BUDGET_S = 8.0
MAINTENANCE_EVERY_S = 30.0


@dataclass
class ServeOptions:
    config_file: str | None = None
    listen_address: str = "127.0.0.1:9090"
    storage_path: str = "data"
    retention_time_ms: int = 15 * 24 * 3600 * 1000
    retention_size: int = 0
    wal_keep_for_remote_bytes: int = 2 << 30
    lookback_delta_ms: int = 5 * 60 * 1000
    query_timeout_ms: int = 2 * 60 * 1000
    query_max_samples: int = 50_000_000
    external_url: str = ""
    for_outage_tolerance_ms: int = 3600 * 1000
    for_grace_period_ms: int = 10 * 60 * 1000
    enable_admin_api: bool = False
    agent: bool = False
    agent_storage_path: str = "data-agent"
    web_config_file: str | None = None
    flags: dict[str, str] = field(default_factory=dict)
    # --enable-feature=promql-delayed-name-removal
    delayed_name_removal: bool = False
    # --enable-feature=created-timestamp-zero-ingestion (scrapes and remote write 2.0)
    ct_zero_ingestion: bool = False


class ServedStorage(Storage, Protocol):
    """The store as the server drives it: appends and queries (``Storage``), plus the
    periodic head cut / compaction / retention, the admin API's snapshots and the head's
    cardinality for ``/api/v1/status/tsdb``."""

    def maintain(self) -> object: ...

    def snapshot(self, out: str | Path, with_head: bool = True) -> object: ...

    def head_stats(self, metric_label: str = "__name__", limit: int = 10) -> HeadStats: ...


# What a subsystem does with a new config; a coroutine when applying it has to wait (the
# Alertmanager stops its dispatcher before rebuilding the routing tree).
ApplyConfig = Callable[[Config], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class Reloader:
    """One subsystem's part of a reload: its name (for the log) and its ``apply_config``."""

    name: str
    apply_config: ApplyConfig


def split_host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"invalid listen address {addr!r}: use host:port such as 127.0.0.1:9090")
    return host.strip("[]"), int(port)


def listen_socket(host: str, port: int) -> socket.socket:
    """A bound TCP listener whose accepted connections get TCP_NODELAY.

    asyncio turns Nagle off only on sockets whose ``proto`` says TCP, and an accepted socket
    inherits the listener's: a listener made as ``socket.socket(AF_INET)`` has proto 0, so every
    keep-alive response written in two parts (headers, then body) waited for the client's
    delayed ACK, ~40 ms per request for Prometheus, Grafana and httpx clients (curl, opening a
    new connection each time, never saw it)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                         socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


class _HTTPServer(Protocol):
    """What the process drives of an HTTP server: uvicorn's (full mode), ``TlsServer`` (HTTPS)
    or ``SmallServer`` (an agent's plain HTTP)."""

    started: bool
    should_exit: bool

    async def serve(self, sockets: list[socket.socket]) -> None: ...


def _uvicorn_server(app: ASGIApp) -> uvicorn.Server:
    """uvicorn without its own signal handling: the process owns SIGTERM/SIGHUP.  Imported
    here: an agent, which serves with ``SmallServer``, never loads it."""
    import uvicorn

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False,
                                  timeout_graceful_shutdown=3, ws=_websocket_protocol()))  # type: ignore[arg-type]


def _websocket_protocol() -> Callable[..., asyncio.Protocol] | str:
    """uvicorn's WebSocket protocol ("auto": websockets, else wsproto), imported on the first
    WebSocket (the live log tail) instead of at start: websockets and what it imports are
    ~1.5 MiB resident in every server, and most never serve one (#28).  uvicorn calls what it
    is given with the protocol's keyword arguments on each upgrade; with neither library
    installed it refuses upgrades, as "auto" makes it."""
    import importlib.util

    if importlib.util.find_spec("websockets") is None and importlib.util.find_spec("wsproto") is None:
        return "none"

    def protocol(**kwargs: Any) -> asyncio.Protocol:
        from uvicorn.protocols.websockets.auto import AutoWebSocketsProtocol

        assert AutoWebSocketsProtocol is not None
        return AutoWebSocketsProtocol(**kwargs)

    return protocol


def open_storage(opts: ServeOptions, registry: CollectorRegistry, ooo_window_ms: int = 0) -> TSDB:
    """The embedded TSDB at ``--storage.tsdb.path`` with the retention flags applied, and the
    config's out-of-order window (known before the WAL replays, so late samples it accepted
    are accepted again)."""
    from guardia.storage.tsdb import TSDB, TSDBOptions
    options = TSDBOptions(retention_ms=opts.retention_time_ms, retention_bytes=opts.retention_size,
                          wal_keep_for_remote_bytes=opts.wal_keep_for_remote_bytes,
                          out_of_order_time_window_ms=ooo_window_ms)
    return TSDB.open(opts.storage_path, options, registry)


async def maintenance_loop(
    storage: ServedStorage, stop: asyncio.Event, every_s: float = MAINTENANCE_EVERY_S
) -> None:
    """Head cut, compaction and retention, off the event loop, until ``stop``."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
        if stop.is_set():
            return
        try:
            rep = await asyncio.to_thread(storage.maintain)
            log.debug("event=tsdb_maintenance report=%r", rep)
        except Exception:
            log.exception("event=tsdb_maintenance_failed")


def make_engine(opts: ServeOptions) -> Engine:
    from guardia.promql import Engine, EngineOptions
    return Engine(
        EngineOptions(
            lookback_delta_ms=opts.lookback_delta_ms,
            max_samples=opts.query_max_samples,
            timeout_s=opts.query_timeout_ms / 1000,
            delayed_name_removal=opts.delayed_name_removal,
        )
    )


def render_quickstart(guardia_address: str, demo_address: str, directory: Path) -> Path:
    """Write the built-in quickstart config with this process's addresses filled in."""
    text = resources.files("guardia").joinpath("quickstart.yml").read_text()
    text = text.replace("${GUARDIA_ADDRESS}", guardia_address).replace("${DEMO_ADDRESS}", demo_address)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "quickstart.yml"
    path.write_text(text)
    return path


@dataclass(frozen=True, slots=True)
class _AllRules:
    """PromQL and LogQL rule groups as one list for /api/v1/rules and /api/v1/alerts."""

    managers: tuple[RuleManager, ...]

    def rule_groups(self) -> list[Group]:
        return sorted((g for m in self.managers for g in m.rule_groups()), key=lambda g: (g.file, g.name))


class GuardiaProcess:
    """Owns every subsystem for the life of ``guardia serve``.

    The fields are filled by ``start`` in the order data flows (storage, scrape, alerting,
    rules, HTTP); before ``start`` they do not exist, so nothing can use a half-built process.
    """

    storage: ServedStorage
    engine: Engine
    scrape: ScrapeManager
    notifier: Notifier
    rules: RuleManager
    slos: SLOService
    checks: CheckService
    audit: AuditService
    reports: ReportScheduler
    logs: LogsService
    log_rules: RuleManager
    alertmanager: Alertmanager | None
    probes: ProbeService
    remote_write: RemoteWriteStorage
    agent_store: AgentStorage
    status: StatusStore
    _status_site: StatusSite
    dashboards: DashboardStore
    api: ApiDeps
    auth: Auth
    http_app: ASGIApp  # everything HTTP answers, behind the auth middleware
    listen: str

    def __init__(self, opts: ServeOptions) -> None:
        self.opts = opts
        # auto_describe: a second metric with a taken name fails at registration, not as a
        # duplicate series at scrape time
        self.registry = CollectorRegistry(auto_describe=True)
        register_process_collectors(self.registry)
        self.config: Config | None = None
        self.config_path: str = opts.config_file or ""
        self.reloaders: list[Reloader] = []
        self.started_ms = int(time.time() * 1000)
        self.last_config_ms = 0
        self.reload_ok = True
        self.reload_error = ""
        self._started = False
        self._ready = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._servers: list[_HTTPServer] = []
        self.web_config = WebConfig()
        self._reload_lock = asyncio.Lock()
        self._on_stop = contextlib.AsyncExitStack()
        self._stopping_since = 0.0
        self._external_url = ""
        self._m_reload_ok = Gauge(
            "prometheus_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful.",
            registry=self.registry,
        )
        self._m_reload_ts = Gauge(
            "prometheus_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload.",
            registry=self.registry,
        )
        self._m_ready = Gauge(
            "prometheus_ready", "Whether Prometheus startup was fully completed.", registry=self.registry
        )

    # -- config ------------------------------------------------------------------------------

    async def _apply_config(self, cfg: Config) -> None:
        """Hand ``cfg`` to every reloader in registration order; all run even if one fails."""
        failed: list[str] = []
        for r in self.reloaders:
            try:
                pending = r.apply_config(cfg)
                if pending is not None:
                    await pending
            except Exception as e:
                log.exception("event=apply_config_failed subsystem=%s", r.name)
                failed.append(f"{r.name}: {e}")
        if failed:
            raise ValueError("applying the new configuration failed for " + "; ".join(failed))
        self.config = cfg
        self.last_config_ms = int(time.time() * 1000)
        self.reload_ok, self.reload_error = True, ""
        self._m_reload_ok.set(1)
        self._m_reload_ts.set(time.time())

    def _load_config(self) -> Config:
        """The config file as the process's flags read it (start and every reload alike)."""
        return load_config(self.config_path, proto_first=self.opts.ct_zero_ingestion)

    def _reload_failed(self, reason: str) -> ValueError:
        self.reload_ok, self.reload_error = False, reason
        self._m_reload_ok.set(0)
        return ValueError(reason)

    async def reload(self) -> None:
        """Reload from disk; on any error keep the running config and raise ``ValueError``."""
        async with self._reload_lock:
            try:
                cfg = await asyncio.to_thread(self._load_config)
            except ConfigError as e:
                log.error(
                    "event=reload_failed file=%s keeping=previous_config reason=%r", self.config_path, str(e)
                )
                raise self._reload_failed(str(e)) from None
            except OSError as e:
                log.error("event=reload_failed file=%s reason=%r", self.config_path, str(e))
                raise self._reload_failed(f"cannot read {self.config_path}: {e}") from None
            try:
                if self.opts.agent:
                    check_agent_config(cfg)
                await self._apply_config(cfg)
            except ConfigError as e:
                raise self._reload_failed(str(e)) from None
            except ValueError as e:
                raise self._reload_failed(str(e)) from None
            log.info("event=reload_ok file=%s", self.config_path)

    def _runtime(self) -> RuntimeView:
        return RuntimeView(
            start_time_ms=self.started_ms,
            cwd=os.getcwd(),
            reload_config_success=self.reload_ok,
            last_config_time_ms=self.last_config_ms,
            last_reload_error=self.reload_error,
            storage_retention=self.opts.flags.get("storage.tsdb.retention.time")
            or format_duration(self.opts.retention_time_ms),
        )

    def _open_exemplars(self) -> None:
        """What earlier runs kept (snapshot + journal, see ``ExemplarStore.open_journal``), and
        a journal for what comes, so exemplars survive a crash as samples do."""
        data = Path(self.opts.storage_path)
        try:
            n = self.exemplars.open_journal(data / "exemplars.jsonl", data / "exemplars.journal")
        except OSError as e:
            log.warning("event=exemplars_not_journaled dir=%s err=%r", data, str(e))
            return
        if n:
            log.info("event=exemplars_loaded count=%d", n)

    def _close_exemplars(self) -> None:
        try:
            self.exemplars.close_journal()
        except OSError as e:
            log.warning("event=exemplars_not_saved dir=%s err=%r", self.opts.storage_path, str(e))

    def _otlp_settings(self) -> OtlpSettings:
        """The running config's ``otlp:`` section as the OTLP receiver reads it."""
        from guardia.storage.remote.otlp_names import Strategy
        from guardia.storage.remote.otlp_translate import OtlpSettings
        lookback = self.opts.lookback_delta_ms
        if self.config is None:
            return OtlpSettings(lookback_delta_ms=lookback)
        o = self.config.prometheus.otlp
        return OtlpSettings(
            strategy=Strategy(o.translation_strategy),
            promote_resource_attributes=frozenset(a.strip() for a in o.promote_resource_attributes),
            promote_all_resource_attributes=o.promote_all_resource_attributes,
            ignore_resource_attributes=frozenset(a.strip() for a in o.ignore_resource_attributes),
            keep_identifying_resource_attributes=o.keep_identifying_resource_attributes,
            promote_scope_metadata=o.promote_scope_metadata,
            lookback_delta_ms=lookback,
            convert_histograms_to_nhcb=o.convert_histograms_to_nhcb,
        )

    def _external_labels(self) -> dict[str, str]:
        return dict(self.config.prometheus.global_.external_labels) if self.config else {}

    def _scrape_interval_ms(self) -> int:
        return int(self.config.prometheus.global_.scrape_interval) if self.config is not None else 15_000

    def _scraped_metadata(self) -> list[Metadata]:
        """TYPE/HELP/UNIT of every scraped metric family, once each, for remote write."""
        seen: dict[str, Metadata] = {}
        for loop in self.scrape.loops():
            for name, md in loop.ingester.metadata.items():
                seen.setdefault(name, (name, md.type, md.help, md.unit))
        return list(seen.values())

    def _delivery_status(self) -> list[Delivery]:
        """The embedded Alertmanager's integrations, for the audit's failing-receiver check."""
        from guardia.audit.routing import Delivery
        if self.alertmanager is None:
            return []
        return [Delivery(i.key.name, i.key.integration, i.state.last_error, i.state.failing_since_ns / 1e9,
                         i.state.consecutive_failures, i.key.index, i.state.last_attempt_ns / 1e9)
                for i in self.alertmanager.integration_states()]

    def _metric_type(self, name: str) -> str | None:
        """A metric's type from the scraped metadata (the audit's rate-over-gauge check)."""
        return next((e.type for e in self.scrape.metadata() if e.metric == name), None)

    def _config_yaml(self) -> str:
        return dump_redacted(self.config) if self.config is not None else ""

    # -- building ----------------------------------------------------------------------------

    def _build(self, cfg: Config, external_url: str) -> list[BaseRoute]:
        """Every subsystem, wired, and its reloader; returns the HTTP routes they add.

        A new subsystem is built here and registered with one ``self.reloaders.append``."""
        from guardia.alerting import Alertmanager
        from guardia.alerting.notify_test import NotifyTestLog
        from guardia.audit import notify_tests
        from guardia.audit.service import AuditService
        from guardia.checks.deployments import DeploymentRecorder
        from guardia.checks.service import CheckService
        from guardia.probes.status import StatusStore
        from guardia.probes.subscribers import SubscriberNotifier
        from guardia.probes.uptime import UptimeCache
        from guardia.reports.schedule import ReportScheduler
        from guardia.reports.source import EngineSource
        from guardia.rules import Notifier, RuleManager
        from guardia.slo.service import SLOService
        from guardia.storage.tsdb import TSDB
        from guardia.web import (
            acks_api,
            alertmanager_api,
            audit_api,
            checks_api,
            deployments_api,
            no_alertmanager,
            notify_test_api,
            readiness_api,
            report_pages,
            slo_api,
        )
        from guardia.web.status.pages import StatusDeps, StatusSite
        from guardia.web.status.silences import SilencesInMs
        from guardia.web.ui.dashboards.store import DashboardStore
        opts = self.opts
        self.engine = make_engine(opts)
        self.scrape = ScrapeManager(self.storage, self.registry, base_dir=Path(self.config_path).parent)
        self.scrape.ct_zero_ingestion = opts.ct_zero_ingestion
        # exemplars from scrapes, remote write and OTLP (storage.exemplars.max_exemplars; 0: off)
        self.exemplars = ExemplarStore(cfg.prometheus.storage.exemplars.max_exemplars, self.registry)
        self._open_exemplars()
        self.scrape.exemplars = self.exemplars
        self.reloaders.append(Reloader(
            "exemplars", lambda c: self.exemplars.resize(c.prometheus.storage.exemplars.max_exemplars)))
        self.reloaders.append(Reloader("scrape", lambda c: self.scrape.apply_config(c.prometheus)))
        data = Path(opts.storage_path)
        tsdb = self.storage if isinstance(self.storage, TSDB) else None
        if tsdb is not None:
            store = tsdb
            self.reloaders.append(Reloader("tsdb", lambda c: store.set_out_of_order_window(
                int(c.prometheus.storage.tsdb.out_of_order_time_window))))
        self.remote_write = RemoteWriteStorage(
            data / "wal", data / "remote_write", self.registry, metadata=self._scraped_metadata,
            highest_appended_ms=(lambda: max(0, tsdb.head.maxt)) if tsdb is not None else None,
            exemplars=self.exemplars,
        )
        if tsdb is not None:  # checkpoints keep what a queue has not sent
            tsdb.wal_readers = self.remote_write.lowest_segment
        self.reloaders.append(
            Reloader("remote_write", lambda c: self.remote_write.apply_config(c.prometheus))
        )

        routes: list[BaseRoute] = []
        self.alertmanager = None
        if cfg.alertmanager is not None:
            self.alertmanager = Alertmanager(
                cfg.alertmanager,
                data_dir=Path(opts.storage_path) / "alertmanager",
                registry=self.registry,
                external_url=external_url,
            )
            routes.extend(alertmanager_api.routes(self.alertmanager))
            routes.extend(acks_api.routes(self.alertmanager))
        else:
            log.info("event=no_alertmanager reason=%r", no_alertmanager.MESSAGE)
        self.reloaders.append(Reloader("alertmanager", self._apply_alertmanager))

        am = self.alertmanager
        self.notifier = Notifier(
            external_url=external_url,
            local=am.put if am is not None else None,
            registry=self.registry,
        )
        self.reloaders.append(Reloader("notifier", lambda c: self.notifier.apply_config(c.prometheus)))
        self.rules = RuleManager(
            self.storage,
            engine=self.engine,
            notify=self.notifier.notify,
            registry=self.registry,
            external_url=external_url,
            outage_tolerance_ms=opts.for_outage_tolerance_ms,
            for_grace_period_ms=opts.for_grace_period_ms,
        )
        self._remote_clients: list[PromQLAPIClient | RemoteReadClient] = []
        self.remote_readers: dict[str, RemoteEngineReader] = {}  # dashboards' remote data sources
        self.report_sources: dict[str, HttpSource] = {}  # scheduled reports' ``source:``
        self.remote_apis: dict[str, PromQLAPIClient] = {}  # SLOs' ``source:``
        self.reloaders.append(Reloader("remote_query", self._apply_remote_query))
        self.reloaders.append(
            Reloader("rules", lambda c: self.rules.apply_config(c.prometheus.global_, c.rule_files))
        )
        self.probes = ProbeService(self.storage, external_labels=self._external_labels)
        self.reloaders.append(Reloader("probes", self.probes.apply_config))
        routes.extend(as_starlette([*probe_routes(self.probes.modules), *push_routes(self.probes)]))
        self.status = StatusStore(
            Path(opts.storage_path) / "status" / "status.json",
            silences=SilencesInMs(self.alertmanager.silences) if self.alertmanager is not None else None,
        )
        SubscriberNotifier(self.status, lambda: self.probes.config.status_pages, external_url)
        site = StatusSite(
            StatusDeps(self.probes, self.status, UptimeCache(self.storage, self.status.windows), self.storage,
                       external_url),
            base=urlparse(opts.external_url).path.rstrip("/") if opts.external_url else "",
        )
        routes.extend(site.routes())
        self.slos = SLOService(self.storage, self.engine, self.rules, remote=lambda: self.remote_apis)
        self.reloaders.append(Reloader("slos", self.slos.apply_config))
        routes.extend(slo_api.routes(self.slos))
        self.checks = CheckService(self.storage,
                                   install_rules=lambda files: self.rules.set_generated("checks", files))
        self.reloaders.append(Reloader("checks", self.checks.apply_config))
        routes.extend(checks_api.routes(self.checks))
        routes.extend(deployments_api.routes(DeploymentRecorder(self.storage)))
        self.audit = AuditService(
            self.storage, self.engine, registry=self.registry, retention_s=opts.retention_time_ms / 1000,
            web_config_file=opts.flags.get("web.config.file", ""), metadata=self._metric_type,
            delivery=self._delivery_status, tests=lambda: notify_tests.from_data_dir(opts.storage_path),
            data_dir=opts.storage_path, slo_list=lambda: self.slos.list())
        self.reloaders.append(Reloader("audit", self.audit.apply_config))
        routes.extend(audit_api.routes(self.audit))
        routes.extend(readiness_api.routes(self.audit))
        routes.extend(notify_test_api.routes(lambda: self.config.alertmanager if self.config else None,
                                             NotifyTestLog(opts.storage_path), external_url))
        self.reports = ReportScheduler(
            Path(opts.storage_path) / "reports", EngineSource(self.engine, self.storage),
            external_url=external_url, slos=lambda: self.slos.slos,
            alertmanager=lambda: self.config.alertmanager if self.config else None,
            remote_sources=lambda: self.report_sources)
        self.reloaders.append(Reloader("reports", self.reports.apply_config))
        routes.extend(report_pages.routes(self.reports))
        self._build_logs(cfg, external_url, routes)
        self._status_site = site
        self.dashboards = DashboardStore(Path(opts.storage_path) / "dashboards")
        self.reloaders.append(Reloader("dashboards", self.dashboards.apply_config))
        return routes

    def _apply_remote_query(self, cfg: Config) -> None:
        """Each named ``remote_read`` entry as a rule group ``source:``: its engine's PromQL API
        (``NAME``, ``promql:NAME``), or its series read remotely and evaluated here
        (``remote_read:NAME``)."""
        from guardia.config.httpclient import new_sync_client
        from guardia.reports.source import HttpSource
        from guardia.rules.query import engine_query_func, remote_query_func
        from guardia.storage.remote.query_api import PromQLAPIClient, api_base
        from guardia.storage.remote.read_client import RemoteReadClient
        from guardia.web.ui.dashboards.remote_reader import RemoteEngineReader
        for c in [*self._remote_clients, *self.report_sources.values()]:
            c.close()
        self._remote_clients = []
        reports: dict[str, HttpSource] = {}
        apis: dict[str, PromQLAPIClient] = {}
        sources: dict[str, QueryFunc] = {}
        readers: dict[str, RemoteEngineReader] = {}
        external = dict(cfg.prometheus.global_.external_labels)
        for rr in cfg.prometheus.remote_read:
            if not rr.name:
                continue
            api, read = PromQLAPIClient(rr), RemoteReadClient(rr, external)
            self._remote_clients += [api, read]
            sources[rr.name] = sources[f"promql:{rr.name}"] = remote_query_func(api)
            sources[f"remote_read:{rr.name}"] = engine_query_func(self.engine, read)
            readers[rr.name] = readers[f"promql:{rr.name}"] = RemoteEngineReader(api)
            apis[rr.name] = api
            client = new_sync_client(rr, headers={"User-Agent": "guardia-reports"}, timeout_s=120.0)
            reports[rr.name] = HttpSource(api_base(rr.url), client=client,
                                          description=f"remote_read {rr.name} ({api_base(rr.url)})")
        self.rules.set_sources(sources)
        self.remote_readers = readers
        self.report_sources = reports
        self.remote_apis = apis

    def _build_logs(self, cfg: Config, external_url: str, routes: list[BaseRoute]) -> None:
        """The log store and its collectors, Loki's API, and LogQL rules on the same notifier."""
        from guardia.logs.config import parse_logs_config
        from guardia.logs.rules import rule_expr_error
        from guardia.logs.service import LogsService
        from guardia.rules import RuleManager
        from guardia.web.loki_api import LokiApi
        from guardia.web.loki_rules import LokiRulerApi
        base = Path(cfg.file).parent
        first = parse_logs_config(cfg.sections.logs, base)
        self.logs = LogsService(Path(self.opts.storage_path) / "logs", first)
        self.loki_api = LokiApi(self.logs.store, self.logs.engine)
        self.loki_api.deletes.cancel_period_s = first.delete_request_cancel_period_s
        routes.extend(self.loki_api.routes())

        def apply_logs(c: Config) -> Awaitable[None] | None:
            lc = parse_logs_config(c.sections.logs, base)
            self.loki_api.deletes.cancel_period_s = lc.delete_request_cancel_period_s
            return self.logs.apply_config(lc)

        self.reloaders.append(Reloader("logs", apply_logs))
        engine = self.logs.engine

        def logql(expr: str, t_ms: int) -> list[Sample]:
            from guardia.logs.errors import LogsError
            from guardia.logs.rules import instant_vector
            from guardia.promql import Sample
            from guardia.rules import RuleQueryError
            try:
                return [Sample(lb, t_ms, v) for lb, v in instant_vector(engine, expr, t_ms)]
            except LogsError as e:
                raise RuleQueryError(str(e)) from e

        self.log_rules = RuleManager(
            self.storage,
            query=logql,
            notify=self.notifier.notify,
            external_url=external_url,
            outage_tolerance_ms=self.opts.for_outage_tolerance_ms,
            for_grace_period_ms=self.opts.for_grace_period_ms,
            expr_check=rule_expr_error,
        )
        # Loki's ruler API: groups set over HTTP live in their own files, loaded with rule_files
        ruler = LokiRulerApi(
            self.log_rules,
            Path(self.opts.storage_path) / "logs-rules",
            config_files=lambda: list(self.logs.config.rule_files),
            reload=lambda: self.log_rules.update([*self.logs.config.rule_files, ruler.pattern]),
        )
        routes.extend(ruler.routes())
        self.reloaders.append(
            Reloader("log_rules", lambda c: self.log_rules.apply_config(
                c.prometheus.global_, [*self.logs.config.rule_files, ruler.pattern]))
        )

    def _apply_alertmanager(self, cfg: Config) -> Awaitable[None] | None:
        """The embedded Alertmanager follows its section; it is started (or not) with the process."""
        if self.alertmanager is None:
            if cfg.alertmanager is not None and self._started:
                log.warning(
                    "event=alertmanager_added action=restart_needed reason=%r",
                    "the embedded Alertmanager starts with the process; restart guardia to enable it",
                )
            return None
        if cfg.alertmanager is None or cfg.alertmanager is self.alertmanager.config:
            return None
        return self.alertmanager.apply_config(cfg.alertmanager)

    # -- lifecycle ---------------------------------------------------------------------------

    async def _firing_alerts(self) -> list[Mapping[str, Any]] | None:
        """What status pages open incidents from: the embedded Alertmanager, else the external ones."""
        from guardia.web.status.silences import firing_alerts, firing_alerts_external
        if self.alertmanager is not None:
            return firing_alerts(self.alertmanager)
        if self.notifier.targets:
            return await firing_alerts_external(self.notifier.targets)
        return []

    def request_stop(self) -> None:
        self._stop.set()

    def _load_web_config(self) -> ssl.SSLContext | None:
        """``--web.config.file``, checked before anything starts; the TLS context if it asks for TLS."""
        path = self.opts.web_config_file
        if not path:
            return None
        self.web_config = load_web_config(path)  # ConfigError: refuse to start
        tls = self.web_config.tls
        if tls is None:
            return None
        from guardia.web.auth.tls import server_context  # hypercorn and h2 load only for HTTPS

        try:
            return server_context(tls, self.web_config.http2)
        except (ssl.SSLError, OSError) as e:
            raise ConfigError.single(path, f"the TLS files do not load: {e}",
                                     path="tls_server_config") from None

    def _apply_web_config(self, cfg: Config) -> None:
        """A reload re-reads the web config's users, roles and limits (TLS files need a restart)."""
        if self.opts.web_config_file:
            self.auth.apply(load_web_config(self.opts.web_config_file))

    async def start(self) -> None:
        opts = self.opts
        tls = self._load_web_config()
        host, port = split_host_port(opts.listen_address)
        sock = listen_socket(host, port)
        port = sock.getsockname()[1]
        self.listen = f"{host}:{port}"
        demo_sock: socket.socket | None = None
        if opts.agent:
            await self._start_agent(sock, tls)
            return
        from guardia.probes.status import alert_sync_loop
        from guardia.web import audit_api, probe_pages, readiness_api, report_pages, slo_pages
        from guardia.web.adapters import (
            AlertmanagerTargets,
            IndexStatus,
            ProcessStatus,
            RuleGroups,
            ScrapeTargets,
        )
        from guardia.web.alertmanager_v2 import ApiV2View
        from guardia.web.api_v1 import ApiDeps
        from guardia.web.app import AppDeps, create_app
        from guardia.web.auth import audit_page, auth_routes
        from guardia.web.demo import create_demo_app
        from guardia.web.ui import routes as ui_routes
        from guardia.web.ui.adapters import sources_from_api
        from guardia.web.ui.pages.logs import ui_pages as logs_pages
        if self.config_path:
            # ConfigError here: refuse to start, touch nothing
            cfg = self._load_config()
            self.storage = await asyncio.to_thread(open_storage, opts, self.registry,
                                                   int(cfg.prometheus.storage.tsdb.out_of_order_time_window))
        else:
            # the store first: its lock stops a second guardia on the same directory before it
            # overwrites anything there (such as the rendered quickstart config)
            self.storage = await asyncio.to_thread(open_storage, opts, self.registry)
            demo_sock = socket.socket()
            demo_sock.bind(("127.0.0.1", 0))
            demo_addr = f"127.0.0.1:{demo_sock.getsockname()[1]}"
            self.config_path = str(render_quickstart(self.listen, demo_addr, Path(opts.storage_path)))
            log.info("event=quickstart config=%s demo=%s", self.config_path, demo_addr)
            cfg = self._load_config()
        self._on_stop.push_async_callback(asyncio.to_thread, self.storage.close)
        external_url = opts.external_url or f"{'https' if tls else 'http'}://{self.listen}"
        self.auth = Auth(self.web_config, opts.storage_path, external_url)
        self.reloaders.append(Reloader("web_config", self._apply_web_config))
        self._external_url = external_url
        extra_routes = self._build(cfg, external_url)
        # a clean stop writes the exemplars' snapshot and removes their journal
        self._on_stop.push_async_callback(asyncio.to_thread, self._close_exemplars)
        # the first config goes through the same loop as every reload
        await self._apply_config(cfg)
        self._started = True
        # each subsystem, once started, registers how it stops; shutdown runs them in reverse
        if self.alertmanager is not None:
            await self.alertmanager.start()
            self._on_stop.push_async_callback(_bounded, self.alertmanager.stop, 2)
        self.remote_write.start()
        self._on_stop.push_async_callback(_bounded, self.remote_write.stop, 2)
        self._tasks.append(asyncio.create_task(self.notifier.run(self._stop), name="notifier"))
        self._on_stop.push_async_callback(_bounded, self.notifier.flush, 1)
        await self.rules.start()
        self._on_stop.push_async_callback(_bounded, self.rules.stop, 2)
        await self.probes.start()
        self._on_stop.push_async_callback(_bounded, self.probes.stop, 2)
        self._tasks.append(asyncio.create_task(alert_sync_loop(
            self.status,
            lambda: {p.slug: p.incident_alerts for p in self.probes.config.status_pages},
            self._firing_alerts, self._stop), name="status-pages"))
        self._tasks.append(asyncio.create_task(self.slos.run(self._stop), name="slos"))
        await self.checks.start()
        self._on_stop.push_async_callback(_bounded, self.checks.stop, 2)
        self._tasks.append(asyncio.create_task(self.audit.run(self._stop), name="audit"))
        self._tasks.append(asyncio.create_task(self.reports.run(self._stop), name="reports"))
        await self.logs.start()
        self.loki_api.deletes.resume()
        self._on_stop.push_async_callback(_bounded, self.logs.stop, 3)
        await self.log_rules.start()
        self._on_stop.push_async_callback(_bounded, self.log_rules.stop, 2)
        self._tasks.append(asyncio.create_task(asyncio.to_thread(self._status_site.warm), name="status-warm"))
        self._on_stop.push_async_callback(self._wait_tasks)

        api = self.api = ApiDeps(
            storage=self.storage,
            engine=self.engine,
            targets=ScrapeTargets(self.scrape),
            rules=RuleGroups(_AllRules((self.rules, self.log_rules))),
            status=ProcessStatus(self._config_yaml, opts.flags, self._runtime),
            snapshotter=_Snapshots(self.storage, opts.storage_path),
            tsdb_status=IndexStatus(self.storage),
            enable_admin_api=opts.enable_admin_api,
            query_timeout_s=opts.query_timeout_ms / 1000,
            lookback_delta_ms=opts.lookback_delta_ms,
            alertmanagers=AlertmanagerTargets(self._local_alertmanager_url, self.notifier),
            exemplars=self.exemplars,
        )
        prefix = urlparse(opts.external_url).path.rstrip("/") if opts.external_url else ""
        am_v2 = ApiV2View(self.alertmanager) if self.alertmanager is not None else None
        ui = sources_from_api(api, alertmanager=lambda: am_v2, route_prefix=prefix,
                              dashboards=self.dashboards, scrape_interval_ms=self._scrape_interval_ms,
                              remote_readers=lambda: self.remote_readers)
        # first, so the UI's pages (/status among them, as in Prometheus) win over any
        # subsystem route at the same path; public status pages live under /status/{slug}
        extra_pages = [*slo_pages.ui_pages(self.slos), *probe_pages.ui_pages(self.probes),
                       *audit_api.ui_pages(self.audit), *readiness_api.ui_pages(self.audit),
                       audit_page(self.auth),
                       *logs_pages(self.logs.store, self.logs.engine),
                       *report_pages.ui_pages(self.reports)]
        extra_routes[:0] = [*ui_routes(ui, extra_pages=extra_pages), *auth_routes(self.auth, prefix)]
        app = create_app(
            AppDeps(
                api=api,
                registry=self.registry,
                write_storage=self.storage,
                reloader=self,
                is_ready=lambda: self._ready,
                external_labels=self._external_labels,
                route_prefix=prefix,
                extra_routes=extra_routes,
                alertmanager_configured=self.alertmanager is not None,
                otlp_settings=self._otlp_settings,
                exemplars=self.exemplars,
                ct_zero_ingestion=opts.ct_zero_ingestion,
            )
        )
        app = AuthMiddleware(app, self.auth, prefix, headers=bool(opts.web_config_file),
                             external_host=urlparse(external_url).netloc)
        self.http_app = app
        self._serve(app, sock, tls)
        if demo_sock is not None:
            self._serve(create_demo_app(), demo_sock)
        self._tasks.append(asyncio.create_task(maintenance_loop(self.storage, self._stop), name="tsdb"))
        for srv in self._servers:
            while not srv.started:
                if srv.should_exit or any(t.done() for t in self._tasks if t.get_name() == "http"):
                    raise OSError(f"the HTTP server on {self.listen} did not start")
                await asyncio.sleep(0.01)
        # scrape once HTTP listens, so guardia's scrape of itself (and the demo) succeeds at once
        self._tasks.append(asyncio.create_task(self.scrape.run(), name="scrape"))
        self._on_stop.push_async_callback(_bounded, self.scrape.stop, SHUTDOWN_BUDGET_S / 2)
        self._on_stop.callback(api.cancel_running_queries)
        self._ready = True
        self._m_ready.set(1)
        log.info("event=ready listen=%s config=%s", self.listen, self.config_path)
        log.info(
            "event=hint try=%r grafana_datasource=%r",
            f"curl 'http://{self.listen}/api/v1/query?query=up'",
            f"Prometheus type, URL http://{self.listen}",
        )

    async def _start_agent(self, sock: socket.socket, tls: ssl.SSLContext | None) -> None:
        """``--agent``: scrape and probe to forward, through a store that only logs (a WAL
        the remote write queues read), with no rules, no Alertmanager and no query engine."""
        opts = self.opts
        if not self.config_path:
            raise ConfigError.single("(none)", "--agent needs --config: a config with remote_write "
                                     "(the agent keeps no samples of its own)")
        cfg = self._load_config()
        check_agent_config(cfg)
        store = self.agent_store = await asyncio.to_thread(AgentStorage, Path(opts.agent_storage_path))
        self._on_stop.push_async_callback(asyncio.to_thread, store.close)
        self.scrape = ScrapeManager(store, self.registry, base_dir=Path(self.config_path).parent)
        self.scrape.ct_zero_ingestion = opts.ct_zero_ingestion
        self.reloaders.append(Reloader("scrape", lambda c: self.scrape.apply_config(c.prometheus)))
        data = Path(opts.agent_storage_path)
        # exemplars of scrapes go to the queues with send_exemplars only (an agent keeps none)
        relay = self.scrape.exemplars = ExemplarRelay()
        self.remote_write = RemoteWriteStorage(store.waldir, data / "remote_write", self.registry,
                                               metadata=self._scraped_metadata,
                                               highest_appended_ms=lambda: store.highest_ms,
                                               exemplars=relay)
        self.reloaders.append(
            Reloader("remote_write", lambda c: self.remote_write.apply_config(c.prometheus))
        )
        self.probes = ProbeService(store, external_labels=self._external_labels)
        self.reloaders.append(Reloader("probes", self.probes.apply_config))
        self.auth = Auth(self.web_config, opts.agent_storage_path,
                         opts.external_url or f"{'https' if tls else 'http'}://{self.listen}")
        self.reloaders.append(Reloader("web_config", self._apply_web_config))
        await self._apply_config(cfg)
        self._started = True
        self.remote_write.start()
        self._on_stop.push_async_callback(_bounded, self.remote_write.stop, 2)
        await self.probes.start()
        self._on_stop.push_async_callback(_bounded, self.probes.stop, 2)
        self._on_stop.push_async_callback(self._wait_tasks)
        app = create_agent_app(self.registry, self, lambda: self._ready,
                               [*probe_routes(self.probes.modules), *push_routes(self.probes)])
        self.http_app = AuthMiddleware(app, self.auth, headers=bool(opts.web_config_file))
        self._serve(self.http_app, sock, tls)
        self._tasks.append(asyncio.create_task(self._agent_truncation(store), name="agent-wal"))
        for srv in self._servers:
            while not srv.started:
                if srv.should_exit or any(t.done() for t in self._tasks if t.get_name() == "http"):
                    raise OSError(f"the HTTP server on {self.listen} did not start")
                await asyncio.sleep(0.01)
        self._tasks.append(asyncio.create_task(self.scrape.run(), name="scrape"))
        self._on_stop.push_async_callback(_bounded, self.scrape.stop, SHUTDOWN_BUDGET_S / 2)
        self._ready = True
        self._m_ready.set(1)
        log.info("event=ready mode=agent listen=%s config=%s", self.listen, self.config_path)

    async def _agent_truncation(self, store: AgentStorage, every_s: float = 10.0) -> None:
        """Delete WAL segments every queue has read (all but the newest two when none reads)."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=every_s)
            if self._stop.is_set():
                return
            lowest = self.remote_write.lowest_position()
            if self.remote_write.queues and lowest is None:
                continue  # a queue has not started reading yet
            try:
                gone = await asyncio.to_thread(store.truncate, lowest[0] if lowest else None)
                if gone:
                    log.info("event=agent_wal_truncated segments=%d", gone)
            except OSError:
                log.exception("event=agent_wal_truncation_failed")

    def _serve(self, app: ASGIApp, sock: socket.socket, tls: ssl.SSLContext | None = None) -> None:
        server: _HTTPServer
        if tls is not None:
            from guardia.web.auth.tls import TlsServer

            server = TlsServer(app, tls)
        elif self.opts.agent:
            # a few requests a minute, no WebSocket: uvicorn and what it imports (~2.5 MiB)
            # would be most of the agent's HTTP cost
            from guardia.web.small_server import SmallServer

            server = SmallServer(app, graceful_s=3)
        else:
            server = _uvicorn_server(app)
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="http"))

    def _local_alertmanager_url(self) -> str | None:
        """guardia's own Alertmanager, listed among the Alertmanagers as Prometheus lists one."""
        if self.alertmanager is None:
            return None
        return self._external_url.rstrip("/") + "/api/v2/alerts"

    async def _wait_tasks(self) -> None:
        """What is left of the first half of the shutdown budget for the tasks to end."""
        remaining = max(0.5, SHUTDOWN_BUDGET_S / 2 - (time.monotonic() - self._stopping_since))
        _, pending = await asyncio.wait(self._tasks, timeout=remaining) if self._tasks else (set(), set())
        for t in pending:
            t.cancel()

    async def shutdown(self, quiet: bool = False) -> None:
        """HTTP stops taking requests and running queries are cancelled, then the subsystems
        stop in the reverse of their start (scrape, tasks, rules, notifier, Alertmanager, store).

        ``quiet`` after a failed start: the error is the news, and shutdown lines printed
        before it would bury it."""
        self._ready = False
        say = log.debug if quiet else log.info
        say("event=shutdown_started")
        self._stopping_since = time.monotonic()
        for srv in self._servers:
            srv.should_exit = True
        await self._on_stop.aclose()
        say("event=shutdown_complete seconds=%.2f", time.monotonic() - self._stopping_since)

    async def run(self, install_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        if install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            await self.start()
        except BaseException:
            await self.shutdown(quiet=True)
            raise
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()

    def _on_sighup(self) -> None:
        async def go() -> None:
            status = 200
            try:
                await self.reload()
            except ValueError:
                status = 500
            await asyncio.to_thread(self.auth.audit.append, "config.reload", "signal:SIGHUP", status=status)

        self._tasks.append(asyncio.create_task(go(), name="reload"))


async def _bounded(stop: Callable[[], Awaitable[None]], timeout_s: float) -> None:
    """One subsystem's stop within its share of the shutdown budget; a failure there must not
    keep the others (and the store's close) from running."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(stop(), timeout=timeout_s)


class _Snapshots:
    """``Snapshotter`` for the admin API: a snapshot named by time under ``<data>/snapshots``."""

    def __init__(self, storage: ServedStorage, data_dir: str) -> None:
        self._storage = storage
        self._data_dir = data_dir

    def snapshot(self, directory: str, with_head: bool) -> str:
        name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.urandom(8).hex()}"
        self._storage.snapshot(Path(self._data_dir) / "snapshots" / name, with_head=with_head)
        return name
