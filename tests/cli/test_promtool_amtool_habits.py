"""promtool's and amtool's everyday commands, as `guardia query|check|alert|silence`.

Each guardia command and the real tool (Debian's promtool 2.42 and amtool 0.25) run against
the same running guardia; their outputs must be identical. Where the Debian tools lack a
command (``check healthy|ready``), the behaviour is tested on its own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "TZ": "UTC"}
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def guardia(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "guardia.cli.main", *args], capture_output=True, text=True,
                          env=ENV, input=stdin, timeout=60)


def real(tool: str | None, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    if tool is None:
        pytest.skip("promtool/amtool (Debian packages prometheus, prometheus-alertmanager) not installed")
    out = subprocess.run([tool, *args], capture_output=True, text=True, env=ENV, input=stdin, timeout=60)
    # amtool warns that its version differs from the server's: not part of the command's output
    out.stderr = "".join(line for line in out.stderr.splitlines(keepends=True)
                         if not line.startswith("Warning: amtool version"))
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("serve")
    port = _free_port()
    am_port = _free_port()  # nothing listens there: it is only listed
    (tmp / "guardia.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: guardia\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n"
        "alertmanager:\n  route: {receiver: nobody}\n  receivers: [{name: nobody}]\n")
    log = (tmp / "serve.log").open("wb")
    cmd = [sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(tmp / "guardia.yml"),
           "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path", str(tmp / "d")]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=ENV, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            assert proc.poll() is None, (tmp / "serve.log").read_text()
            try:
                body = httpx.get(url + "/api/v1/query", params={"query": "up"}, timeout=2).json()
                if body["data"]["result"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            assert time.time() < deadline, (tmp / "serve.log").read_text()
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def same(ours: subprocess.CompletedProcess[str], theirs: subprocess.CompletedProcess[str]) -> None:
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)


# ---- promtool query


def test_query_commands_print_what_promtool_prints(server: str) -> None:
    t = f"{time.time():.3f}"
    for args in (["instant", server, "up", "--time", t],
                 ["instant", "-o", "json", server, "up", "--time", t],
                 ["instant", server, "scalar(up)", "--time", t],
                 ["instant", server, 'sum by (job) (up) * 2.5', "--time", t],
                 ["instant", server, "up == -1", "--time", t],
                 ["range", server, "up", "--start", f"{float(t) - 10:.3f}", "--end", t, "--step", "2s"],
                 ["range", server, "up", "-o", "json", "--start", f"{float(t) - 10:.3f}", "--end", t,
                  "--step", "2s"],
                 ["series", server, "--match", "up"],
                 ["series", server, "--match", "up", "--match", "scrape_samples_scraped"],
                 ["labels", server, "job"],
                 ["labels", server, "__name__", "--match", "up"],
                 ["instant", server, "up +", "--time", t]):
        same(guardia("query", *args), real(PROMTOOL, "query", *args))


def test_query_error_has_the_api_error_and_exit_1(server: str) -> None:
    out = guardia("query", "instant", server, "rate(up[5m)")
    assert out.returncode == 1
    assert out.stderr.startswith("query error: bad_data: invalid parameter \"query\": 1:")


def test_query_against_nothing_says_so(server: str) -> None:
    out = guardia("query", "instant", f"http://127.0.0.1:{_free_port()}", "up")
    assert out.returncode == 1 and out.stderr.startswith("query error: http://127.0.0.1:")


# ---- promtool check metrics / web-config

EXPOSITIONS = {
    "clean": "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
             'http_requests_total{code="200"} 5\n',
    "names": "# HELP http_requests Total requests.\n# TYPE http_requests counter\nhttp_requests 5\n"
             "# TYPE request_duration_milliseconds histogram\n"
             'request_duration_milliseconds_bucket{le="1"} 1\n'
             'request_duration_milliseconds_bucket{le="+Inf"} 2\n'
             "request_duration_milliseconds_sum 3\nrequest_duration_milliseconds_count 2\n"
             "# HELP x_total y\n# TYPE x_total gauge\nx_total 1\n"
             "# HELP bytes_kb b\n# TYPE bytes_kb gauge\nbytes_kb 1\n"
             "# HELP httpRequests c\n# TYPE httpRequests gauge\nhttpRequests{statusCode=\"1\"} 1\n"
             "# HELP queue_count q\n# TYPE queue_count gauge\nqueue_count 1\n"
             "# HELP job:rate5m r\n# TYPE job:rate5m gauge\njob:rate5m 1\n",
    "seeds": "# HELP ggrt_active_connections Active WebSocket connections\n"
             "# TYPE ggrt_active_connections gauge\nggrt_active_connections 12\n"
             "# TYPE websocket_messages_sent counter\nwebsocket_messages_sent 3\n"
             "# HELP db_query_duration_ms Query time\n# TYPE db_query_duration_ms summary\n"
             'db_query_duration_ms{quantile="0.5"} 3\n'
             "db_query_duration_ms_sum 9\ndb_query_duration_ms_count 3\n",
    "unparsable": "bad{ 1\n",
}


@pytest.mark.parametrize("name", EXPOSITIONS)
def test_check_metrics_lints_as_promtool(name: str) -> None:
    text = EXPOSITIONS[name]
    ours = guardia("check", "metrics", stdin=text)
    theirs = real(PROMTOOL, "check", "metrics", stdin=text)
    assert ours.returncode == theirs.returncode
    if name == "unparsable":  # same start; the parser's own words after it
        assert ours.stderr.startswith("error while linting: text format parsing error in line 1: ")
    else:
        assert ours.stderr == theirs.stderr


WEB_CONFIGS = {
    "ok.yml": "basic_auth_users:\n  admin: $2y$10$abcdefghijklmnopqrstuu5Gf4LpHq8VAHd8W3Xd6jd8z0HxCbPqS\n",
    "nokey.yml": "tls_server_config:\n  cert_file: /nonexistent.crt\n",
    "badauth.yml": "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Bogus\n",
    "plain.yml": "basic_auth_users:\n  admin: plaintext\n",
    "unknown.yml": "tls_server_config:\n  nosuch: 1\n",
    "badver.yml": "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS99\n",
    "syntax.yml": "basic_auth_users: [\n",
}


@pytest.mark.parametrize("name", WEB_CONFIGS)
def test_check_web_config_accepts_and_refuses_what_promtool_does(name: str, tmp_path: Path) -> None:
    f = tmp_path / name
    f.write_text(WEB_CONFIGS[name])
    ours = guardia("check", "web-config", str(f))
    theirs = real(PROMTOOL, "check", "web-config", str(f))
    assert ours.returncode == theirs.returncode, (ours, theirs)
    if ours.returncode == 0:
        assert ours.stderr == theirs.stderr == f"{f} SUCCESS\n"
    else:
        assert ours.stderr.startswith(f"{f} FAILED: {f}:"), ours.stderr  # with file:line


# ---- promtool check healthy / ready (newer than Debian's promtool)


def test_check_healthy_and_ready(server: str) -> None:
    for what in ("healthy", "ready"):
        out = guardia("check", what, "--url", server)
        assert out.returncode == 0 and out.stderr.startswith("  SUCCESS: "), out
    down = guardia("check", "healthy", "--url", f"127.0.0.1:{_free_port()}")
    assert down.returncode == 1 and "FAILED" in down.stderr


# ---- amtool alert / silence


def test_alert_add_and_query_as_amtool(server: str) -> None:
    url = ["--alertmanager.url", server]
    add = guardia("alert", "add", "DiskFull", "severity=critical", "instance=db1",
                  "--annotation", "summary=Disk is full", *url)
    assert add.returncode == 0, add.stderr
    assert real(AMTOOL, "alert", "add", "Other", "team=api", *url).returncode == 0
    for args in (["alert", "query"], ["alert", "query", "-o", "extended"], ["alert", "query", "DiskFull"],
                 ["alert", "query", "severity=~crit.*"], ["alert", "query", "-s"]):
        same(guardia(*args, *url), real(AMTOOL, *args, *url))


def test_silence_add_query_expire_as_amtool(server: str) -> None:
    url = ["--alertmanager.url", server]
    ours = guardia("silence", "add", "alertname=DiskFull", "instance=~db.*", "-c", "disk swap", "-d", "2h",
                   "-a", "ops", *url)
    assert ours.returncode == 0, ours.stderr
    sid = ours.stdout.strip()
    theirs = real(AMTOOL, "silence", "add", "alertname=Other", "-c", "by amtool", "-a", "ops", *url)
    assert theirs.returncode == 0
    for args in (["silence", "query"], ["silence", "query", "-o", "extended"], ["silence", "query", "-q"],
                 ["silence", "query", "alertname=DiskFull"]):
        same(guardia(*args, *url), real(AMTOOL, *args, *url))
    listed = json.loads(guardia("silence", "query", "-o", "json", *url).stdout)
    assert {s["id"] for s in listed} >= {sid, theirs.stdout.strip()}
    assert guardia("silence", "expire", sid, theirs.stdout.strip(), *url).returncode == 0
    assert guardia("silence", "query", "-q", *url).stdout == ""
    for args in (["silence", "query", "--expired"], ["silence", "query", "--expired", "-q"]):
        same(guardia(*args, *url), real(AMTOOL, *args, *url))


def test_silence_matchers_print_escaped_as_amtool_escapes_them(server: str) -> None:
    """amtool writes a matcher's value in double quotes escaping only ``\\``, ``"`` and a
    newline, as OpenMetrics does: a no-break space or a control character is written raw
    (neither Go's ``%q`` nor JSON)."""
    url = ["--alertmanager.url", server]
    theirs = real(AMTOOL, "silence", "add", 'team="café\u00a0\\"ops\\"\a\\\\x"', "-c", "quoting",
                  "-a", "ops", *url)
    assert theirs.returncode == 0, theirs.stderr
    try:
        for args in (["silence", "query"], ["silence", "query", "-o", "extended"]):
            args += ["team=~caf.*"]
            ours, amtool = guardia(*args, *url), real(AMTOOL, *args, *url)
            assert 'team="café\u00a0\\"ops\\"\a\\\\x"' in amtool.stdout, amtool.stdout
            same(ours, amtool)
    finally:
        real(AMTOOL, "silence", "expire", theirs.stdout.strip(), *url)


def test_silence_add_wants_a_comment(server: str) -> None:
    out = guardia("silence", "add", "alertname=X", "--alertmanager.url", server)
    assert out.returncode == 2 and "a comment is required" in out.stderr


def test_silence_expire_of_an_unknown_id_fails(server: str) -> None:
    out = guardia("silence", "expire", "no-such-id", "--alertmanager.url", server)
    assert out.returncode == 1 and "404" in out.stderr


# ---- /api/v1/alertmanagers


def test_api_v1_alertmanagers_lists_where_alerts_go(server: str) -> None:
    body = httpx.get(server + "/api/v1/alertmanagers").json()
    assert body["status"] == "success"
    urls = [a["url"] for a in body["data"]["activeAlertmanagers"]]
    assert urls[0] == server + "/api/v2/alerts"  # guardia's own
    assert len(urls) == 2 and urls[1].endswith("/api/v2/alerts")
    assert body["data"]["droppedAlertmanagers"] == []


def test_api_v1_alertmanagers_has_prometheus_shape(tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus (Debian package) not installed")
    port, am = _free_port(), _free_port()
    (tmp_path / "p.yml").write_text(
        f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am}']}}]\n")
    cmd = [prometheus, f"--config.file={tmp_path / 'p.yml'}", f"--web.listen-address=127.0.0.1:{port}",
           f"--storage.tsdb.path={tmp_path / 'd'}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while True:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/api/v1/alertmanagers", timeout=2).json()
                if body["data"]["activeAlertmanagers"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            assert time.time() < deadline
            time.sleep(0.3)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert body == {"status": "success", "data": {
        "activeAlertmanagers": [{"url": f"http://127.0.0.1:{am}/api/v2/alerts"}], "droppedAlertmanagers": []}}
