"""guardia serve with a logs: section: tailing, syslog, Loki's API and LogQL rules in one process."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx

from guardia.server import GuardiaProcess, ServeOptions

CONFIG = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
alertmanager:
  route: {{receiver: team, group_wait: 0s}}
  receivers: [{{name: team}}]
logs:
  retention: 7d
  limits: {{max_streams: 100}}
  rule_files: [loki-rules.yml]
  scrape_configs:
    - job_name: app
      static_configs:
        - labels: {{job: app, __path__: "{logdir}/*.log"}}
      pipeline_stages:
        - logfmt: {{mapping: {{level: }}}}
        - labels: {{level: }}
    - job_name: syslog
      syslog: {{listen_address: "127.0.0.1:{syslog_port}", listen_protocol: udp, labels: {{job: syslog}}}}
"""

LOKI_RULES = """
groups:
  - name: app-logs
    interval: 1s
    rules:
      - record: app:log_errors:count1m
        expr: sum by (job) (count_over_time({job="app", level="error"}[1m]))
      - alert: AppLogsErrors
        expr: sum by (job) (count_over_time({job="app"} |= "error" [1m])) > 0
        labels: {severity: page}
        annotations: {summary: "{{ $value }} error lines in {{ $labels.job }}"}
"""


def _udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return int(port)


async def _eventually(fn, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def test_serve_collects_queries_and_alerts_on_logs(tmp_path: Path) -> None:
    logdir = tmp_path / "var"
    logdir.mkdir()
    (logdir / "app.log").write_text('level=info msg=started\nlevel=error msg="db down"\n')
    port = _udp_port()
    (tmp_path / "loki-rules.yml").write_text(LOKI_RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(logdir=logdir, syslog_port=port))
    proc = GuardiaProcess(
        ServeOptions(config_file=str(cfg), listen_address="127.0.0.1:0", storage_path=str(tmp_path / "data"))
    )
    await proc.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}", timeout=10) as c:
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
                b"<11>1 2024-01-01T00:00:00Z web1 nginx - - - upstream failed", ("127.0.0.1", port)
            )

            async def tailed() -> list[str]:
                r = await c.get(
                    "/loki/api/v1/query_range", params={"query": '{job="app"}', "direction": "forward"}
                )
                return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]

            assert await _eventually(tailed) == ["level=info msg=started", 'level=error msg="db down"']
            r = await c.get("/loki/api/v1/label/level/values")
            assert r.json()["data"] == ["error", "info"]

            async def syslogged() -> list[str]:
                r = await c.get(
                    "/loki/api/v1/query_range",
                    params={
                        "query": '{job="syslog", host="web1"}',
                        "start": "1704067199",
                        "end": "1704067201",
                    },
                )
                return [v[1] for s in r.json()["data"]["result"] for v in s["values"]]

            assert await _eventually(syslogged) == ["upstream failed"]

            async def recorded() -> list[dict[str, object]]:
                r = await c.get("/api/v1/query", params={"query": "app:log_errors:count1m"})
                return list(r.json()["data"]["result"])

            [sample] = await _eventually(recorded)
            assert sample["metric"] == {"__name__": "app:log_errors:count1m", "job": "app"}
            assert sample["value"][1] == "1"

            async def alerted() -> list[dict[str, object]]:
                r = await c.get("/api/v2/alerts")
                return [a for a in r.json() if a["labels"].get("alertname") == "AppLogsErrors"]

            r = await c.get("/api/v1/rules")
            groups = {g["name"]: g for g in r.json()["data"]["groups"]}
            assert [rule["name"] for rule in groups["app-logs"]["rules"]] == ["app:log_errors:count1m",
                                                                               "AppLogsErrors"]
            [alert] = await _eventually(alerted)
            assert alert["labels"]["severity"] == "page" and alert["labels"]["job"] == "app"
            assert alert["annotations"]["summary"] == "1 error lines in app"
    finally:
        await proc.shutdown()
