"""Exemplars out (``send_exemplars: true``): guardia scrapes an OpenMetrics target whose counter
and histogram buckets carry exemplars, and remote-writes them to a real Prometheus (Debian 2.42,
``--enable-feature=exemplar-storage``) over 1.0 and to another guardia over 1.0 and 2.0.  Each
receiver's ``/api/v1/query_exemplars`` answers what the sender's does; a queue without
``send_exemplars`` sends none.  The encoders' bytes are read back with the protobuf library."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from guardia.model import Labels
from guardia.storage.exemplars import Exemplar, ExemplarRelay
from guardia.storage.remote.encode import encode_labels
from guardia.storage.remote.encode_exemplars import encode_v1
from guardia.storage.remote.encode_v2 import encode_exemplars
from guardia.storage.remote.proto import V2Exemplar, V2Request, WriteRequest
from tests.scrape.helpers import Sink, respond
from tests.storage.remote.peers import (
    FAST_QUEUE,
    Proc,
    guardia,
    guardia_receiver,
    prometheus_receiver,
    via_queues,
)
from tests.storage.remote.test_remote_write_histograms import _eventually, _metric

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


class _Changing:
    """``jobs_total`` and ``wait_seconds`` whose exemplars change at every scrape (a new trace
    id, value and time), so each scrape adds one exemplar to three series."""

    def __init__(self) -> None:
        self.scrapes = 0

    def body(self) -> str:
        n = self.scrapes = self.scrapes + 1
        t = time.time()
        return "\n".join([
            "# TYPE jobs counter",
            f'jobs_total{{code="200"}} {n} # {{trace_id="c{n}"}} 1 {t:.3f}',
            "# TYPE wait_seconds histogram",
            f'wait_seconds_bucket{{le="0.1"}} {n} # {{trace_id="b{n}",span_id="s{n}"}} 0.0{n % 10} {t:.3f}',
            f'wait_seconds_bucket{{le="+Inf"}} {2 * n} # {{trace_id="i{n}"}} {n}.5 {t:.3f}',
            f"wait_seconds_count {2 * n}", f"wait_seconds_sum {3 * n}", "# EOF", ""])


def _serve(body: Callable[[], str]) -> Sink:
    """A target answering each scrape with ``body()`` as OpenMetrics."""
    return Sink(lambda req: respond(body(), OM)(req))


@pytest.fixture
def target() -> Iterator[str]:
    sink = _serve(_Changing().body)
    yield sink.address
    sink.close()


def _sender_config(tmp: Path, target: str, prom: str, rx: str) -> Path:
    cfg = tmp / "sender.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 500ms}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ["{target}"]}}]
remote_write:
  - url: {prom}/api/v1/write
    name: prom
    send_exemplars: true
    {FAST_QUEUE}
{via_queues(rx, "send_exemplars")}""")
    return cfg


def _exemplars(p: Proc, selector: str, start: float, end: float, drop: str = "via") -> dict[Any, Any]:
    """Each series' exemplars (labels, value, time) in [start, end], by label set."""
    r = p.http.get("/api/v1/query_exemplars", params={"query": selector, "start": start, "end": end}).json()
    assert r["status"] == "success", (p.name, r)
    out = {}
    for s in r["data"]:
        key = tuple(sorted((k, v) for k, v in s["seriesLabels"].items() if k != drop))
        out[key] = [(tuple(sorted(e["labels"].items())), float(e["value"]), round(float(e["timestamp"]), 3))
                    for e in s["exemplars"]]
    return out


def test_exemplars_reach_prometheus_and_guardia_over_1_0_and_2_0(
    tmp_path: Path, procs: list[Proc], target: str,
) -> None:
    prom = prometheus_receiver(tmp_path, None, "--enable-feature=exemplar-storage")
    procs.append(prom.start())
    rx = guardia_receiver(tmp_path)
    procs.append(rx.start())
    g = guardia(tmp_path, _sender_config(tmp_path, target, prom.url, rx.url))
    procs.append(g.start())
    time.sleep(4)  # several scrapes, each adding one exemplar to three series
    start, end = time.time() - 60, time.time() + 60
    sel = '{__name__=~"jobs_total|wait_seconds_bucket"}'
    # what the sender held then; the receivers must hold at least that much of it
    mine = _exemplars(g, sel, start, end)
    assert len(mine) == 3 and all(len(v) >= 3 for v in mine.values()), mine
    first = mine

    def holds(p: Proc, via: str | None) -> None:
        got = _exemplars(p, f'{{__name__=~"jobs_total|wait_seconds_bucket", via="{via}"}}' if via else sel,
                         start, end)
        assert set(got) == set(first), (p.name, via, got)
        for k, want in first.items():
            assert got[k][: len(want)] == want, (p.name, via, k, got[k], want)

    _eventually(lambda: holds(prom, None))
    for via in ("v1", "v2"):
        _eventually(lambda via=via: holds(rx, via))  # type: ignore[misc]
    # the queue without send_exemplars sent the samples, not the exemplars
    assert rx.query('jobs_total{via="off"}', time.time())["result"]
    assert _exemplars(rx, '{via="off"}', start, end) == {}
    queues = ("prom", "v1", "v2", "off")
    sent = {q: _metric(g, "prometheus_remote_storage_exemplars_total", q) for q in queues}
    assert all(sent[q] >= 9 for q in ("prom", "v1", "v2")) and sent["off"] == 0, sent
    assert _metric(g, "prometheus_remote_storage_exemplars_failed_total", "prom") == 0


def test_encoded_exemplars_read_back_with_the_protobuf_library() -> None:
    series = Labels({"__name__": "jobs_total", "code": "200"})
    exs = [Exemplar(Labels({"trace_id": "abc"}), 0.5, 1_700_000_000_123),
           Exemplar(Labels({}), -2.0, -5)]  # no labels; a time before 1970 as int64
    v1 = WriteRequest()
    v1.ParseFromString(encode_v1([(encode_labels(series), exs)]))
    [ts] = v1.timeseries
    assert [(lb.name, lb.value) for lb in ts.labels] == list(series) and not ts.samples
    assert [([(lb.name, lb.value) for lb in e.labels], e.value, e.timestamp) for e in ts.exemplars] == [
        ([("trace_id", "abc")], 0.5, 1_700_000_000_123), ([], -2.0, -5)]
    v2 = V2Request()
    v2.ParseFromString(encode_exemplars([(tuple(series), exs)], None))
    [ts2] = v2.timeseries
    sym = list(v2.symbols)
    assert sym[0] == "" and [sym[i] for i in ts2.labels_refs] == [x for kv in series for x in kv]
    got = []
    for raw in ts2.exemplars:
        e = V2Exemplar()
        e.ParseFromString(raw)
        got.append(([sym[i] for i in e.labels_refs], e.value, e.timestamp))
    assert got == [(["trace_id", "abc"], 0.5, 1_700_000_000_123), ([], -2.0, -5)]


class _Repeating:
    """A counter whose exemplar changes every third scrape: the two scrapes between expose it
    again, as a client library does until the next observation."""

    def __init__(self) -> None:
        self.scrapes = 0

    def body(self) -> str:
        n = self.scrapes = self.scrapes + 1
        k = (n - 1) // 3
        return f"# TYPE jobs counter\njobs_total {n} # {{trace_id=\"t{k}\"}} {k} {1_700_000_000 + k}\n# EOF\n"


def test_an_agent_sends_each_exemplar_once(tmp_path: Path, procs: list[Proc]) -> None:
    """An agent keeps no exemplars but sends them (``ExemplarRelay``), an exemplar repeated by
    the target at every scrape once, as Prometheus's agent does."""
    repeating = _Repeating()
    sink = _serve(repeating.body)
    try:
        rx = guardia_receiver(tmp_path)
        procs.append(rx.start())
        cfg = tmp_path / "agent.yml"
        cfg.write_text(f"""
global: {{scrape_interval: 300ms}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ["{sink.address}"]}}]
remote_write:
  - url: {rx.url}/api/v1/write
    send_exemplars: true
    queue_config: {{batch_send_deadline: 200ms}}
""")
        agent = guardia(tmp_path, cfg, None, "--agent", "--storage.agent.path", str(tmp_path / "agent-data"))
        procs.append(agent.start())

        def three_sent() -> None:
            got = _exemplars(rx, "jobs_total", 1_699_999_000, 1_700_001_000)
            assert [[e[1] for e in v] for v in got.values()][:1] == [[0.0, 1.0, 2.0]], got

        _eventually(three_sent)
        scrapes = repeating.scrapes
        assert scrapes >= 7
        sent = _metric(agent, "prometheus_remote_storage_exemplars_total", agent_queue(agent))
        assert sent == (scrapes - 1) // 3 + 1 or sent == (scrapes - 1) // 3 + 2, (sent, scrapes)
    finally:
        sink.close()


def agent_queue(p: Proc) -> str:
    """The agent's one queue's ``remote_name`` (a hash of its URL: it has no name)."""
    for line in p.http.get("/metrics").text.splitlines():
        if line.startswith("prometheus_remote_storage_exemplars_total{"):
            return line.split('remote_name="', 1)[1].split('"', 1)[0]
    raise AssertionError("no exemplar counter")


def test_the_relay_refuses_what_the_store_refuses() -> None:
    relay = ExemplarRelay()
    got: list[list[tuple[Labels, Exemplar]]] = []
    relay.listeners.append(got.append)
    a, b = Labels({"__name__": "a"}), Labels({"__name__": "b"})
    e1, e2 = Exemplar(Labels({"trace_id": "1"}), 1.0, 10), Exemplar(Labels({"trace_id": "2"}), 2.0, 20)
    assert relay.add_many([(a, e1), (b, e1)]) == 0
    assert relay.add_many([(a, e1)]) == 0  # a duplicate: skipped, not refused
    assert relay.add_many([(a, e2), (b, Exemplar(Labels({}), 0.0, 5))]) == 1  # b's is out of order
    long = Exemplar(Labels({"trace_id": "x" * 130}), 3.0, 30)
    assert relay.add_many([(a, long)]) == 1  # over OpenMetrics's 128 characters
    assert got == [[(a, e1), (b, e1)], [(a, e2)]]
