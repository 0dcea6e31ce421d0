"""Remote read answers that carry native histograms (``TimeSeries.histograms``, as Prometheus
2.47 and later answer them): the client merges them with the float samples in time order and
guardia's engine computes on them; a malformed one fails the read naming it.

The answers come from an HTTP server in the test that builds them with the protobuf library:
the remote read servers installed here cannot serve histograms (Debian's Prometheus 2.42 leaves
them out of a samples answer, VictoriaMetrics 1.79 has no native histograms)."""

from __future__ import annotations

import math
from collections.abc import Iterator

import cramjam
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from guardia.config.prometheus import RemoteReadConfig
from guardia.model import Matcher, MatchType
from guardia.model.histogram import FloatHistogram
from guardia.promql import Engine
from guardia.storage.remote.proto import Histogram, ReadRequest, ReadResponse
from guardia.storage.remote.read_client import RemoteReadClient, RemoteReadError
from tests.web.conftest import LiveServer

T0 = 1_700_000_000_000


def _answer(bad: bool) -> bytes:
    resp = ReadResponse()
    ts = resp.results.add().timeseries.add()
    ts.labels.add(name="__name__", value="rpc_seconds")
    ts.labels.add(name="job", value="a")
    ts.samples.add(value=5.0, timestamp=T0 + 30_000)  # loses to the histogram at the same time
    ts.samples.add(value=7.0, timestamp=T0 + 40_000)  # a float among the histograms
    for k in range(3):
        n = k + 1
        h = Histogram(count_int=3 * n, sum=4.0 * n, schema=0, zero_count_int=n, zero_threshold=0.001,
                      timestamp=T0 + k * 15_000)
        h.positive_spans.add(offset=1, length=2)
        h.positive_deltas.extend([n, 0] if not (bad and k == 1) else [n])  # bad: spans want 2 buckets
        ts.histograms.append(h)
    return bytes(cramjam.snappy.compress_raw(resp.SerializeToString()))


class _Server:
    def __init__(self) -> None:
        self.bad = False
        self.queries: list[tuple[int, int]] = []
        self.app = Starlette(routes=[Route("/read", self.read, methods=["POST"])])

    async def read(self, request: Request) -> Response:
        req = ReadRequest()
        req.ParseFromString(bytes(cramjam.snappy.decompress_raw(await request.body())))
        self.queries += [(q.start_timestamp_ms, q.end_timestamp_ms) for q in req.queries]
        return Response(_answer(self.bad), media_type="application/x-protobuf")


@pytest.fixture
def server() -> Iterator[tuple[_Server, RemoteReadClient]]:
    srv = _Server()
    with LiveServer(srv.app) as live:
        client = RemoteReadClient(RemoteReadConfig(url=f"{live.url}/read"), {})
        yield srv, client
        client.close()


def test_histograms_come_back_merged_with_the_floats(server: tuple[_Server, RemoteReadClient]) -> None:
    _, client = server
    (s,) = client.read([Matcher("__name__", MatchType.EQUAL, "rpc_seconds")], T0, T0 + 60_000, None)
    assert s.timestamps.tolist() == [T0, T0 + 15_000, T0 + 30_000, T0 + 40_000]
    assert s.histograms is not None
    hs = list(s.histograms)
    assert hs[3] is None and s.values[3] == 7.0 and all(map(math.isnan, s.values[:3]))
    assert hs[:3] == [FloatHistogram(schema=0, count=3.0 * n, sum=4.0 * n, zero_threshold=0.001,
                                     zero_count=float(n), positive={1: float(n), 2: float(n)})
                      for n in (1, 2, 3)]
    res = Engine().instant(client, "histogram_count(rpc_seconds)", T0 + 15_000)
    assert [(str(x.labels), x.v) for x in res.value] == [('{job="a"}', 6.0)]
    res = Engine().instant(client, "histogram_count(increase(rpc_seconds[1m]))", T0 + 30_000)
    # 3 → 9 over the 30 s sampled; the start is 30 s before the first sample, more than 1.1
    # intervals, so extrapolated by half an interval: 6 × 37.5 / 30
    assert [x.v for x in res.value] == [pytest.approx(7.5)]


def test_a_malformed_histogram_fails_the_read_naming_it(server: tuple[_Server, RemoteReadClient]) -> None:
    srv, client = server
    srv.bad = True
    want = r"timeseries\[0\].histograms\[1\]: spans need more buckets than the 1 given"
    with pytest.raises(RemoteReadError, match=want):
        client.read([Matcher("__name__", MatchType.EQUAL, "rpc_seconds")], T0, T0 + 60_000, None)
