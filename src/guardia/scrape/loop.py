"""The scrape loop of one target: fetch on a fixed phase, ingest, append, report, mark stale.

Each tick fetches the target over HTTP(S) (gzip, auth, TLS, proxy off, ``Accept`` negotiating
OpenMetrics and the text format like Prometheus), ingests the body into one batch append,
writes the synthetic ``up``/``scrape_*`` series, and writes staleness markers for series
the previous scrape had and this one has not.  A failed scrape (HTTP error, timeout, body
over the limit, a malformed line, a breached limit) appends nothing from the body, sets
``up`` to 0, marks every previous series stale, and keeps the reason as the target's last
error; it never affects another target.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np
import numpy.typing as npt

from guardia.config.httpclient import TLSConfig
from guardia.config.prometheus import ScrapeConfig
from guardia.model import STALE_NAN, Labels
from guardia.scrape.http import HTTPScraper
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.scrape.target import Target
from guardia.storage.interface import Storage

log = logging.getLogger("guardia.scrape")

_PROTOCOL_MEDIA = {
    "OpenMetricsText1.0.0": "application/openmetrics-text;version=1.0.0",
    "OpenMetricsText0.0.1": "application/openmetrics-text;version=0.0.1",
    "PrometheusText1.0.0": "text/plain;version=1.0.0",
    "PrometheusText0.0.4": "text/plain;version=0.0.4",
}
DEFAULT_PROTOCOLS = (
    "OpenMetricsText1.0.0", "OpenMetricsText0.0.1", "PrometheusText1.0.0", "PrometheusText0.0.4",
)


def accept_header(protocols: tuple[str, ...] | None) -> str:
    """The Accept header for ``scrape_protocols``, weighted in order as Prometheus 3 does.

    The protobuf format is not parsed by guardia, so it is never asked for.
    """
    media = [_PROTOCOL_MEDIA[p] for p in (protocols or DEFAULT_PROTOCOLS) if p in _PROTOCOL_MEDIA]
    parts = []
    q = 1.0
    for i, m in enumerate(media):
        parts.append(m if i == 0 else f"{m};q={q:.1f}")
        q = max(q - 0.1, 0.2)
    parts.append("*/*;q=0.1")
    return ",".join(parts)


ACCEPT_HEADER = accept_header(None)


def choose_parser(content_type: str, fallback: str | None) -> bool:
    """True for OpenMetrics, False for the text format; ``ScrapeError`` if neither fits."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/openmetrics-text":
        return True
    if media == "text/plain":
        return False
    if fallback in _PROTOCOL_MEDIA:
        return fallback.startswith("OpenMetrics")  # type: ignore[union-attr]
    if not media:
        raise ScrapeError(
            "non-compliant scrape target sending blank Content-Type and no fallback_scrape_protocol "
            "specified for target"
        )
    raise ScrapeError(
        f"received unsupported Content-Type {media!r} and no fallback_scrape_protocol specified for target"
    )


USER_AGENT = "guardia/0.1 (Prometheus-compatible scraper)"
REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
_EMPTY = np.zeros(0, dtype=np.int64)
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}


def _http_error(e: httpx.HTTPError) -> str:
    """A reason a person can act on; httpx often leaves the message empty."""
    detail = f": {e}" if str(e) else ""
    if isinstance(e, httpx.ConnectError):
        return f"connection failed (is the target listening?){detail}"
    if isinstance(e, httpx.ReadError):
        return f"connection reset while reading the response{detail}"
    if isinstance(e, httpx.RemoteProtocolError):
        return f"the target broke the HTTP protocol{detail}"
    return f"{type(e).__name__}{detail}"


def ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """An SSL context from a tls_config block (CA, client cert, verification, versions)."""
    ctx = ssl.create_default_context()
    if tls.ca_file:
        ctx.load_verify_locations(cafile=tls.ca_file)
    elif tls.ca:
        ctx.load_verify_locations(cadata=tls.ca)
    if tls.cert_file and tls.key_file:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if tls.min_version:
        ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    return ctx


def request_headers(cfg: ScrapeConfig) -> dict[str, str]:
    """Headers every scrape of a job sends: Accept negotiation, compression, credentials."""
    headers: dict[str, str] = {"User-Agent": USER_AGENT, "Accept": accept_header(cfg.scrape_protocols)}
    headers["Accept-Encoding"] = "gzip" if cfg.enable_compression else "identity"
    if cfg.basic_auth is not None:
        user = cfg.basic_auth.username
        if cfg.basic_auth.username_file:
            with open(cfg.basic_auth.username_file, encoding="utf-8") as f:
                user = f.read().strip()
        pw = cfg.basic_auth.password_secret()
        token = base64.b64encode(f"{user}:{pw.reveal() if pw else ''}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif cfg.authorization is not None:
        cred = cfg.authorization.credentials_secret()
        headers["Authorization"] = f"{cfg.authorization.type} {cred.reveal() if cred else ''}".strip()
    elif cfg.bearer_token is not None:
        headers["Authorization"] = f"Bearer {cfg.bearer_token.reveal()}"
    elif cfg.bearer_token_file:
        with open(cfg.bearer_token_file, encoding="utf-8") as f:
            headers["Authorization"] = f"Bearer {f.read().strip()}"
    return headers


def _has_credential_files(cfg: ScrapeConfig) -> bool:
    b, a = cfg.basic_auth, cfg.authorization
    return bool(
        (b is not None and (b.password_file or b.username_file))
        or (a is not None and a.credentials_file)
        or cfg.bearer_token_file
    )


def uses_proxy(cfg: ScrapeConfig) -> bool:
    return bool(cfg.proxy_url) or cfg.proxy_from_environment


def make_client(cfg: ScrapeConfig) -> httpx.AsyncClient:
    """An httpx client for jobs that go through a proxy (the direct path is ``HTTPScraper``)."""
    headers = request_headers(cfg)
    verify: ssl.SSLContext | bool = ssl_context(cfg.tls_config) if cfg.scheme == "https" else True
    return httpx.AsyncClient(
        headers=headers,
        verify=verify,
        trust_env=cfg.proxy_from_environment,
        proxy=cfg.proxy_url or None,
        follow_redirects=cfg.follow_redirects,
        timeout=None,
    )


@dataclass(slots=True)
class LoopLimits:
    body_size_limit: int = 0


class ScrapeLoop:
    """Scrapes one target forever (until ``stop``); state lives in ``target``."""

    def __init__(
        self,
        target: Target,
        cfg: ScrapeConfig,
        storage: Storage,
        client: httpx.AsyncClient | None = None,
        *,
        jitter_seed: int = 0,
        on_scrape: Callable[[ScrapeLoop, float, bool], None] | None = None,
    ) -> None:
        self.target = target
        self.cfg = cfg
        self.storage = storage
        self.client = client
        self._http: HTTPScraper | None = None
        # Credentials kept in files are read on every scrape, so rotating them needs no reload.
        self._reread_headers = _has_credential_files(cfg)
        if client is None:
            self._http = HTTPScraper(
                target.url,
                self._headers(),
                ssl_context=ssl_context(cfg.tls_config) if target.url.startswith("https:") else None,
                server_name=cfg.tls_config.server_name,
                body_size_limit=cfg.body_size_limit or 0,
                follow_redirects=cfg.follow_redirects,
            )
        self.jitter_seed = jitter_seed
        self.on_scrape = on_scrape
        self.ingester = Ingester(
            [(k, v) for k, v in sorted(target.labels.items()) if not k.startswith("__")],
            IngestOptions(
                honor_labels=cfg.honor_labels,
                honor_timestamps=cfg.honor_timestamps,
                sample_limit=cfg.sample_limit or 0,
                label_limit=cfg.label_limit or 0,
                label_name_length_limit=cfg.label_name_length_limit or 0,
                label_value_length_limit=cfg.label_value_length_limit or 0,
                metric_relabel=cfg.metric_relabel_configs,
            ),
        )
        self.body_size_limit = cfg.body_size_limit or 0
        self._prev_refs: npt.NDArray[np.int64] = _EMPTY
        self._report_refs: npt.NDArray[np.int64] | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_result: IngestResult | None = None
        self.last_interval: float | None = None
        self._last_start = 0.0

    # -- scheduling -----------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"scrape {self.target.url}")

    def _headers(self) -> dict[str, str]:
        headers = request_headers(self.cfg)
        headers["X-Prometheus-Scrape-Timeout-Seconds"] = f"{self.target.timeout_ms / 1000:g}"
        return headers

    async def stop(self, mark_stale: bool = True) -> None:
        """Stop scraping; when the target went away, mark all its series stale."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._http is not None:
            await self._http.close()
        if mark_stale:
            self._write_stale(int(time.time() * 1000), include_report=True)

    def first_delay(self, now: float) -> float:
        """Seconds until this target's phase: the same offset within the interval on every start."""
        interval = self.target.interval_ms
        now_ms = int(now * 1000)
        nxt = now_ms - now_ms % interval + self.target.offset_ms(self.jitter_seed)
        if nxt < now_ms:
            nxt += interval
        return (nxt - now_ms) / 1000.0

    async def _run(self) -> None:
        interval = self.target.interval_ms / 1000.0
        await asyncio.sleep(self.first_delay(time.time()))
        due = time.monotonic()
        while True:
            await self.scrape_once()
            due += interval
            now = time.monotonic()
            if now > due:  # fell behind (slow host): skip the missed ticks, keep the phase
                due += math.ceil((now - due) / interval) * interval
            await asyncio.sleep(due - now)

    # -- one scrape ------------------------------------------------------------------------

    async def fetch(self) -> tuple[bytes, str]:
        """Body and content type; raises ``ScrapeError`` with the reason on any failure."""
        timeout_s = self.target.timeout_ms / 1000.0
        if self._http is not None:
            try:
                if self._reread_headers:
                    try:
                        self._http.set_headers(self._headers())
                    except (OSError, ValueError) as e:
                        raise ScrapeError(f"cannot read the scrape credentials: {e}") from None
                async with asyncio.timeout(timeout_s):
                    return await self._http.get()
            except TimeoutError:
                raise ScrapeError(f"context deadline exceeded (scrape timeout {timeout_s:g}s)") from None
        assert self.client is not None
        headers = {"X-Prometheus-Scrape-Timeout-Seconds": f"{timeout_s:g}"}
        extensions = {}
        if self.cfg.tls_config.server_name:
            extensions["sni_hostname"] = self.cfg.tls_config.server_name
        limit = self.body_size_limit
        try:
            async with asyncio.timeout(timeout_s):
                req = self.client.build_request(
                    "GET", self.target.url, headers=headers, extensions=extensions
                )
                resp = await self.client.send(req, stream=True)
                try:
                    if resp.status_code != 200:
                        raise ScrapeError(
                            f"server returned HTTP status {resp.status_code} {resp.reason_phrase}"
                        )
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        if limit and size > limit:
                            raise ScrapeError(f"body size limit exceeded (limit: {limit} bytes)")
                        chunks.append(chunk)
                finally:
                    await resp.aclose()
        except TimeoutError:
            raise ScrapeError(f"context deadline exceeded (scrape timeout {timeout_s:g}s)") from None
        except httpx.HTTPError as e:
            raise ScrapeError(_http_error(e)) from None
        except (ssl.SSLError, OSError) as e:
            raise ScrapeError(f"{type(e).__name__}: {e}") from None
        return b"".join(chunks), resp.headers.get("content-type", "")

    async def scrape_once(self) -> None:
        t0 = time.time()
        self.last_interval = t0 - self._last_start if self._last_start else None
        self._last_start = t0
        ts = int(t0 * 1000)
        err = ""
        result: IngestResult | None = None
        app = self.storage.appender()
        try:
            body, ctype = await self.fetch()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                line = body.count(b"\n", 0, e.start) + 1
                raise ScrapeError(f"line {line}: invalid UTF-8 in the exposition") from None
            openmetrics = choose_parser(ctype, self.cfg.fallback_scrape_protocol)
            result = self.ingester.ingest(text, openmetrics, app, ts)
        except ScrapeError as e:
            err = str(e)
        except Exception as e:  # a bug must not kill the loop; it shows as the target's error
            log.exception("scrape failed unexpectedly target=%s", self.target.url)
            err = f"internal error: {type(e).__name__}: {e}"
        duration = time.time() - t0
        added = 0
        if result is not None:
            app.append_batch(result.refs, ts, result.values)
            for ref, t, v in result.timestamped:
                app.append(ref, t, v)
            # Series with their own timestamps are left out of staleness tracking, as in
            # Prometheus: their samples say when they were true, not that they still are.
            cur = result.refs
            prev = self._prev_refs
            if not (prev.shape == cur.shape and np.array_equal(prev, cur)):
                gone = np.setdiff1d(prev, cur)
                if gone.size:
                    app.append_batch(gone, ts, np.full(gone.size, STALE_NAN))
                added = int(np.setdiff1d(cur, prev).size)
            self._prev_refs = cur
            self.last_result = result
        else:
            if self._prev_refs.size:
                app.append_batch(self._prev_refs, ts, np.full(self._prev_refs.size, STALE_NAN))
            self._prev_refs = _EMPTY
        report = np.array(
            [
                0.0 if err else 1.0,
                duration,
                float(result.scraped) if result else 0.0,
                float(result.post_relabel) if result else 0.0,
                float(added),
            ]
        )
        app.append_batch(self._report(app), ts, report)
        try:
            app.commit()
        except Exception as e:
            log.exception("append failed target=%s", self.target.url)
            app.rollback()
            err = err or f"storage error: {e}"
        warnings = []
        if result is not None and result.duplicates:
            warnings.append(f"{result.duplicates} duplicate series in the exposition were ignored")
            log.warning("duplicate series in exposition target=%s dropped=%d", self.target.url,
                        result.duplicates)
        self.target.warnings = warnings
        self.target.report("down" if err else "up", err, t0, duration)
        if self.on_scrape is not None:
            self.on_scrape(self, duration, not err)

    def _report(self, app: object) -> npt.NDArray[np.int64]:
        if self._report_refs is None:
            refs = []
            for name in REPORT_NAMES:
                lb: dict[str, str] = {"__name__": name}
                for k, v in self.ingester.target_labels:
                    if k in lb:
                        lb["exported_" + k] = lb[k]
                    lb[k] = v
                refs.append(app.ref(Labels(lb)))  # type: ignore[attr-defined]
            self._report_refs = np.array(refs, dtype=np.int64)
        return self._report_refs

    def _write_stale(self, ts: int, include_report: bool) -> None:
        refs = self._prev_refs
        if include_report and self._report_refs is not None:
            refs = np.concatenate([refs, self._report_refs])
        if not refs.size:
            return
        app = self.storage.appender()
        app.append_batch(refs, ts, np.full(refs.size, STALE_NAN))
        app.commit()
        self._prev_refs = _EMPTY
