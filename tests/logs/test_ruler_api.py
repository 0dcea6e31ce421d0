"""Loki's ruler API on guardia serve: LogQL rule groups set, read and deleted in YAML by namespace,
evaluated at once (alerts in /prometheus/api/v1/alerts), refused with the reason when invalid."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import orjson
import yaml

from guardia.server import GuardiaProcess, ServeOptions

CONFIG = """
global: {evaluation_interval: 1s}
logs:
  rule_files: [loki-rules.yml]
"""
FILE_RULES = """
groups:
  - name: from-file
    rules:
      - record: app:lines:count1m
        expr: sum(count_over_time({job="app"}[1m]))
"""
GROUP = """
name: panics
interval: 1s
rules:
  - alert: PanicLines
    expr: sum by (job) (count_over_time({job="app"} |= "panic" [1m])) > 0
    labels: {severity: page}
    annotations: {summary: "{{ $value }} panic lines"}
"""


async def _eventually(fn, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def test_ruler_api_sets_reads_evaluates_and_deletes_logql_groups(tmp_path: Path) -> None:
    (tmp_path / "loki-rules.yml").write_text(FILE_RULES)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG)
    opts = ServeOptions(config_file=str(cfg), listen_address="127.0.0.1:0",
                        storage_path=str(tmp_path / "data"))
    proc = GuardiaProcess(opts)
    await proc.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}", timeout=10) as c:
            listed = yaml.safe_load((await c.get("/loki/api/v1/rules")).text)
            [(file_ns, file_groups)] = listed.items()
            assert file_ns.endswith("loki-rules.yml") and file_groups[0]["name"] == "from-file"

            yml = {"Content-Type": "application/yaml"}
            r = await c.post("/loki/api/v1/rules/team-a", content=GROUP, headers=yml)
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "success"
            r = await c.get("/loki/api/v1/rules/team-a")
            assert r.headers["content-type"].startswith("application/yaml")
            assert yaml.safe_load(r.text) == {"team-a": [yaml.safe_load(GROUP)]}
            r = await c.get("/loki/api/v1/rules/team-a/panics")
            assert yaml.safe_load(r.text) == yaml.safe_load(GROUP)
            assert set(yaml.safe_load((await c.get("/api/prom/rules")).text)) == {file_ns, "team-a"}

            body = {"streams": [{"stream": {"job": "app"},
                                 "values": [[str(time.time_ns()), "panic: nil map"]]}]}
            r = await c.post("/loki/api/v1/push", content=orjson.dumps(body),
                             headers={"Content-Type": "application/json"})
            assert r.status_code == 204

            async def firing() -> list[dict[str, object]]:
                r = await c.get("/prometheus/api/v1/alerts")
                return [a for a in r.json()["data"]["alerts"]
                        if a["labels"]["alertname"] == "PanicLines" and a["state"] == "firing"]

            [alert] = await _eventually(firing)
            assert alert["labels"] == {"alertname": "PanicLines", "job": "app", "severity": "page"}
            assert alert["annotations"] == {"summary": "1 panic lines"}
            rules = (await c.get("/prometheus/api/v1/rules", params={"type": "alert"})).json()["data"]
            [panics] = [g for g in rules["groups"] if g["rules"]]
            assert panics["name"] == "panics" and panics["file"].endswith("team-a.yml")
            assert panics["rules"][0]["query"].startswith("sum by (job)")

            # replaced, not duplicated, when set again under the same name
            assert (await c.post("/loki/api/v1/rules/team-a", content=GROUP, headers=yml)).status_code == 202
            assert len(yaml.safe_load((await c.get("/loki/api/v1/rules/team-a")).text)["team-a"]) == 1

            # refused with the reason: a log query as expr, not YAML, a file's namespace
            bad = GROUP.replace('sum by (job) (count_over_time({job="app"} |= "panic" [1m])) > 0',
                                "'{job=\"app\"} |= \"panic\"'")
            r = await c.post("/loki/api/v1/rules/team-a", content=bad, headers=yml)
            assert r.status_code == 400 and "metric query" in r.text, r.text
            r = await c.post("/loki/api/v1/rules/team-a", content="name: [", headers=yml)
            assert r.status_code == 400 and "YAML" in r.text
            assert (await c.get("/loki/api/v1/rules/team-a/panics")).status_code == 200

            assert (await c.delete("/loki/api/v1/rules/team-a/panics")).status_code == 202
            assert (await c.get("/loki/api/v1/rules/team-a/panics")).status_code == 404
            assert (await c.delete("/loki/api/v1/rules/team-a")).status_code == 404
            groups = (await c.get("/prometheus/api/v1/rules")).json()["data"]["groups"]
            assert [g["name"] for g in groups] == ["from-file"]
    finally:
        await proc.shutdown()
