"""Reading another engine's samples: a ``Queryable`` over Prometheus's remote read protocol.

Each ``select`` is one ``ReadRequest`` (snappy + protobuf, the samples response type) for the
querier's time range, narrowed by the hints as Prometheus narrows them, sent to the
``remote_read`` URL; the answer (float samples and native histograms) becomes the flat
``SeriesSet`` the PromQL engine reads from the embedded store, so rules, SLOs and reports
evaluated with guardia's engine run unchanged over a remote Prometheus (or anything that serves
``/api/v1/read``: Thanos sidecar, Cortex, InfluxDB). ``required_matchers`` gate the endpoint as
in Prometheus: a select that does not carry them gets nothing from it. External labels are
filtered as Prometheus filters them when ``filter_external_labels`` is on: the equality
matchers for them are added to the request and the labels stripped from the answer.

The engine calls ``select`` from a worker thread, so the client is a blocking one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from guardia import __version__
from guardia.config.httpclient import new_sync_client
from guardia.config.prometheus import RemoteReadConfig
from guardia.model import Labels, Matcher, MatchType
from guardia.storage.interface import SelectHints, Series, SeriesSet, check_selectable, hinted_range
from guardia.storage.remote.decode import RemoteWriteError
from guardia.storage.remote.histograms import decode_histogram

_MATCH_TYPES = {MatchType.EQUAL: 0, MatchType.NOT_EQUAL: 1, MatchType.REGEX: 2, MatchType.NOT_REGEX: 3}
SAMPLES = 0  # ReadRequest.ResponseType.SAMPLES
I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class RemoteReadError(RuntimeError):
    """The remote engine did not answer a read (the query fails with this reason)."""


class RemoteReadClient:
    """One ``remote_read`` endpoint; ``querier`` makes it a ``Queryable``."""

    def __init__(self, cfg: RemoteReadConfig, external_labels: Mapping[str, str]) -> None:
        self.cfg = cfg
        self.name = cfg.name or cfg.url
        self.external = dict(external_labels) if cfg.filter_external_labels else {}
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "Accept-Encoding": "snappy",
            "User-Agent": f"guardia/{__version__}",
            "X-Prometheus-Remote-Read-Version": "0.1.0",
            **(cfg.headers or {}),
        }
        self._client = new_sync_client(cfg, headers=headers, timeout_s=cfg.remote_timeout / 1000)

    def close(self) -> None:
        self._client.close()

    def querier(self, mint: int, maxt: int) -> RemoteReadQuerier:
        return RemoteReadQuerier(self, mint, maxt)

    def read(self, matchers: Sequence[Matcher], start: int, end: int,
             hints: SelectHints | None) -> list[Series]:
        """The series matching ``matchers`` with their samples in ``[start, end]``."""
        import cramjam  # here: its compiled module is 1.5 MiB resident, and most servers never use it
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        from guardia.storage.remote.proto import ReadRequest, ReadResponse  # see decode._decode

        for name, value in self.cfg.required_matchers.items():
            if not any(m.name == name and m.type == MatchType.EQUAL and m.value == value for m in matchers):
                return []
        req = ReadRequest()
        req.accepted_response_types.append(SAMPLES)
        q = req.queries.add(start_timestamp_ms=start, end_timestamp_ms=end)
        sent = list(matchers) + [Matcher(k, MatchType.EQUAL, v) for k, v in self.external.items()
                                 if not any(m.name == k for m in matchers)]
        for m in sent:
            q.matchers.add(type=_MATCH_TYPES[m.type], name=m.name, value=m.value)
        if hints is not None:
            q.hints.start_ms, q.hints.end_ms = start, end
            q.hints.step_ms, q.hints.func, q.hints.range_ms = hints.step, hints.func, hints.range_ms
        body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
        try:
            resp = self._client.post(self.cfg.url, content=body)
        except httpx.HTTPError as e:
            raise RemoteReadError(f"remote_read {self.name}: {type(e).__name__}: {e}") from None
        if resp.status_code != 200:
            raise RemoteReadError(f"remote_read {self.name}: the server answered {resp.status_code}: "
                                  f"{resp.text[:200].strip()}")
        try:
            out = ReadResponse()
            out.ParseFromString(bytes(cramjam.snappy.decompress_raw(resp.content)))
        except Exception as e:
            raise RemoteReadError(f"remote_read {self.name}: unreadable answer ({e}); the endpoint must "
                                  "speak Prometheus remote read (samples)") from None
        series: list[Series] = []
        for result in out.results:
            for k, ts in enumerate(result.timeseries):
                lb = Labels({x.name: x.value for x in ts.labels if x.name not in self.external})
                t = np.fromiter((s.timestamp for s in ts.samples), dtype=np.int64, count=len(ts.samples))
                v = np.fromiter((s.value for s in ts.samples), dtype=np.float64, count=len(ts.samples))
                if ts.histograms:
                    series.append(self._with_histograms(lb, t, v, ts.histograms, k))
                elif t.size:
                    series.append(Series(lb, t, v))
        return series

    def _with_histograms(self, lb: Labels, t: I64, v: F64, hists: Sequence[object], k: int) -> Series:
        """A series whose answer has native histograms (``TimeSeries.histograms``, as Prometheus
        answers them): its floats and histograms merged in time order (a histogram wins a
        tie), the histograms in the object column (their float value NaN).  A malformed one
        fails the read naming it."""
        decoded = []
        for i, m in enumerate(hists):
            try:
                decoded.append(decode_histogram(m.SerializeToString(),  # type: ignore[attr-defined]
                                                f"timeseries[{k}].histograms[{i}]"))
            except RemoteWriteError as e:
                raise RemoteReadError(f"remote_read {self.name}: {e}") from None
        ht = np.fromiter((x[0] for x in decoded), dtype=np.int64, count=len(decoded))
        keep = ~np.isin(t, ht)  # a histogram wins over a float at the same time, as in the store
        t, v = t[keep], v[keep]
        times = np.concatenate([t, ht])
        order = np.argsort(times, kind="stable")
        values = np.concatenate([v, np.full(len(decoded), np.nan)])[order]
        column = np.empty(times.shape[0], dtype=object)
        column[t.shape[0]:] = [x[1] for x in decoded]
        return Series(lb, times[order], values, column[order])


class RemoteReadQuerier:
    """A ``Querier`` whose selects are remote reads over ``[mint, maxt]``."""

    def __init__(self, client: RemoteReadClient, mint: int, maxt: int) -> None:
        self.client = client
        self.mint = mint
        self.maxt = maxt

    def select(self, matchers: Sequence[Matcher], hints: SelectHints | None = None, *,
               sort: bool = False) -> SeriesSet:
        check_selectable(matchers)
        start, end = hinted_range(self, hints)
        series = self.client.read(matchers, start, end, hints)
        if sort:
            series.sort(key=lambda s: s.labels)
        if hints is not None and hints.labels_only:
            return SeriesSet.labels_only([s.labels for s in series])
        return SeriesSet.of(series)

    def series(self, matchers: Sequence[Matcher]) -> list[Labels]:
        check_selectable(matchers)
        return sorted({s.labels for s in self.client.read(matchers, self.mint, self.maxt, None)})

    def label_names(self, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not matchers:
            return []
        return sorted({n for lb in self.series(matchers) for n in lb.names()})

    def label_values(self, name: str, matchers: Sequence[Matcher] = ()) -> list[str]:
        if not matchers:
            return []
        return sorted({v for lb in self.series(matchers) if (v := lb.get(name))})

    def close(self) -> None:
        pass
