"""Native histograms out (``send_native_histograms``): guardia scrapes a target serving an
exponential native histogram in the protobuf format, records ``rate()`` of it (float histograms)
and is pushed a custom-bucket histogram; it remote-writes them, from its WAL, to a real
Prometheus (Debian 2.42, ``--enable-feature=native-histograms``) over 1.0 and to another
guardia over 1.0 and 2.0.  Every receiver holds exactly the histograms the sender holds and
answers PromQL over them alike; a queue without ``send_native_histograms`` sends none."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cramjam
import pytest

from guardia.model.varint import encode_varint
from guardia.storage.remote.proto import Histogram, WriteRequest
from tests.scrape.test_protobuf import PROTO_CT, _dbl, _family, _labels, _msg, _sint, _uint, _zz
from tests.storage.remote.peers import (
    FAST_QUEUE,
    Proc,
    guardia,
    guardia_receiver,
    prometheus_receiver,
    via_queues,
)

HISTS = "rpc_seconds|job:rpc_seconds:rate2s|pushed_seconds"
# ``@`` stands for a receiver guardia's matcher (``{via="v1"}``), nothing elsewhere
PROM_QUERIES = [
    "rpc_seconds@",
    "histogram_count(rpc_seconds@)",
    "histogram_sum(rpc_seconds@)",
    "histogram_count(rate(rpc_seconds@[3s]))",
    "histogram_sum(increase(rpc_seconds@[3s]))",
    "histogram_quantile(0, rate(rpc_seconds@[3s]))",
    "histogram_quantile(1, rate(rpc_seconds@[3s]))",
    "sum(rpc_seconds@)",
]
RX_QUERIES = [
    *PROM_QUERIES,
    "histogram_quantile(0.9, rate(rpc_seconds@[3s]))",
    "histogram_fraction(-1, 3, rpc_seconds@)",
    "job:rpc_seconds:rate2s@",
    "histogram_count(pushed_seconds@)",
    "histogram_quantile(0.5, pushed_seconds@)",
]


def rpc_body(n: int) -> bytes:
    """``rpc_seconds{path="/a"}`` after ``n`` scrapes: schema 3, a zero bucket of n, negative
    bucket 2 (n), positive buckets 5, 6 and 10 (n, 2n, n): count 6n, sum 9.25n."""
    hist = b"".join([
        _uint(1, 6 * n), _dbl(2, 9.25 * n), _sint(5, 3), _dbl(6, 0.001), _uint(7, n),
        _msg(9, _sint(1, 2) + _uint(2, 1)), _msg(10, encode_varint(_zz(n))),
        _msg(12, _sint(1, 5) + _uint(2, 2)), _msg(12, _sint(1, 3) + _uint(2, 1)),
        _msg(13, b"".join(encode_varint(_zz(d)) for d in (n, n, -n))),
    ])
    return _family("rpc_seconds", "RPC time.", 4, [_labels({"path": "/a"}) + _msg(7, hist)])


class _Target(BaseHTTPRequestHandler):
    scrapes = 0

    def do_GET(self) -> None:
        type(self).scrapes += 1
        body = rpc_body(type(self).scrapes)
        self.send_response(200)
        self.send_header("Content-Type", PROTO_CT)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _sender_config(tmp: Path, target: str, prom: str, rx: str) -> Path:
    (tmp / "rules.yml").write_text("""
groups:
  - name: rates
    interval: 500ms
    rules:
      - record: job:rpc_seconds:rate2s
        expr: rate(rpc_seconds[2s])
""")
    cfg = tmp / "sender.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 500ms, evaluation_interval: 500ms}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: rpc
    scrape_native_histograms: true
    static_configs: [{{targets: ["{target}"]}}]
remote_write:
  - url: {prom}/api/v1/write
    name: prom
    send_native_histograms: true
    # Prometheus 2.42 takes integer histograms only: the float ones (rates, the pushed series)
    # go to guardia alone
    write_relabel_configs: [{{source_labels: [__name__], regex: "rpc_seconds|up", action: keep}}]
    {FAST_QUEUE}
{via_queues(rx, "send_native_histograms")}""")
    return cfg


def _push_custom(g: Proc, t_ms: int) -> None:
    """Three samples of a custom-bucket float histogram, pushed to the sender's receiver (the
    request built with the protobuf library, not guardia's encoder)."""
    req = WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value="pushed_seconds")
    ts.labels.add(name="kind", value="custom")
    for k in range(3):
        h = Histogram(count_float=4.5 + k, sum=7.25 + k, schema=-53, zero_count_float=0.0,
                      custom_values=[0.5, 1.0, 5.0], positive_counts=[1.5, 0.0, 3.0 + k],
                      timestamp=t_ms - (2 - k) * 1000)
        h.positive_spans.add(offset=0, length=3)
        ts.histograms.append(h)
    r = g.http.post("/api/v1/write", content=bytes(cramjam.snappy.compress_raw(req.SerializeToString())),
                    headers={"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf"})
    assert r.status_code in (200, 204), r.text


def _raw(p: Proc, selector: str, t: float, drop: str = "via") -> dict[tuple[tuple[str, str], ...], Any]:
    """Each series' histograms in the last 4 s before ``t`` (the API's JSON), by label set."""
    out = {}
    for s in p.query(f"{selector}[4s]", t)["result"]:
        key = tuple(sorted((k, v) for k, v in s["metric"].items() if k != drop))
        out[key] = (s.get("values"), s.get("histograms"))
    return out


def _eventually(check: Callable[[], None], timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while True:
        try:
            check()
            return
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _metric(g: Proc, name: str, remote: str) -> float:
    """A queue's self-metric, from the sender's ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    for fam in text_string_to_metric_families(g.http.get("/metrics").text):
        for s in fam.samples:
            if s.name == name and s.labels.get("remote_name") == remote:
                return float(s.value)
    return 0.0


def test_native_histograms_reach_prometheus_and_guardia_over_1_0_and_2_0(
    tmp_path: Path, procs: list[Proc], target: str,
) -> None:
    prom = prometheus_receiver(tmp_path, None, "--enable-feature=native-histograms")
    procs.append(prom.start())
    rx = guardia_receiver(tmp_path)
    procs.append(rx.start())
    g = guardia(tmp_path, _sender_config(tmp_path, target, prom.url, rx.url))
    procs.append(g.start())
    time.sleep(5)  # scrapes and rule evaluations for rate()
    t = time.time() - 0.5
    _push_custom(g, round(t * 1000))
    mine = _raw(g, f'{{__name__=~"{HISTS}"}}', t)
    assert {dict(k)["__name__"] for k in mine} == {"rpc_seconds", "job:rpc_seconds:rate2s", "pushed_seconds"}
    assert all(h and not v for v, h in mine.values()), "the sender holds histograms only there"
    assert len(mine[(("__name__", "pushed_seconds"), ("kind", "custom"))][1]) == 3

    # the other guardia, over 1.0 and over 2.0: every histogram, integer, float and custom
    for via in ("v1", "v2"):
        _eventually(lambda via=via: _same(mine, _raw(rx, f'{{__name__=~"{HISTS}",via="{via}"}}', t)))
    # a queue without send_native_histograms sends the float samples and no histogram
    _eventually(lambda: _has(rx, 'up{via="off"}', t))
    assert rx.query(f'{{__name__=~"{HISTS}",via="off"}}', t)["result"] == []
    # Prometheus over 1.0: the scraped (integer) histograms
    want = _bounds({k: h for k, h in mine.items() if dict(k)["__name__"] == "rpc_seconds"})
    _eventually(lambda: _same(want, _bounds(_raw(prom, f'{{__name__=~"{HISTS}"}}', t))))

    tq = round(t - 0.25, 3)
    for q in PROM_QUERIES:
        ours = g.query(q.replace("@", ""), tq)
        assert ours["result"], q  # an answer, so the comparison means something
        assert _bounds(prom.query(q.replace("@", ""), tq)) == _bounds(ours), q
    for q in RX_QUERIES:
        ours = g.query(q.replace("@", ""), tq)
        assert ours["result"], q
        for via in ("v1", "v2"):
            theirs = rx.query(q.replace("@", f'{{via="{via}"}}'), tq)
            for row in theirs["result"]:
                row["metric"].pop("via", None)
            assert theirs == ours, (q, via)

    # counted as Prometheus counts them
    assert _metric(g, "prometheus_remote_storage_histograms_total", "v2") >= sum(
        len(h) for _, h in mine.values())
    for name in ("prom", "v1", "v2"):
        assert _metric(g, "prometheus_remote_storage_histograms_failed_total", name) == 0
    assert _metric(g, "prometheus_remote_storage_histograms_dropped_total", "prom") > 0  # relabeled away
    assert _metric(g, "prometheus_remote_storage_histograms_total", "off") == 0
    assert "remote_write_v2_refused" not in g.log.read_text()


def _same(a: dict[Any, Any], b: dict[Any, Any]) -> None:
    assert a.keys() == b.keys(), sorted(set(a) ^ set(b))[:5]
    for k in a:
        assert a[k] == b[k], (k, [(x, y) for x, y in zip(a[k][1], b[k][1], strict=False) if x != y][:2])


def _has(p: Proc, q: str, t: float) -> None:
    assert p.query(q, t)["result"], q


def _bounds(data: Any) -> Any:
    """``data`` with every bucket bound rounded to 13 significant digits: Prometheus takes the
    bounds of exponential buckets from a precomputed table, guardia computes them (``2**(i/n)``),
    and a few differ in the last bit (schema 3, bucket 4: 1.414213562373095 there,
    1.4142135623730951 here); counts, sums and everything else are compared exactly."""
    if isinstance(data, dict):
        return {k: ([[b[0], f"{float(b[1]):.13g}", f"{float(b[2]):.13g}", b[3]] for b in v]
                    if k == "buckets" else _bounds(v)) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return type(data)(_bounds(x) for x in data)
    return data
