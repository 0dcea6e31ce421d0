"""`guardia check rules`: bad files, and the orphan-metric check against a real Prometheus."""

from __future__ import annotations

import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from guardia.cli.main import app
from guardia.rules.check import metric_names, similar

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
ALERTS = str(ROOT / "examples" / "grupo-gad" / "alerts.yml")
runner = CliRunner()


def test_metric_names_walks_the_whole_expression() -> None:
    names, patterns = metric_names(
        'sum(rate(a_total[5m])) / on() group_left max(b) + scalar(c{x="y"}) '
        '+ count({__name__=~"d_.*"}) + absent(e offset 5m)')
    assert names == {"a_total", "b", "c", "e"}
    assert patterns == ["d_.*"]


def test_similar_names_find_the_exposed_spelling() -> None:
    assert similar("websocket_connections_active",
                   ["ggrt_active_connections", "up", "http_requests_total"]) == [
        "ggrt_active_connections"]


def test_valid_file_succeeds() -> None:
    res = runner.invoke(app, ["check", "rules", ALERTS])
    assert res.exit_code == 0, res.output
    assert "SUCCESS: 18 rules found" in res.output


def test_broken_template_and_bad_expr_fail_with_positions() -> None:
    res = runner.invoke(app, ["check", "rules", str(DATA / "broken_rules.yml")])
    assert res.exit_code == 1
    out = res.output
    assert 'annotation "summary": template: __alert_BadTemplate:1: unclosed action' in out
    assert "broken_rules.yml:11:" in out  # the annotation's line
    assert "could not parse expression" in out


def test_duplicate_rules_are_warnings_and_fatal_with_lint_fatal() -> None:
    path = str(DATA / "duplicate_rules.yml")
    res = runner.invoke(app, ["check", "rules", path])
    assert res.exit_code == 0
    assert "duplicate rule" in res.output
    assert runner.invoke(app, ["check", "rules", "--lint-fatal", path]).exit_code == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Exposition(http.server.BaseHTTPRequestHandler):
    body = (b"# TYPE ggrt_active_connections gauge\nggrt_active_connections 42\n"
            b"# TYPE http_requests_total counter\n"
            b'http_requests_total{status="200"} 10\n')

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus on 127.0.0.1 scraping a tiny exposition that has ggrt_* only."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Exposition)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tmp = tmp_path_factory.mktemp("prom")
    cfg = tmp / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: api\n    static_configs: [{{targets: ['127.0.0.1:{srv.server_port}']}}]\n")
    port = _free_port()
    proc = subprocess.Popen(
        ["/usr/bin/prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(url + "/api/v1/label/__name__/values", timeout=2)
                if "ggrt_active_connections" in r.json().get("data", []):
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Prometheus did not scrape the exposition within 60s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        srv.shutdown()


def test_orphan_alert_reported_against_real_prometheus(prometheus: str) -> None:
    res = runner.invoke(app, ["check", "rules", "--url", prometheus, ALERTS])
    assert res.exit_code == 1
    out = res.output
    assert (f'alert "HighWebSocketConnections": reads metrics that {prometheus} does not '
            "have: websocket_connections_active (exposed with a similar name: "
            "ggrt_active_connections)") in out
    assert 'alert "HighWebSocketBroadcastErrors"' in out
    # `up{job="api"}` exists there: not reported.
    assert '"APIDown"' not in out
    # The metric exists but not with these labels: the job is named differently there.
    assert ('alert "PostgreSQLDown": selectors that match no series on '
            f'{prometheus}: up{{job="postgres"}} (job there: api)') in out
    assert 'http_requests_total{job="api",status=~"5.."} (job there: api; status there: 200)' in out


def test_unreachable_url_is_a_clear_error() -> None:
    res = runner.invoke(app, ["check", "rules", "--url", f"http://127.0.0.1:{_free_port()}",
                              ALERTS])
    assert res.exit_code == 1
    assert "cannot list metric names" in res.output
