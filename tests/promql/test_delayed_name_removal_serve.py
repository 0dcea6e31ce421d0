"""``guardia serve --enable-feature=promql-delayed-name-removal`` through the HTTP API: a
function's result keeps ``__name__`` until the query ends, so ``label_replace`` reads it;
without the flag it is gone at once (Prometheus 3's default)."""

from __future__ import annotations

import time
from pathlib import Path

from tests.test_serve import Serve

QUERY = 'label_replace(-up{job="guardia"}, "was", "$1", "__name__", "(.+)")'


def _answer(s: Serve) -> list[dict[str, str]]:
    deadline = time.time() + 60
    while time.time() < deadline:
        body = s.http.get("/api/v1/query", params={"query": QUERY}).json()
        assert body["status"] == "success", body
        if body["data"]["result"]:
            return [r["metric"] for r in body["data"]["result"]]
        time.sleep(0.5)
    raise AssertionError(f"no self-scrape in 60 s:\n{s.log.read_text()[-3000:]}")


def test_label_replace_reads_a_name_dropped_at_the_end(tmp_path: Path) -> None:
    for d in ("on", "off"):
        (tmp_path / d).mkdir()
    on = Serve(tmp_path / "on", "--enable-feature=promql-delayed-name-removal")
    off = Serve(tmp_path / "off")
    try:
        on.wait_ready()
        off.wait_ready()
        got_on, got_off = _answer(on), _answer(off)
        assert all(m.get("was") == "up" and "__name__" not in m for m in got_on), got_on
        assert all("was" not in m and "__name__" not in m for m in got_off), got_off
        flags = on.http.get("/api/v1/status/flags").json()["data"]
        assert flags["enable-feature"] == "promql-delayed-name-removal"
    finally:
        for s in (on, off):
            if s.proc.poll() is None:
                s.stop()
