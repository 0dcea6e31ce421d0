"""One remote write endpoint: read the WAL, relabel, batch, shard, send, retry, remember.

Each round reads what the WAL holds past the saved position (at most ``shards`` ×
``max_samples_per_send`` samples), drops what ``write_relabel_configs`` and
``sample_age_limit`` drop, splits the rest by series over the shards (a series always goes to
the same shard, so its samples arrive in order) and sends every shard's batches concurrently.
A batch answered 5xx, 429 (unless ``retry_on_http_429: false``) or not at all is retried with
exponential backoff from ``min_backoff`` to ``max_backoff``, waiting as long as a
``Retry-After`` header asks; any other 4xx drops the batch (its samples counted failed), since
sending it again cannot help.  Only when the whole round is done is the WAL position saved
(``<data>/remote_write/<queue>.json``): a receiver outage keeps the position where it was, and a
restart resumes there, so what was committed is sent at least once while the WAL holds it.

The number of shards follows the backlog, as Prometheus's ``calculateDesiredShards``: the time
one sample takes to send, times the rate samples come in plus a share of the backlog behind
the reader (estimated from the WAL bytes not read yet), kept within ``min_shards`` and
``max_shards`` and changed only when it moves by more than 30%.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import time
import zlib
from array import array
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import compress as select
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from guardia import __version__
from guardia.config.httpclient import authorization_header, new_client, ssl_context
from guardia.config.prometheus import RemoteWriteConfig
from guardia.config.relabel import RelabelConfig
from guardia.model import Labels
from guardia.model.histogram import FloatHistogram
from guardia.model.relabel import process as relabel_process
from guardia.storage.remote.encode import PrefixTable, compress, encode_labels
from guardia.storage.remote.encode_exemplars import encode_v1 as encode_exemplars_v1
from guardia.storage.remote.encode_histograms import encode_v1 as encode_histograms_v1
from guardia.storage.remote.encode_v2 import (
    V2_CONTENT_TYPE,
    V2_MESSAGE,
    MetadataLookup,
    V2Encoder,
    family_metadata,
)
from guardia.storage.remote.encode_v2 import encode_exemplars as encode_exemplars_v2
from guardia.storage.remote.encode_v2 import encode_histograms as encode_histograms_v2
from guardia.storage.remote.metadata import MetadataSource, encode_metadata
from guardia.storage.remote.metrics import QueueMetrics, RemoteWriteMetrics
from guardia.storage.remote.post_client import PostClient, PostError
from guardia.storage.remote.wal_watcher import Position, WALRead, WALWatcher
from guardia.storage.tsdb import wal

if TYPE_CHECKING:  # httpx is loaded only for a proxy or OAuth2 (``_new_client``)
    import httpx

    from guardia.storage.exemplars import Exemplar
    from guardia.storage.tsdb.histograms import Sample as HistogramSample

log = logging.getLogger("guardia.storage.remote")

# a shard's samples: positions in a round's arrays (a range when the round has one shard)
Positions = Sequence[int]

POLL_S = 0.2
RESHARD_EVERY_S = 10.0
HIST_SERIES_CACHE_MAX = 500_000  # histogram label sets kept relabeled (cleared beyond)
WAL_BYTES_PER_SAMPLE = 12  # a scrape's record: 4-byte ref + 8-byte value per sample
_UNKNOWN, _SEND, _DROP = 0, 1, 2


@dataclass(frozen=True, slots=True)
class SentSeries:
    """A series known by its labels (a histogram's, an exemplar's) as sent: its 1.0 ``labels``
    fields and its 2.0 label pairs."""

    v1: bytes
    pairs: tuple[tuple[str, str], ...]


HistSample = tuple[SentSeries, int, FloatHistogram]
ExemplarSample = tuple[SentSeries, "Exemplar"]
_SEND_MASK = bytes(1 if i == _SEND else 0 for i in range(256))  # a state byte → 1 where sent


@dataclass(slots=True)
class Batch:
    """One request's samples (float samples; native histograms when ``hists`` is set,
    exemplars when ``exemplars`` is), and their body in the version it was last encoded in."""

    refs: array[int]
    ts: array[int]
    vs: array[float]
    body: bytes = b""
    v2: bool = False
    hists: list[HistSample] | None = None
    exemplars: list[ExemplarSample] | None = None

    @property
    def n(self) -> int:
        if self.hists is not None:
            return len(self.hists)
        if self.exemplars is not None:
            return len(self.exemplars)
        return len(self.refs)

    @property
    def newest(self) -> int:
        """The newest sample's time (0 for exemplars: what was sent is told by samples)."""
        if self.hists is not None:
            return max(t for _, t, _ in self.hists)
        if self.exemplars is not None:
            return 0
        return max(self.ts)


_Keyed = TypeVar("_Keyed", HistSample, ExemplarSample)


def _by_shard(items: list[_Keyed], nshards: int) -> list[list[_Keyed]]:
    """Samples known by their series' labels (histograms, exemplars), split over the shards by
    those labels as sent, so a series' samples of every kind go to one shard."""
    groups: list[list[_Keyed]] = [[] for _ in range(nshards)]
    for item in items:
        groups[shard_key(item[0].v1) % nshards].append(item)
    return groups


def shard_key(label_fields: bytes) -> int:
    """A series' shard key, from its encoded labels as sent (any shard count takes it modulo)."""
    return zlib.crc32(label_fields) & 0x7FFFFFFF


def queue_name(cfg: RemoteWriteConfig) -> str:
    """``remote_name``: the configured name, or a short hash of the URL as Prometheus makes one."""
    return cfg.name or hashlib.sha256(cfg.url.encode()).hexdigest()[:6]


def state_file(data_dir: Path, cfg: RemoteWriteConfig) -> Path:
    """Where a queue keeps its WAL position: by name and URL, so other settings can change."""
    key = hashlib.sha256(f"{cfg.name or ''}\0{cfg.url}".encode()).hexdigest()[:16]
    return data_dir / f"{key}.json"


class QueueManager:
    """Sends the WAL to one ``remote_write`` endpoint (see the module docs)."""

    def __init__(
        self,
        cfg: RemoteWriteConfig,
        *,
        waldir: Path,
        state_path: Path,
        external_labels: Mapping[str, str],
        metrics: RemoteWriteMetrics,
        metadata: MetadataSource | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = queue_name(cfg)
        self.url = cfg.url
        self.waldir = waldir
        self.state_path = state_path
        self.external_labels = dict(external_labels)
        self._all_metrics = metrics
        self.m: QueueMetrics = metrics.queue(self.name, self.url)
        self._metadata = metadata
        q = cfg.queue_config
        self.min_shards = max(1, q.min_shards)
        self.max_shards = max(self.min_shards, q.max_shards)
        self.shards = self.min_shards
        self.max_per_send = max(1, q.max_samples_per_send)
        self.m.shards.set(self.shards)
        self.m.shards_desired.set(self.shards)
        self.m.shards_min.set(self.min_shards)
        self.m.shards_max.set(self.max_shards)
        self._prefixes = PrefixTable()
        # remote write 2.0 when configured, until the receiver shows it does not take it
        self.v2 = cfg.protobuf_message == V2_MESSAGE
        self._v2 = V2Encoder() if self.v2 else None
        self._v2_metadata: MetadataLookup | None = None
        self._retired: list[httpx.AsyncClient | PostClient] = []
        self._state = bytearray(1024)  # per ref: _UNKNOWN, _SEND or _DROP
        # With native histograms sent, a series goes to the shard its label bytes hash to,
        # float samples (by ref) and histograms (by label set) alike, so a series' histograms
        # and its float samples (the staleness marker that ends it) stay in order; without,
        # float samples shard by ref and nothing is kept per series.
        self._shard_key: array[int] | None = array("i", bytes(4096)) if cfg.send_native_histograms else None
        self._hist_series: dict[Labels, SentSeries | None] = {}
        # exemplars the store handed over since the last read (``send_exemplars``), at most
        # ``capacity``: behind a receiver that is down the oldest go (counted dropped)
        self._exemplar_feed: deque[tuple[Labels, Exemplar]] | None = (
            deque(maxlen=max(1, q.capacity)) if cfg.send_exemplars else None)
        self._ex_dropping = False
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | PostClient | None = None
        # what a send that got no answer raises: PostError, and httpx's errors once an httpx
        # client is built (an agent without a proxy or OAuth2 never imports httpx)
        self._send_errors: tuple[type[Exception], ...] = (PostError,)
        self.watcher: WALWatcher | None = None
        # shard sizing: sums over the current window
        self._win_start = time.monotonic()
        self._win_in = 0
        self._win_sent = 0
        self._win_send_s = 0.0
        self._rate_in = 0.0
        self.highest_sent_ms = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"remote-write-{self.name}")

    async def stop(self) -> None:
        """Stop sending; a round in flight is abandoned (sent again from the saved position)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout=2)
            if not self._task.done():
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        for old in self._retired:
            await old.aclose()
        self._retired = []

    def forget_metrics(self) -> None:
        self._all_metrics.forget(self.name, self.url)

    def _new_client(self) -> httpx.AsyncClient | PostClient:
        """guardia's keep-alive POST client (``post_client``) with the block's TLS and
        credentials; httpx from the one factory when a proxy or OAuth2 is configured."""
        c = self.cfg
        headers = {
            **(c.headers or {}),  # the protocol's own headers below cannot be overridden
            "Content-Encoding": "snappy",
            "Content-Type": V2_CONTENT_TYPE if self.v2 else "application/x-protobuf",
            "User-Agent": f"guardia/{__version__}",
            "X-Prometheus-Remote-Write-Version": "2.0.0" if self.v2 else "0.1.0",
        }
        if c.proxy_url or c.proxy_from_environment or c.oauth2 is not None:
            import httpx

            self._send_errors = (httpx.HTTPError, PostError)
            return new_client(c, headers=headers, timeout_s=c.remote_timeout / 1000)
        auth = authorization_header(c)
        if auth is not None:
            headers["Authorization"] = auth
        # a TLS context only for https: the default one holds the system's CA certificates,
        # ~2 MiB resident (#24), which a plain-HTTP endpoint never uses
        tls = ssl_context(c.tls_config) if urlsplit(c.url).scheme == "https" else None
        return PostClient(c.url, headers, tls, c.remote_timeout / 1000)

    # -- the position ------------------------------------------------------------------------

    def load_position(self) -> Position | None:
        try:
            d = json.loads(self.state_path.read_text())
            return Position(int(d["segment"]), int(d["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as e:
            log.warning("event=remote_write_state_unreadable file=%s err=%r action=start_at_wal_end",
                        self.state_path, str(e))
            return None

    def save_position(self, pos: Position) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"segment": pos.segment, "offset": pos.offset, "url": self.url}))
        os.replace(tmp, self.state_path)

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("event=remote_write_queue_failed remote_name=%s url=%s", self.name, self.url)

    async def _loop(self) -> None:
        start = self.load_position()
        self.watcher = watcher = await asyncio.to_thread(WALWatcher, self.waldir, start,
                                                         self.cfg.send_native_histograms)
        watcher.settled = self._settled
        if start is None:
            self.save_position(watcher.pos)
        self._client = self._new_client()
        log.info("event=remote_write_started remote_name=%s url=%s segment=%d offset=%d", self.name,
                 self.url, watcher.pos.segment, watcher.pos.offset)
        meta_task = None
        if self._metadata is not None and self.cfg.metadata_config.send:
            meta_task = asyncio.create_task(self._metadata_loop(), name=f"remote-metadata-{self.name}")
        pending: list[WALRead] = []
        pending_n = 0
        first_at = 0.0
        deadline_s = self.cfg.queue_config.batch_send_deadline / 1000
        try:
            while not self._stop.is_set():
                want = self.shards * self.max_per_send - pending_n
                got = await asyncio.to_thread(watcher.read, max(want, 1))
                wal_n = got.total
                if self._exemplar_feed:
                    got.exemplars = self._take_exemplars()
                self.m.segment.set(watcher.current_segment)
                if got.total:
                    self._observe_read(got)
                    if not pending:
                        first_at = time.monotonic()
                    pending.append(got)
                    pending_n += got.total
                caught_up = wal_n == 0 or wal_n < want
                due = bool(pending) and (
                    pending_n >= self.shards * self.max_per_send
                    or (caught_up and pending_n >= self.max_per_send)
                    or time.monotonic() - first_at >= deadline_s
                )
                if due:
                    nh = sum(len(r.histograms) for r in pending)
                    ne = sum(len(r.exemplars) for r in pending)
                    self.m.pending.set(pending_n - nh - ne)
                    self.m.hist_pending.set(nh)
                    self.m.ex_pending.set(ne)
                    done = await self._send_round(pending)
                    if not done:
                        return
                    self.save_position(pending[-1].end)
                    pending, pending_n = [], 0
                    self.m.pending.set(0)
                    self.m.hist_pending.set(0)
                    self.m.ex_pending.set(0)
                elif got.total == 0 and not pending:
                    # nothing new: remember how far we got (segments may have been skipped)
                    if start != watcher.pos:
                        start = watcher.pos
                        self.save_position(watcher.pos)
                    await self._sleep(POLL_S)
                elif caught_up:
                    await self._sleep(min(POLL_S, deadline_s))
                self._maybe_reshard()
        finally:
            if meta_task is not None:
                meta_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await meta_task

    async def _sleep(self, s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=s)

    def offer_exemplars(self, items: list[tuple[Labels, Exemplar]]) -> None:
        """Exemplars just stored (the store's listener; any thread): queued for the next round."""
        feed = self._exemplar_feed
        if feed is None:
            return
        over = len(feed) + len(items) - (feed.maxlen or 0)
        if over > 0:  # the oldest are pushed out
            self.m.ex_dropped.inc(over)
            if not self._ex_dropping:
                log.warning("event=remote_write_exemplars_dropped remote_name=%s url=%s reason=%r",
                            self.name, self.url, "more exemplars waiting than queue_config.capacity "
                            "(the receiver is slow or down); the oldest are dropped")
        self._ex_dropping = over > 0
        feed.extend(items)

    def _take_exemplars(self) -> list[tuple[Labels, Exemplar]]:
        feed = self._exemplar_feed
        out: list[tuple[Labels, Exemplar]] = []
        while feed:
            out.append(feed.popleft())
        return out

    def _observe_read(self, got: WALRead) -> None:
        self._all_metrics.samples_in.inc(got.size)
        if got.histograms:
            self._all_metrics.histograms_in.inc(len(got.histograms))
        if got.exemplars:
            self._all_metrics.exemplars_in.inc(len(got.exemplars))
        self._win_in += got.total
        newest = max((t for _, t, _ in got.histograms), default=None)
        if got.size:
            newest = max(max(got.timestamps), newest if newest is not None else -(1 << 63))
        if newest is not None:
            self._all_metrics.observe_highest(newest)

    # -- relabeling --------------------------------------------------------------------------

    def _settled(self, ref: int) -> bool:
        return ref < len(self._state) and self._state[ref] != _UNKNOWN

    def _resolve(self, refs: array[int]) -> bytes:
        """Send/drop for each sample's series (a state byte per sample); series seen for the
        first time are relabeled and encoded once."""
        top = max(refs) + 1 if refs else 0
        if top > len(self._state):
            self._state.extend(bytes(max(top, 2 * len(self._state)) - len(self._state)))
        state = bytes(map(self._state.__getitem__, refs))
        new = sorted({r for r, st in zip(refs, state, strict=True) if st == _UNKNOWN}) \
            if _UNKNOWN in state else []
        if new:
            assert self.watcher is not None
            labels = self.watcher.labels
            rules = self.cfg.write_relabel_configs
            for ref in new:
                lb = labels[ref] if ref < len(labels) else None
                if lb is None:
                    continue  # a series record we never saw: counted as dropped
                labels[ref] = None  # resolved for good below: the labels are not needed again
                sent_labels = self._relabel(lb, rules)
                if sent_labels is None:
                    self._state[ref] = _DROP
                    continue
                label_fields = encode_labels(sent_labels)
                self._prefixes.add(ref, label_fields)
                if self._shard_key is not None:
                    if ref >= len(self._shard_key):
                        grow = max(ref + 1, 2 * len(self._shard_key)) - len(self._shard_key)
                        self._shard_key.extend(array("i", bytes(4 * grow)))
                    self._shard_key[ref] = shard_key(label_fields)
                if self._v2 is not None:
                    self._v2.add(ref, sent_labels)
                self._state[ref] = _SEND
            state = bytes(map(self._state.__getitem__, refs))
        return state

    def _relabel(self, lb: Labels, rules: tuple[RelabelConfig, ...]) -> Labels | None:
        """A series' labels as sent (external labels added, then ``write_relabel_configs``), or
        None when they drop it."""
        d = lb.as_dict()
        for k, v in self.external_labels.items():
            d.setdefault(k, v)
        out = relabel_process(d, rules) if rules else d
        if out is None or not out.get("__name__"):
            return None
        return Labels({k: v for k, v in out.items() if v})

    def _resolve_histograms(self, samples: list[HistogramSample]) -> list[HistSample]:
        """The histogram samples to send, each with its series as sent; the others (relabeled
        away, older than ``sample_age_limit``) are counted dropped.  Histogram records carry
        label sets, not refs: each label set is relabeled once and remembered."""
        cutoff = self._age_cutoff()
        out: list[HistSample] = []
        for lb, t, h in samples:
            sent = self._sent_series(lb)
            if sent is None or (cutoff is not None and t < cutoff):
                continue
            out.append((sent, t, h))
        if len(out) < len(samples):
            self.m.hist_dropped.inc(len(samples) - len(out))
        return out

    def _resolve_exemplars(self, items: list[tuple[Labels, Exemplar]]) -> list[ExemplarSample]:
        """The exemplars to send, each with its series as sent (relabeled as its samples are);
        the others are counted dropped, as ``_resolve_histograms`` does."""
        cutoff = self._age_cutoff()
        out: list[ExemplarSample] = []
        for lb, ex in items:
            sent = self._sent_series(lb)
            if sent is None or (cutoff is not None and ex.timestamp_ms < cutoff):
                continue
            out.append((sent, ex))
        if len(out) < len(items):
            self.m.ex_dropped.inc(len(items) - len(out))
        return out

    def _age_cutoff(self) -> int | None:
        limit = self.cfg.queue_config.sample_age_limit
        return int(time.time() * 1000) - limit if limit else None

    def _sent_series(self, lb: Labels) -> SentSeries | None:
        """A series known by its labels, as sent (None: relabeled away); each label set is
        relabeled once and remembered."""
        cache = self._hist_series
        if lb in cache:
            return cache[lb]
        if len(cache) > HIST_SERIES_CACHE_MAX:
            cache.clear()
        labels = self._relabel(lb, self.cfg.write_relabel_configs)
        sent = cache[lb] = None if labels is None else SentSeries(encode_labels(labels), tuple(labels))
        return sent

    # -- sending -----------------------------------------------------------------------------

    async def _send_round(self, reads: list[WALRead]) -> bool:
        """Send every sample of ``reads``; False if stopped before the receiver took them all."""
        refs, ts, vs = array("i"), array("q"), array("d")
        for r in reads:
            refs += r.refs
            ts += r.timestamps
            vs += r.values
        state = self._resolve(refs)
        limit = self.cfg.queue_config.sample_age_limit
        cutoff = int(time.time() * 1000) - limit if limit and ts else None
        if cutoff is not None and min(ts) >= cutoff:
            cutoff = None  # nothing too old: no per-sample check
        if state.count(_SEND) < len(refs) or cutoff is not None:
            keep = state.translate(_SEND_MASK)
            if cutoff is not None:
                keep = bytes(k and t >= cutoff for k, t in zip(keep, ts, strict=True))
            n = len(refs)
            refs, ts = array("i", select(refs, keep)), array("q", select(ts, keep))
            vs = array("d", select(vs, keep))
            if n > len(refs):
                self.m.dropped.inc(n - len(refs))
        hists = self._resolve_histograms([h for r in reads for h in r.histograms])
        exs = self._resolve_exemplars([e for r in reads for e in r.exemplars])
        if not refs and not hists and not exs:
            return True
        nshards = self.shards
        groups: list[Positions]
        if nshards == 1:
            groups = [range(len(refs))]
        else:
            lists: list[list[int]] = [[] for _ in range(nshards)]
            keys = refs if self._shard_key is None else map(self._shard_key.__getitem__, refs)
            for i, k in enumerate(keys):
                lists[k % nshards].append(i)
            groups = list(lists)
        # a histogram's or an exemplar's series goes to its series' shard too (by its labels:
        # it has no ref)
        hgroups = _by_shard(hists, nshards)
        egroups = _by_shard(exs, nshards)
        batches = await asyncio.to_thread(self._encode_groups, groups, refs, ts, vs, hgroups, egroups)
        results = await asyncio.gather(*(self._send_shard(b) for b in batches if b))
        return all(results)

    def _encode_groups(self, groups: list[Positions], refs: array[int], ts: array[int], vs: array[float],
                       hgroups: list[list[HistSample]], egroups: list[list[ExemplarSample]],
                       ) -> list[list[Batch]]:
        """Each shard's batches, encoded in the protocol version in use now.  A shard holding
        both kinds sends them in time order, as runs of one kind: a series' last histogram
        goes before the staleness marker that ends it (a float sample), and a histogram
        after a marker goes after it.  Exemplars go last: their order against samples does
        not matter to a receiver."""
        out: list[list[Batch]] = []
        for idx, hs, es in zip(groups, hgroups, egroups, strict=True):
            shard: list[Batch] = []
            out.append(shard)
            if not hs or not idx:
                self._float_batches(shard, idx, refs, ts, vs)
                self._hist_batches(shard, hs)
            else:
                times = [ts[i] for i in idx] + [t for _, t, _ in hs]
                kind = [0] * len(idx) + [1] * len(hs)
                pos = [*range(len(idx)), *range(len(hs))]
                order = sorted(range(len(times)), key=times.__getitem__)  # stable
                kind, pos = [kind[o] for o in order], [pos[o] for o in order]
                cuts = [0, *(i for i in range(1, len(kind)) if kind[i] != kind[i - 1]), len(kind)]
                for a, b in itertools.pairwise(cuts):
                    if kind[a] == 0:
                        self._float_batches(shard, [idx[p] for p in sorted(pos[a:b])], refs, ts, vs)
                    else:
                        self._hist_batches(shard, [hs[p] for p in sorted(pos[a:b])])
            self._exemplar_batches(shard, es)
        return out

    def _float_batches(self, shard: list[Batch], idx: Positions, refs: array[int], ts: array[int],
                       vs: array[float]) -> None:
        step = self.max_per_send
        for lo in range(0, len(idx), step):
            b = Batch(_take(refs, idx, lo, step), _take(ts, idx, lo, step), _take(vs, idx, lo, step))
            self._encode(b)
            shard.append(b)

    def _hist_batches(self, shard: list[Batch], hs: list[HistSample]) -> None:
        step = self.max_per_send
        for lo in range(0, len(hs), step):
            b = Batch(array("i"), array("q"), array("d"), hists=hs[lo : lo + step])
            self._encode(b)
            shard.append(b)

    def _exemplar_batches(self, shard: list[Batch], es: list[ExemplarSample]) -> None:
        step = self.max_per_send
        for lo in range(0, len(es), step):
            b = Batch(array("i"), array("q"), array("d"), exemplars=es[lo : lo + step])
            self._encode(b)
            shard.append(b)

    def _encode(self, b: Batch) -> None:
        if b.exemplars is not None:
            per_series: dict[SentSeries, list[Exemplar]] = {}
            for sent, ex in b.exemplars:
                per_series.setdefault(sent, []).append(ex)
            b.body = compress(
                encode_exemplars_v2([(k.pairs, v) for k, v in per_series.items()], self._v2_metadata)
                if self.v2 else encode_exemplars_v1([(k.v1, v) for k, v in per_series.items()]))
            b.v2 = self.v2
            return
        if b.hists is not None:
            by_series: dict[SentSeries, list[tuple[int, FloatHistogram]]] = {}
            for sent, t, h in b.hists:
                by_series.setdefault(sent, []).append((t, h))
            if self.v2:
                b.body = compress(encode_histograms_v2([(k.pairs, v) for k, v in by_series.items()],
                                                       self._v2_metadata))
            else:
                b.body = compress(encode_histograms_v1([(k.v1, v) for k, v in by_series.items()]))
            b.v2 = self.v2
            return
        if self.v2 and self._v2 is not None:
            b.body = compress(self._v2.encode(b.refs, b.ts, b.vs, self._v2_metadata))
            b.v2 = True
        else:
            b.body = compress(self._prefixes.encode(b.refs, b.ts, b.vs))
            b.v2 = False

    def _fall_back_to_v1(self, why: str) -> None:
        """The receiver does not take 2.0: send 1.0 from now on (the 2.0 spec lets a sender
        fall back so on 415; Prometheus 3 instead counts the batch failed)."""
        if not self.v2:
            return
        self.v2 = False
        log.error("event=remote_write_v2_refused remote_name=%s url=%s reason=%r action=%r", self.name,
                  self.url, why, "sending remote write 1.0 (prometheus.WriteRequest) from now on; set "
                  "protobuf_message: prometheus.WriteRequest for this receiver")
        if self._client is not None:
            self._retired.append(self._client)  # requests in flight on it finish there
        self._client = self._new_client()

    async def _send_shard(self, batches: list[Batch]) -> bool:
        for b in batches:
            newest = b.newest
            if not await self._send_batch(b):
                return False
            if newest > self.highest_sent_ms:
                self.highest_sent_ms = newest
                self.m.highest_sent.set(newest / 1000)
        return True

    async def _send_batch(self, b: Batch) -> bool:
        """POST one batch until it is taken or refused for good; False if stopped first."""
        q = self.cfg.queue_config
        backoff = q.min_backoff / 1000
        n = b.n
        kind = "histograms" if b.hists is not None else "exemplars" if b.exemplars is not None else "samples"
        m = self.m
        sent_c, failed_c, retried_c = {
            "histograms": (m.hist_sent, m.hist_failed, m.hist_retried),
            "exemplars": (m.ex_sent, m.ex_failed, m.ex_retried),
        }.get(kind, (m.sent, m.failed, m.retried))
        while True:
            if b.v2 and not self.v2:
                self._encode(b)  # encoded before the fall back: send it as 1.0
            body = b.body
            assert self._client is not None
            t0 = time.monotonic()
            status, retry_after, reason = 0, None, ""
            written: str | None = None
            counted: str | None = None
            try:
                resp = await self._client.post(self.url, content=body)
                status = resp.status_code
                retry_after = _retry_after(resp.headers.get("retry-after"))
                written = resp.headers.get("x-prometheus-remote-write-samples-written")
                counted = (resp.headers.get(f"x-prometheus-remote-write-{kind}-written")
                           if kind != "samples" else written)
                if status >= 300:
                    reason = resp.text[:256].strip()
            except self._send_errors as e:
                reason = f"{type(e).__name__}: {e}"
            elapsed = time.monotonic() - t0
            self.m.batch_seconds.observe(elapsed)
            if b.v2 and (status == 415 or (200 <= status < 300 and not written)):
                # 415: not a message it takes; 2xx without the count 2.0 requires: a 1.x
                # receiver that read the body as a 1.0 request and found nothing in it
                self._fall_back_to_v1(f"HTTP 415 {reason}" if status == 415 else
                                      f"HTTP {status} without X-Prometheus-Remote-Write-Samples-Written")
                continue
            if 200 <= status < 300:
                took = n
                if b.v2 and counted is not None and counted.strip().isdigit():
                    took = min(n, int(counted))
                    if took < n:
                        failed_c.inc(n - took)
                        log.error("event=remote_write_partial remote_name=%s url=%s sent=%d written=%d "
                                  "kind=%s", self.name, self.url, n, took, kind)
                sent_c.inc(took)
                self.m.bytes.inc(len(body))
                self._win_sent += n
                self._win_send_s += elapsed
                return True
            recoverable = status == 0 or status >= 500 or (status == 429 and q.retry_on_http_429)
            if not recoverable:
                failed_c.inc(n)
                log.error("event=remote_write_refused remote_name=%s url=%s status=%d %s=%d "
                          "reason=%r action=dropped", self.name, self.url, status, kind, n, reason)
                return True
            retried_c.inc(n)
            wait = retry_after if retry_after is not None else backoff
            log.warning("event=remote_write_retry remote_name=%s url=%s status=%s reason=%r wait_s=%.3f",
                        self.name, self.url, status or "error", reason, wait)
            await self._sleep(wait)
            if self._stop.is_set():
                return False
            backoff = min(backoff * 2, q.max_backoff / 1000)

    # -- shards ------------------------------------------------------------------------------

    def backlog_samples(self) -> int:
        """Samples in the WAL past the reader, estimated from the bytes not read yet."""
        w = self.watcher
        if w is None:
            return 0
        behind = 0
        for seg in wal.list_segments(self.waldir):
            if seg < w.pos.segment:
                continue
            try:
                size = (self.waldir / wal.segment_name(seg)).stat().st_size
            except FileNotFoundError:
                continue
            behind += size - (w.pos.offset if seg == w.pos.segment else 0)
        return max(0, behind) // WAL_BYTES_PER_SAMPLE

    def desired_shards(self, now: float) -> int:
        span = max(now - self._win_start, 1e-3)
        rate = self._win_in / span
        self._rate_in = 0.8 * self._rate_in + 0.2 * rate if self._rate_in else rate
        if self._win_sent == 0:
            return self.shards
        per_sample = self._win_send_s / self._win_sent  # one shard's time per sample sent
        want = per_sample * (self._rate_in + self.backlog_samples() / 20.0)
        return max(self.min_shards, min(self.max_shards, math.ceil(want)))

    def _maybe_reshard(self) -> None:
        now = time.monotonic()
        if now - self._win_start < RESHARD_EVERY_S:
            return
        desired = self.desired_shards(now)
        self._win_start, self._win_in, self._win_sent, self._win_send_s = now, 0, 0, 0.0
        self.m.shards_desired.set(desired)
        lo, hi = self.shards * 0.7, self.shards * 1.3
        if (desired < lo or desired > hi) and desired != self.shards:
            log.info("event=remote_write_reshard remote_name=%s from=%d to=%d", self.name, self.shards,
                     desired)
            self.shards = desired
            self.m.shards.set(desired)

    # -- metadata ----------------------------------------------------------------------------

    async def _metadata_loop(self) -> None:
        mc = self.cfg.metadata_config
        assert self._metadata is not None
        while not self._stop.is_set():
            items = sorted(self._metadata())
            if self.v2:  # 2.0 carries metadata with each series: keep it at hand, send nothing
                self._v2_metadata = family_metadata({md[0]: md for md in items})
                await self._sleep(mc.send_interval / 1000)
                continue
            step = max(1, mc.max_samples_per_send)
            for lo in range(0, len(items), step):
                body = compress(encode_metadata(items[lo : lo + step]))
                if not await self._send_batch_metadata(body):
                    return
            await self._sleep(mc.send_interval / 1000)

    async def _send_batch_metadata(self, body: bytes) -> bool:
        """Metadata is best effort (resent every interval): one try, errors logged."""
        assert self._client is not None
        try:
            resp = await self._client.post(self.url, content=body)
        except self._send_errors as e:
            log.warning("event=remote_write_metadata_failed remote_name=%s err=%r", self.name, str(e))
            return not self._stop.is_set()
        if resp.status_code >= 300:
            log.warning("event=remote_write_metadata_failed remote_name=%s status=%d", self.name,
                        resp.status_code)
        return True


def _take(a: array[int] | array[float], idx: Positions, lo: int, step: int) -> array[Any]:
    """``a`` at positions ``idx[lo : lo + step]`` (a plain slice when ``idx`` is a range)."""
    sel = idx[lo : lo + step]
    if isinstance(sel, range):
        return a[sel.start : sel.stop]
    return array(a.typecode, map(a.__getitem__, sel))


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import email.utils  # here: the e-mail package is ~0.5 MiB in an agent that never sees a date here

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())

