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
import contextlib
import logging
import math
import ssl
import time
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING

from guardia.config.httpclient import ssl_context
from guardia.config.prometheus import ScrapeConfig
from guardia.model import STALE_NAN, Labels
from guardia.scrape.http import HTTPScraper
from guardia.scrape.ingest import Ingester, IngestOptions, IngestResult, ScrapeError
from guardia.scrape.protoingest import HistogramOptions, pick_schema
from guardia.scrape.request import (
    OPENMETRICS,
    PROTOBUF,
    choose_parser,
    has_credential_files,
    http_error,
    request_headers,
)
from guardia.scrape.target import Target
from guardia.storage.exemplars import Exemplar, ExemplarRelay, ExemplarStore
from guardia.storage.interface import Storage

if TYPE_CHECKING:  # httpx is loaded only by jobs behind a proxy (``request.make_client``)
    import httpx

    from guardia.scrape.ingest import Refs, Values
    from guardia.storage.interface import Appender

log = logging.getLogger("guardia.scrape")

__all__ = ["REPORT_NAMES", "ScrapeLoop"]

REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
_EMPTY: array[int] = array("q")
# A steady scrape appends its samples and report series as one batch (``_with_report``);
# False only in tests, which compare both ways.
_MERGE = True

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
        exemplars: ExemplarStore | ExemplarRelay | None = None,
        ct_zero: bool = False,
    ) -> None:
        self.target = target
        self.exemplars = exemplars
        self.cfg = cfg
        self.storage = storage
        self.client = client
        self._http: HTTPScraper | None = None
        # Credentials kept in files are read on every scrape, so rotating them needs no reload.
        self._reread_headers = has_credential_files(cfg)
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
                legacy_names=cfg.metric_name_validation_scheme == "legacy",
            ),
            numpy_free=bool(getattr(storage, "numpy_free", False)),
        )
        self.body_size_limit = cfg.body_size_limit or 0
        self.histogram_options = HistogramOptions(
            native=bool(cfg.scrape_native_histograms),
            keep_classic=bool(cfg.always_scrape_classic_histograms),
            bucket_limit=cfg.native_histogram_bucket_limit,
            max_schema=pick_schema(cfg.native_histogram_min_bucket_factor),
            nhcb=bool(cfg.convert_classic_histograms_to_nhcb),
            ct_zero=ct_zero,
        )
        # the last scrape's refs (each once), numpy arrays or Python arrays as ingest gives them
        self._prev_refs: Refs = _EMPTY
        self._report_refs: array[int] | None = None
        # (a scrape's refs, the report refs, the two joined): the same objects scrape after
        # scrape while the body's series repeat, so they are joined once
        self._joined: tuple[Refs, array[int], Refs] | None = None
        self._ref_epoch = 0  # the store's series GC epoch the refs kept here belong to
        self._task: asyncio.Task[None] | None = None
        self.last_result: IngestResult | None = None
        self.last_interval: float | None = None
        self._last_start = 0.0
        self._last_scrape_ms = 0  # the last scrape that gave samples (created timestamps after it count)

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
        import httpx  # already loaded: the client is one

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
            raise ScrapeError(http_error(e)) from None
        except (ssl.SSLError, OSError) as e:
            raise ScrapeError(f"{type(e).__name__}: {e}") from None
        return b"".join(chunks), resp.headers.get("content-type", "")

    async def scrape_once(self) -> None:
        t0 = time.time()
        self.last_interval = t0 - self._last_start if self._last_start else None
        ts = int(t0 * 1000)
        if self._last_start and ts == int(self._last_start * 1000):
            # two scrapes begun in one millisecond (back-to-back calls; no interval allows it):
            # the second's samples, staleness markers included, would be duplicates and dropped
            ts += 1
        self._last_start = t0
        err = ""
        result: IngestResult | None = None
        app = self.storage.appender()
        try:
            body, ctype = await self.fetch()
            fmt = choose_parser(ctype, self.cfg.fallback_scrape_protocol)
            self._follow_gc(app)  # after the fetch: from here to the commit nothing awaits
            if fmt == PROTOBUF:
                result = self.ingester.ingest_proto(body, app, self.histogram_options)
            elif (hopts := self.histogram_options).nhcb or (hopts.ct_zero and fmt == OPENMETRICS):
                result = self.ingester.ingest_text_whole(body, fmt == OPENMETRICS, app, hopts)
            else:
                result = self.ingester.ingest_body(body, fmt == OPENMETRICS, app, ts)
        except ScrapeError as e:
            err = str(e)
        except Exception as e:  # a bug must not kill the loop; it shows as the target's error
            log.exception("scrape failed unexpectedly target=%s", self.target.url)
            err = f"internal error: {type(e).__name__}: {e}"
        duration = time.time() - t0
        added = 0
        self._follow_gc(app)
        if (result is not None and _MERGE and not isinstance(result.refs, array)
                and not result.created and not result.timestamped and not result.histograms
                and result.hist_batch is None and _same(self._prev_refs, result.refs)):
            # The steady state: the same series as the last scrape, nothing stale, nothing
            # added.  Its samples and report series go as one batch, the refs of both
            # joined once: the embedded store commits the same record, byte for byte, as
            # from two batches, without a second batch's checks and the commit's joins.
            # (Not for a numpy-free store: an agent logs two batches as a record with a
            # timestamp per sample, one batch as one without, and its log stays as it was.)
            self._last_scrape_ms = ts
            self._prev_refs = result.refs
            self.last_result = result
            report = array("d", [1.0, duration, float(result.scraped), float(result.post_relabel), 0.0])
            refs, values = self._with_report(app, result.refs, result.values, report)
            app.append_batch(refs, ts, values)
            self._finish(app, result, err, ts, t0, duration)
            return
        if result is not None:
            if result.created:
                self._append_created(app, result, ts)
            self._last_scrape_ms = ts
            app.append_batch(result.refs, ts, result.values)
            for ref, t, v in result.timestamped:
                app.append(ref, t, v)
            # Series with their own timestamps are left out of staleness tracking, as in
            # Prometheus: their samples say when they were true, not that they still are
            # (unless track_timestamps_staleness asks for it).
            cur = result.refs
            if result.timestamped and self.cfg.track_timestamps_staleness:
                cur = _union(cur, [r for r, _, _ in result.timestamped])
            if result.histograms or result.hist_batch is not None:
                cur = self._append_histograms(app, result, ts, cur)
            prev = self._prev_refs
            if not _same(prev, cur):
                # both hold each ref once (ingest drops duplicates, a union is of sets)
                now = set(cur.tolist())
                gone = [r for r in prev.tolist() if r not in now]
                if gone:
                    app.append_batch(gone, ts, _stale(len(gone)))
                added = len(now.difference(prev.tolist()))
            self._prev_refs = cur
            self.last_result = result
        else:
            if len(self._prev_refs):
                app.append_batch(self._prev_refs, ts, _stale(len(self._prev_refs)))
            self._prev_refs = _EMPTY
        report = array(
            "d",
            [
                0.0 if err else 1.0,
                duration,
                float(result.scraped) if result else 0.0,
                float(result.post_relabel) if result else 0.0,
                float(added),
            ]
        )
        app.append_batch(self._report(app), ts, report)
        self._finish(app, result, err, ts, t0, duration)

    def _finish(self, app: Appender, result: IngestResult | None, err: str, ts: int, t0: float,
                duration: float) -> None:
        """Commit the scrape, then its exemplars, warnings, target state and callback."""
        try:
            app.commit()
        except Exception as e:
            log.exception("append failed target=%s", self.target.url)
            app.rollback()
            err = err or f"storage error: {e}"
        else:
            if result is not None and result.exemplars and self.exemplars is not None:
                # an exemplar without its own timestamp gets the scrape's, as in Prometheus
                self.exemplars.add_many(
                    (series, Exemplar(Labels(ex.labels), ex.value,
                                      ts if ex.timestamp_ms is None else ex.timestamp_ms))
                    for series, ex in result.exemplars
                )
        warnings = []
        if result is not None and (result.histograms or result.hist_batch) and self._histograms_dropped:
            warnings.append(f"{self._histograms_dropped} native histograms dropped: this storage keeps "
                            "floats only")
        if result is not None and result.duplicates:
            warnings.append(f"{result.duplicates} duplicate series in the exposition were ignored")
            log.warning("duplicate series in exposition target=%s dropped=%d", self.target.url,
                        result.duplicates)
        self.target.warnings = warnings
        self.target.report("down" if err else "up", err, t0, duration)
        if self.on_scrape is not None:
            self.on_scrape(self, duration, not err)

    def _with_report(self, app: object, refs: Refs, values: Values,
                     report: array[float]) -> tuple[Refs, Values]:
        """A scrape's refs and values (numpy arrays) with the report series' after them; the
        refs joined once while they repeat."""
        import numpy as np

        report_refs = self._report(app)
        j = self._joined
        if j is None or j[0] is not refs or j[1] is not report_refs:
            joined = np.concatenate((refs, np.frombuffer(report_refs, dtype=np.int64)))
            self._joined = j = (refs, report_refs, joined)
        return j[2], np.concatenate((values, np.frombuffer(report, dtype=np.float64)))

    def _append_histograms(self, app: object, result: IngestResult, ts: int, cur: Refs) -> Refs:
        """Append a protobuf scrape's native histograms; their refs join staleness tracking
        (a series that vanishes gets the stale marker like a float one).  A store without
        histograms (agent mode) drops them, said in the target's warnings."""
        add = getattr(app, "append_histogram", None)
        if add is None:
            self._histograms_dropped = len(result.histograms) + result.batch_size
            return cur
        self._histograms_dropped = 0
        tracked = []
        if result.hist_batch is not None:  # columns: one call, no object per histogram
            refs, cols = result.hist_batch
            batch = getattr(app, "append_histograms", None)
            if batch is not None:
                batch(refs, ts, cols)
            else:
                for ref, h in zip(refs.tolist(), cols.objects().tolist(), strict=True):
                    add(ref, ts, h)
            tracked += refs.tolist()
        for ref, t, h in result.histograms:
            add(ref, ts if t is None else t, h)
            if t is None or self.cfg.track_timestamps_staleness:
                tracked.append(ref)
        if tracked:
            cur = _union(cur, tracked)
        return cur

    _histograms_dropped = 0

    def _append_created(self, app: object, result: IngestResult, ts: int) -> None:
        """A zero sample at each created timestamp that is newer than this loop's previous
        scrape and older than its sample (``created-timestamp-zero-ingestion``): the series
        began (or restarted from zero) since then, so ``increase()`` counts its first
        observations.  An older one is already behind a stored sample; Prometheus appends it
        anyway and ignores the out-of-order refusal, which here is never asked for."""
        add_h = getattr(app, "append_histogram", None)
        add = app.append  # type: ignore[attr-defined]
        since = self._last_scrape_ms
        for ref, ct, own_t, h in result.created:
            if not since < ct < (ts if own_t is None else own_t):
                continue
            if h is None:
                add(ref, ct, 0.0)
            elif add_h is not None:
                add_h(ref, ct, h.empty_like())

    def _follow_gc(self, app: object) -> None:
        """After a series GC of the store (its refs renumbered), drop the cached refs and carry
        the last scrape's over to the new numbering (staleness markers need them)."""
        pin = getattr(app, "pin", None)
        epoch = pin() if pin is not None else getattr(app, "ref_epoch", 0)
        if epoch == self._ref_epoch:
            return
        translate = getattr(app, "translate", None)
        moved = None
        if translate is not None:  # the embedded store's (numpy); an agent never renumbers
            import numpy as np

            moved = translate(np.asarray(self._prev_refs, dtype=np.int64), self._ref_epoch)
        self._prev_refs = _EMPTY if moved is None else moved[moved >= 0]
        self._report_refs = None
        self.ingester.reset()
        self._ref_epoch = epoch

    def _report(self, app: object) -> array[int]:
        if self._report_refs is None:
            refs = []
            for name in REPORT_NAMES:
                lb: dict[str, str] = {"__name__": name}
                for k, v in self.ingester.target_labels:
                    if k in lb:
                        lb["exported_" + k] = lb[k]
                    lb[k] = v
                refs.append(app.ref(Labels(lb)))  # type: ignore[attr-defined]
            self._report_refs = array("q", refs)
        return self._report_refs

    def _write_stale(self, ts: int, include_report: bool) -> None:
        refs = self._prev_refs
        if include_report and self._report_refs is not None:
            refs = array("q", refs.tolist()) + self._report_refs
        if not len(refs):
            return
        app = self.storage.appender()
        before = self._ref_epoch
        self._follow_gc(app)
        if self._ref_epoch != before:
            refs = self._prev_refs
            if not len(refs):
                app.rollback()
                return
        app.append_batch(refs, ts, _stale(len(refs)))
        app.commit()
        self._prev_refs = _EMPTY


def _stale(n: int) -> array[float]:
    """``n`` staleness markers' values."""
    return array("d", [STALE_NAN]) * n


def _same(a: Refs, b: Refs) -> bool:
    """The same refs in the same order (numpy arrays or Python arrays; an agent's are the
    latter and never import numpy here)."""
    if a is b:
        return True
    if len(a) != len(b):
        return False
    if isinstance(a, array) and isinstance(b, array):
        return a == b
    import numpy as np

    return bool(np.array_equal(a, b))


def _union(refs: Refs, more: list[int]) -> array[int]:
    """The refs in both, each once, in order (a scrape's refs and its timestamped ones)."""
    return array("q", sorted(set(refs.tolist()).union(more)))
