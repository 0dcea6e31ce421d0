"""UTF-8 metric and label names end to end: a target exposing Prometheus 3's quoted form is
scraped by a real ``guardia serve``; PromQL selects them with quoted names; the API returns
them; ``/federate`` escapes them for a client that does not ask for UTF-8, and a real
Prometheus (Debian 2.42, which knows nothing of UTF-8 names) federates them from guardia."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.test_serve import Serve, _free_port, serving

PROMETHEUS = "/usr/bin/prometheus"
EXPOSITION = """\
# HELP "my.metric" a metric with a UTF-8 name
# TYPE "my.metric" gauge
{"my.metric","a.b"="x",code="200"} 1
{"my.metric","a.b"="y",code="500"} 2
# TYPE plain_metric gauge
plain_metric{"k8s.pod.name"="web-1"} 7
"""


class _Target(BaseHTTPRequestHandler):
    accepts: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Target.accepts.append(self.headers.get("Accept", ""))
        body = EXPOSITION.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def guardia(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    target = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    addr = f"127.0.0.1:{target.server_address[1]}"
    config = f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: utf8
    static_configs: [{{targets: ["{addr}"]}}]
  - job_name: legacy
    metric_name_validation_scheme: legacy
    static_configs: [{{targets: ["{addr}"]}}]
"""
    try:
        with serving(tmp_path_factory.mktemp("utf8"), config) as s:
            s.wait_up("utf8")
            yield s
    finally:
        target.shutdown()


def _query(s: Serve, expr: str) -> list[dict[str, Any]]:
    return s.query_until(expr)  # type: ignore[return-value]


def test_scraped_utf8_names_are_stored_and_selected_with_quotes(guardia: Serve) -> None:
    got = _query(guardia, '{"my.metric", "a.b"="x"}')
    assert [(r["metric"]["__name__"], r["metric"]["a.b"], r["value"][1]) for r in got] == [
        ("my.metric", "x", "1")]
    by = _query(guardia, 'sum by ("a.b") ({"my.metric", job="utf8"})')
    assert sorted((r["metric"]["a.b"], r["value"][1]) for r in by) == [("x", "1"), ("y", "2")]
    assert _query(guardia, 'plain_metric{"k8s.pod.name"="web-1", job="utf8"}')[0]["value"][1] == "7"
    # guardia asked for UTF-8 names as Prometheus 3 does (the 1.0.0 text formats carry escaping=)
    _query(guardia, 'up{job="legacy"}')  # the legacy job has scraped once too
    assert any("text/plain;version=1.0.0;escaping=allow-utf-8" in a for a in _Target.accepts)
    assert any("escaping=underscores" in a for a in _Target.accepts)  # the legacy job


def test_api_returns_utf8_names_and_takes_them_escaped_in_paths(guardia: Serve) -> None:
    _query(guardia, '{"my.metric"}')
    assert {"a.b", "k8s.pod.name"} <= set(guardia.http.get("/api/v1/labels").json()["data"])
    r = guardia.http.get("/api/v1/label/U__a_2e_b/values").json()
    assert r["data"] == ["x", "y"]
    series = guardia.http.get("/api/v1/series", params={"match[]": '{"my.metric"}'}).json()["data"]
    assert {s["a.b"] for s in series} == {"x", "y"}
    names = guardia.http.get("/api/v1/label/__name__/values").json()["data"]
    assert "my.metric" in names
    # any UTF-8 name is a valid label name now (Prometheus 3 answers 200 too, where 2.x said 400)
    r = guardia.http.get("/api/v1/label/no-such-name/values")
    assert (r.status_code, r.json()["data"]) == (200, [])


def test_legacy_validation_refuses_the_scrape(guardia: Serve) -> None:
    r = _query(guardia, 'up{job="legacy"}')
    assert r[0]["value"][1] == "0"
    targets = guardia.http.get("/api/v1/targets").json()["data"]["activeTargets"]
    err = next(t["lastError"] for t in targets if t["labels"]["job"] == "legacy")
    assert "'my.metric' is not a legacy metric name" in err


def test_federate_escapes_for_clients_that_do_not_ask_for_utf8(guardia: Serve) -> None:
    _query(guardia, '{"my.metric"}')
    params = {"match[]": '{job="utf8"}'}
    old = guardia.http.get("/federate", params=params, headers={"Accept": "text/plain;version=0.0.4"})
    assert "escaping=underscores" in old.headers["content-type"]
    assert 'my_metric{a_b="x",code="200",instance=' in old.text and '"my.metric"' not in old.text
    new = guardia.http.get("/federate", params=params,
                           headers={"Accept": "text/plain;version=1.0.0;escaping=allow-utf-8"})
    assert new.headers["content-type"].startswith("text/plain; version=1.0.0")
    assert '# TYPE "my.metric" untyped' in new.text and '{"my.metric","a.b"="x",code="200"' in new.text
    values = guardia.http.get("/federate", params=params,
                              headers={"Accept": "text/plain;version=1.0.0;escaping=values"})
    assert 'U__my_2e_metric{U__a_2e_b="x"' in values.text


def test_prometheus_2_federates_utf8_series_from_guardia(guardia: Serve, tmp_path: Path) -> None:
    _query(guardia, '{"my.metric"}')
    port = _free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: federate
    honor_labels: true
    metrics_path: /federate
    params: {{"match[]": ['{{job="utf8"}}']}}
    static_configs: [{{targets: ["127.0.0.1:{guardia.port}"]}}]
""")
    proc = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
                             f"--storage.tsdb.path={tmp_path / 'data'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        result: list[dict[str, Any]] = []
        while time.time() < deadline and not result:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/query",
                              params={"query": 'my_metric{job="utf8"}'}, timeout=5).json()
                result = r["data"]["result"] if r.get("status") == "success" else []
            except (httpx.TransportError, ValueError):
                pass  # not listening yet, or "Service Unavailable" while it starts
            time.sleep(0.5)
        assert sorted((x["metric"]["a_b"], x["value"][1]) for x in result) == [("x", "1"), ("y", "2")]
        up = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": "up"}).json()
        assert up["data"]["result"][0]["value"][1] == "1"
    finally:
        proc.terminate()
        proc.wait(10)
