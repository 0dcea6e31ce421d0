"""The one guardia process: HTTP, discovery and scraping, storage maintenance, reloads.

Everything runs on one asyncio loop.  ``GuardiaProcess.run`` opens the store, loads the
config, starts the subsystems and the HTTP server, and waits for a stop.  SIGHUP and
``POST /-/reload`` reload the config: a config that does not load is refused, the old one keeps
running, the reason is logged and shown by ``/-/reload`` and ``/api/v1/status/runtimeinfo``.
SIGTERM/SIGINT stop scraping, stop HTTP and close the store (WAL flushed, blocks closed)
within a bounded time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, Gauge

from guardia.config.errors import ConfigError
from guardia.config.loader import Config, dump_redacted, load_config
from guardia.model import format_duration
from guardia.storage.interface import Storage
from guardia.web.adapters import ProcessStatus, RuleGroups, ScrapeTargets
from guardia.web.api_v1 import ApiDeps
from guardia.web.app import AppDeps, create_app
from guardia.web.demo import create_demo_app
from guardia.web.protocols import RuntimeView
from guardia.web.selfmetrics import register_process_collectors

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
    lookback_delta_ms: int = 5 * 60 * 1000
    query_timeout_ms: int = 2 * 60 * 1000
    query_max_samples: int = 50_000_000
    external_url: str = ""
    for_outage_tolerance_ms: int = 3600 * 1000
    for_grace_period_ms: int = 10 * 60 * 1000
    enable_admin_api: bool = False
    flags: dict[str, str] = field(default_factory=dict)


def split_host_port(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"invalid listen address {addr!r}: use host:port such as 127.0.0.1:9090")
    return host.strip("[]"), int(port)


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process owns SIGTERM/SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def open_storage(opts: ServeOptions, registry: CollectorRegistry) -> Any:
    """The embedded TSDB at ``--storage.tsdb.path`` with the retention flags applied."""
    from guardia.storage.tsdb import TSDB, TSDBOptions

    options = TSDBOptions(retention_ms=opts.retention_time_ms, retention_bytes=opts.retention_size)
    return TSDB.open(opts.storage_path, options, registry)


async def maintenance_loop(storage: Any, stop: asyncio.Event, every_s: float = MAINTENANCE_EVERY_S) -> None:
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


def make_engine(opts: ServeOptions, registry: CollectorRegistry) -> Any:
    try:
        from guardia.promql import Engine, EngineOptions
    except ImportError:
        log.warning("event=promql_unavailable")
        return None
    return Engine(
        EngineOptions(
            lookback_delta_ms=opts.lookback_delta_ms,
            max_samples=opts.query_max_samples,
            timeout_s=opts.query_timeout_ms / 1000,
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


class GuardiaProcess:
    def __init__(self, opts: ServeOptions) -> None:
        self.opts = opts
        # auto_describe: a second metric with a taken name fails at registration, not as a
        # duplicate series at scrape time
        self.registry = CollectorRegistry(auto_describe=True)
        register_process_collectors(self.registry)
        self.storage: Any = None
        self.config: Config | None = None
        self.config_path: str = opts.config_file or ""
        self.scrape: Any = None
        self.alertmanager: Any = None
        self.rules: Any = None
        self.api: ApiDeps | None = None
        self.notifier: Any = None
        self.started_ms = int(time.time() * 1000)
        self.last_config_ms = 0
        self.reload_ok = True
        self.reload_error = ""
        self._ready = False
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._servers: list[_Server] = []
        self._reload_lock = asyncio.Lock()
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

    def _apply(self, cfg: Config) -> None:
        if self.scrape is not None:
            self.scrape.apply_config(cfg.prometheus)
        if self.alertmanager is None and cfg.alertmanager is not None and self.config is not None:
            log.warning("event=alertmanager_added action=restart_needed reason=%r",
                        "the embedded Alertmanager starts with the process; restart guardia to enable it")
        self.config = cfg
        self.last_config_ms = int(time.time() * 1000)
        self.reload_ok, self.reload_error = True, ""
        self._m_reload_ok.set(1)
        self._m_reload_ts.set(time.time())

    async def reload(self) -> None:
        """Reload from disk; on any error keep the running config and raise ``ValueError``."""
        async with self._reload_lock:
            try:
                cfg = await asyncio.to_thread(load_config, self.config_path)
            except ConfigError as e:
                self.reload_ok, self.reload_error = False, str(e)
                self._m_reload_ok.set(0)
                log.error(
                    "event=reload_failed file=%s keeping=previous_config reason=%r", self.config_path, str(e)
                )
                raise ValueError(str(e)) from None
            except OSError as e:
                self.reload_ok, self.reload_error = False, f"cannot read {self.config_path}: {e}"
                self._m_reload_ok.set(0)
                log.error("event=reload_failed file=%s reason=%r", self.config_path, str(e))
                raise ValueError(self.reload_error) from None
            old_config = self.config
            self._apply(cfg)
            if self.rules is not None:
                g = cfg.prometheus.global_
                self.rules.external_labels = dict(g.external_labels)
                self.rules.evaluation_interval_ms = g.evaluation_interval
                self.rules.query_offset_ms = g.rule_query_offset
                if self.notifier is not None:
                    from guardia.rules import alert_relabeler, targets_from_config

                    self.notifier.external_labels = dict(g.external_labels)
                    self.notifier.relabel = alert_relabeler(cfg.prometheus.alerting.alert_relabel_configs)
                    ams = cfg.prometheus.alerting.alertmanagers
                    if old_config is None or ams != old_config.prometheus.alerting.alertmanagers:
                        self.notifier.targets = targets_from_config(ams)
                try:
                    self.rules.update(cfg.rule_files)
                except ConfigError as e:  # the loader checked them; a file changed since
                    log.error("event=rules_reload_failed keeping=previous_rules reason=%r", str(e))
            if self.alertmanager is not None and cfg.alertmanager is not None:
                await self.alertmanager.reload(cfg.alertmanager)
            if self.scrape is not None:
                await self.scrape.sync()
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

    def _external_labels(self) -> dict[str, str]:
        return dict(self.config.prometheus.global_.external_labels) if self.config else {}

    def _config_yaml(self) -> str:
        return dump_redacted(self.config) if self.config is not None else ""

    # -- lifecycle ---------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    async def start(self) -> None:
        opts = self.opts
        host, port = split_host_port(opts.listen_address)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        port = sock.getsockname()[1]
        self.listen = f"{host}:{port}"
        demo_sock: socket.socket | None = None
        if self.config_path:
            cfg = load_config(self.config_path)  # ConfigError here: refuse to start, touch nothing
            self.storage = await asyncio.to_thread(open_storage, opts, self.registry)
        else:
            # the store first: its lock stops a second guardia on the same directory before it
            # overwrites anything there (such as the rendered quickstart config)
            self.storage = await asyncio.to_thread(open_storage, opts, self.registry)
            demo_sock = socket.socket()
            demo_sock.bind(("127.0.0.1", 0))
            demo_addr = f"127.0.0.1:{demo_sock.getsockname()[1]}"
            self.config_path = str(render_quickstart(self.listen, demo_addr, Path(opts.storage_path)))
            log.info("event=quickstart config=%s demo=%s", self.config_path, demo_addr)
            cfg = load_config(self.config_path)
        from guardia.scrape import ScrapeManager

        self.scrape = ScrapeManager(self.storage, self.registry, base_dir=Path(self.config_path).parent)
        self._apply(cfg)
        extra_routes: list[Any] = []
        if cfg.alertmanager is not None:
            from guardia.alerting import Alertmanager
            from guardia.web import alertmanager_api

            self.alertmanager = Alertmanager(
                cfg.alertmanager,
                data_dir=Path(opts.storage_path) / "alertmanager",
                registry=self.registry,
                external_url=opts.external_url or f"http://{self.listen}",
            )
            await self.alertmanager.start()
            extra_routes = alertmanager_api.routes(self.alertmanager)

        engine = make_engine(opts, self.registry)
        await self._start_rules(cfg, engine)
        api = self.api = ApiDeps(
            storage=self.storage,
            engine=engine,
            targets=ScrapeTargets(lambda: self.scrape),
            rules=RuleGroups(lambda: self.rules),
            status=ProcessStatus(self._config_yaml, opts.flags, self._runtime),
            snapshotter=_snapshotter(self.storage, opts.storage_path),
            enable_admin_api=opts.enable_admin_api,
            query_timeout_s=opts.query_timeout_ms / 1000,
            lookback_delta_ms=opts.lookback_delta_ms,
        )
        prefix = _route_prefix(opts.external_url)
        app = create_app(
            AppDeps(
                api=api,
                registry=self.registry,
                write_storage=self.storage,
                reloader=self,
                is_ready=lambda: self._ready,
                external_labels=lambda: (
                    dict(self.config.prometheus.global_.external_labels) if self.config else {}
                ),
                route_prefix=prefix,
                extra_routes=extra_routes,
            )
        )
        self._serve(app, sock)
        if demo_sock is not None:
            self._serve(create_demo_app(), demo_sock)
        if callable(getattr(self.storage, "maintain", None)):
            self._tasks.append(asyncio.create_task(maintenance_loop(self.storage, self._stop), name="tsdb"))
        for srv in self._servers:
            while not srv.started:
                if srv.should_exit or any(t.done() for t in self._tasks if t.get_name() == "http"):
                    raise OSError(f"the HTTP server on {self.listen} did not start")
                await asyncio.sleep(0.01)
        # scrape once HTTP listens, so guardia's scrape of itself (and the demo) succeeds at once
        self._tasks.append(asyncio.create_task(self.scrape.run(), name="scrape"))
        self._ready = True
        self._m_ready.set(1)
        log.info("event=ready listen=%s config=%s", self.listen, self.config_path)
        log.info(
            "event=hint try=%r grafana_datasource=%r",
            f"curl 'http://{self.listen}/api/v1/query?query=up'",
            f"Prometheus type, URL http://{self.listen}",
        )

    async def _start_rules(self, cfg: Config, engine: Any) -> None:
        """Rule groups, and the notifier that hands their alerts to Alertmanager(s)."""
        from guardia.rules import Notifier, RuleManager, alert_relabeler, targets_from_config

        prom = cfg.prometheus
        external_url = self.opts.external_url or f"http://{self.listen}"
        am = self.alertmanager
        self.notifier = Notifier(
            external_labels=dict(prom.global_.external_labels),
            external_url=external_url,
            targets=targets_from_config(prom.alerting.alertmanagers),
            local=am.put if am is not None else None,
            registry=self.registry,
            relabel=alert_relabeler(prom.alerting.alert_relabel_configs),
        )
        self.rules = RuleManager(
            self.storage,
            engine=engine,
            notify=self.notifier.notify,
            registry=self.registry,
            evaluation_interval_ms=prom.global_.evaluation_interval,
            query_offset_ms=prom.global_.rule_query_offset,
            external_labels=dict(prom.global_.external_labels),
            external_url=external_url,
            outage_tolerance_ms=self.opts.for_outage_tolerance_ms,
            for_grace_period_ms=self.opts.for_grace_period_ms,
        )
        self.rules.update(cfg.rule_files)
        await self.rules.start()
        self._tasks.append(asyncio.create_task(self.notifier.run(self._stop), name="notifier"))

    def _serve(self, app: Any, sock: socket.socket) -> None:
        server = _Server(
            uvicorn.Config(
                app, log_level="warning", lifespan="off", access_log=False, timeout_graceful_shutdown=3
            )
        )
        self._servers.append(server)
        self._tasks.append(asyncio.create_task(server.serve(sockets=[sock]), name="http"))

    async def shutdown(self) -> None:
        self._ready = False
        log.info("event=shutdown_started")
        started = time.monotonic()
        for srv in self._servers:
            srv.should_exit = True
        if self.api is not None:
            self.api.cancel_running_queries()
        if self.scrape is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.scrape.stop(), timeout=SHUTDOWN_BUDGET_S / 2)
        remaining = max(0.5, SHUTDOWN_BUDGET_S / 2 - (time.monotonic() - started))
        _, pending = await asyncio.wait(self._tasks, timeout=remaining) if self._tasks else (set(), set())
        for t in pending:
            t.cancel()
        if self.rules is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.rules.stop(), timeout=2)
        if self.notifier is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.notifier.flush(), timeout=1)
        if self.alertmanager is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.alertmanager.stop(), timeout=2)
        if self.storage is not None:
            await asyncio.to_thread(self.storage.close)
        log.info("event=shutdown_complete seconds=%.2f", time.monotonic() - started)

    async def run(self, install_signals: bool = True) -> None:
        loop = asyncio.get_running_loop()
        if install_signals:
            loop.add_signal_handler(signal.SIGTERM, self.request_stop)
            loop.add_signal_handler(signal.SIGINT, self.request_stop)
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        try:
            await self.start()
            await self._stop.wait()
        finally:
            await self.shutdown()

    def _on_sighup(self) -> None:
        async def go() -> None:
            with contextlib.suppress(ValueError):
                await self.reload()

        self._tasks.append(asyncio.create_task(go(), name="reload"))


def _route_prefix(external_url: str) -> str:
    if not external_url:
        return ""
    from urllib.parse import urlparse

    path = urlparse(external_url).path.rstrip("/")
    return path


def _snapshotter(storage: Storage, data_dir: str) -> Any:
    snap: Callable[..., Any] | None = getattr(storage, "snapshot", None)
    if snap is None:
        return None

    class _Snap:
        def snapshot(self, directory: str, with_head: bool) -> str:
            name = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.urandom(8).hex()}"
            target = Path(data_dir) / "snapshots" / name
            assert snap is not None
            try:
                snap(target, with_head=with_head)
            except TypeError:
                snap(target)
            return name

    return _Snap()
