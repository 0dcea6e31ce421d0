"""guardia remote-writes what it scrapes, from its WAL, to a real VictoriaMetrics and a real
Prometheus (``--web.enable-remote-write-receiver``): the receivers hold exactly what guardia
holds and answer the same queries alike; a receiver down while guardia restarts loses nothing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.storage.remote.peers import Proc, flush_victoria, free_port, guardia, prometheus_receiver, victoria

Raw = dict[tuple[tuple[str, str], ...], dict[int, float]]


def _config(tmp: Path, port: int, receivers: dict[str, str]) -> Path:
    rw = "".join(
        f"""
  - url: {url}/api/v1/write
    name: {name}
    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 400ms}}
"""
        for name, url in receivers.items()
    )
    cfg = tmp / "guardia.yml"
    cfg.write_text(
        f"""
global: {{scrape_interval: 500ms, evaluation_interval: 1s, external_labels: {{site: lab}}}}
scrape_configs:
  - job_name: guardia
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:{rw}
"""
    )
    return cfg


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in metric.items() if k != "site"))


def _raw_from_api(p: Proc, selector: str, t: float, window_s: int) -> Raw:
    out: Raw = {}
    for s in p.query(f"{selector}[{window_s}s]", t)["result"]:
        out[_key(s["metric"])] = {round(float(ts) * 1000): float(v) for ts, v in s["values"]}
    return out


def _raw_from_victoria(vm: Proc, selector: str, start: float, end: float) -> Raw:
    import json

    flush_victoria(vm)
    r = vm.http.get("/api/v1/export", params={"match[]": selector, "start": start, "end": end})
    out: Raw = {}
    for line in r.text.splitlines():
        d: dict[str, Any] = json.loads(line)
        samples = zip(d["timestamps"], map(float, d["values"]), strict=True)
        out.setdefault(_key(d["metric"]), {}).update(samples)
    return out


def _window(raw: Raw, lo_ms: int, hi_ms: int) -> Raw:
    out: Raw = {}
    for k, samples in raw.items():
        sel = {t: v for t, v in samples.items() if lo_ms <= t <= hi_ms}
        if sel:
            out[k] = sel
    return out


def _same(a: Raw, b: Raw) -> None:
    assert a.keys() == b.keys(), (sorted(set(a) ^ set(b))[:5])
    for k in a:
        assert a[k].keys() == b[k].keys(), (k, sorted(set(a[k]) ^ set(b[k]))[:5])
        for t, v in a[k].items():
            w = b[k][t]
            # VictoriaMetrics keeps 12 significant decimal digits of a float
            assert (math.isnan(v) and math.isnan(w)) or math.isclose(v, w, rel_tol=1e-11), (k, t, v, w)


def _answers(p: Proc, q: str, t: float) -> list[tuple[tuple[tuple[str, str], ...], str]]:
    """An instant query's (labels, value) pairs; the evaluation time echoed back is left out
    (VictoriaMetrics rounds it to 10 ms), and so is a name a rollup keeps (MetricsQL does)."""
    res = p.query(q, t)["result"]
    keep_name = "(" not in q
    return sorted(
        (tuple(kv for kv in _key(s["metric"]) if keep_name or kv[0] != "__name__"), s["value"][1])
        for s in res
    )


def _eventually_same(mine: Raw, theirs: Callable[[], Raw], timeout: float = 15) -> None:
    """The shards of one round reach the receiver in any order: poll until it holds them all."""
    deadline = time.time() + timeout
    while True:
        try:
            _same(mine, theirs())
            return
        except AssertionError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)


def _wait_for_sample_at(p: Proc, t: float, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if p.name == "victoria-metrics":
            flush_victoria(p)
        res = p.query('max(timestamp(up{job="guardia"}))', time.time())["result"]
        if res and float(res[0]["value"][1]) >= t:
            return
        time.sleep(0.3)
    raise AssertionError(f"{p.name} did not receive guardia's samples up to {t} in {timeout} s")


def test_receivers_hold_and_answer_what_guardia_holds(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    prom = prometheus_receiver(tmp_path)
    procs.append(prom.start())
    port = free_port()
    g = guardia(tmp_path, _config(tmp_path, port, {"vm": vm.url, "prom": prom.url}), port)
    procs.append(g.start())
    time.sleep(4)
    t = time.time() - 0.5
    for p in (vm, prom):
        _wait_for_sample_at(p, t)
    lo, hi = round((t - 3.5) * 1000), round(t * 1000)
    mine = _window(_raw_from_api(g, '{job="guardia"}', t, 5), lo, hi)
    assert len(mine) > 100  # guardia's own metrics: every series, every sample
    _eventually_same(mine, lambda: _window(_raw_from_api(prom, '{job="guardia"}', t, 5), lo, hi))
    _eventually_same(mine, lambda: _window(_raw_from_victoria(vm, '{job="guardia"}', t - 5, t), lo, hi))
    # Prometheus 2.42 counts a sample exactly on a range's left edge, guardia (as Prometheus 3)
    # does not: evaluate where no sample sits on the edge of the [3s] ranges, the only place the
    # two differ (on a 10 ms step, which VictoriaMetrics does not round)
    edges = {ts for samples in mine.values() for ts in samples}
    tq_ms = hi // 10 * 10
    while tq_ms - 3000 in edges:
        tq_ms -= 10
    tq = tq_ms / 1000
    for q in ("up", "count by (job) (up)", "sum by (job) (scrape_samples_scraped)",
              'count({__name__=~"prometheus_tsdb_.*"})', "max_over_time(scrape_duration_seconds[3s])",
              "sum by (job) (rate(prometheus_http_requests_total[3s]))"):
        want = _answers(g, q, tq)
        assert want, q
        # sums may add in another order (last bits); VictoriaMetrics keeps 12 digits and
        # MetricsQL keeps the name through rollups
        # MetricsQL's rate is not PromQL's (it takes the sample before the range and does not
        # extrapolate): VictoriaMetrics holds the same samples (checked above), not the same rate
        for p in (prom,) if "rate(" in q else (prom, vm):
            got = _answers(p, q, tq)
            assert [k for k, _ in got] == [k for k, _ in want], (p.name, q)
            for (_, a), (_, b) in zip(got, want, strict=True):
                assert math.isclose(float(a), float(b), rel_tol=1e-9), (p.name, q, a, b)
    # external labels are added to every series sent
    assert {s["metric"].get("site") for s in prom.query('up{job="guardia"}', t)["result"]} == {"lab"}
    # the self-metrics say what happened
    m = g.query('prometheus_remote_storage_samples_total{remote_name="vm"}', time.time())["result"]
    assert m and float(m[0]["value"][1]) > 0
    assert g.query("prometheus_remote_storage_shards", time.time())["result"]


def test_an_outage_and_a_restart_lose_nothing(tmp_path: Path, procs: list[Proc]) -> None:
    vm_port = free_port()
    vm = victoria(tmp_path, vm_port)
    procs.append(vm.start())
    port = free_port()
    cfg = _config(tmp_path, port, {"vm": vm.url})
    g = guardia(tmp_path, cfg, port)
    procs.append(g.start())
    time.sleep(2)
    start = time.time() - 1.5
    _wait_for_sample_at(vm, start)
    vm.stop()  # the receiver goes away ...
    time.sleep(3)
    deadline = time.time() + 20  # guardia notices on its next round, and scrapes itself to say so
    while True:
        retried = g.query('prometheus_remote_storage_samples_retried_total{remote_name="vm"}', time.time())
        if retried["result"] and float(retried["result"][0]["value"][1]) > 0:
            break
        assert time.time() < deadline, "guardia never retried a batch while the receiver was down"
        time.sleep(0.5)
    g.stop()  # ... and guardia restarts while it is down
    g.start()
    time.sleep(3)
    vm.start()  # back: everything committed meanwhile is sent
    end = time.time() - 0.5
    _wait_for_sample_at(vm, end)
    lo, hi = round(start * 1000), round(end * 1000)
    # all since start, however long the outage and the restart took on a loaded machine
    mine = _window(_raw_from_api(g, '{job="guardia"}', end, math.ceil(end - start) + 2), lo, hi)
    assert sum(len(s) for s in mine.values()) > 1000
    _eventually_same(mine, lambda: _window(_raw_from_victoria(vm, '{job="guardia"}', start - 1, end), lo, hi))


def _lag_s(g: Proc) -> float:
    """highest_timestamp (appended locally) - highest_sent (acknowledged), from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    vals: dict[str, float] = {}
    for fam in text_string_to_metric_families(g.http.get("/metrics").text):
        for s in fam.samples:
            if s.name == "prometheus_remote_storage_highest_timestamp_in_seconds" or (
                s.name == "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"
                and s.labels.get("remote_name") == "vm"
            ):
                vals[s.name] = s.value
    return vals["prometheus_remote_storage_highest_timestamp_in_seconds"] - vals[
        "prometheus_remote_storage_queue_highest_sent_timestamp_seconds"]


def test_the_lag_grows_while_the_receiver_is_down(tmp_path: Path, procs: list[Proc]) -> None:
    """As in Prometheus, the highest timestamp is what the local store took, not what the queue
    read: with the receiver killed the queue stands still and the lag grows with the outage."""
    vm = victoria(tmp_path)
    procs.append(vm.start())
    port = free_port()
    g = guardia(tmp_path, _config(tmp_path, port, {"vm": vm.url}), port)
    procs.append(g.start())
    _wait_for_sample_at(vm, time.time() - 0.5)
    assert _lag_s(g) < 2.5
    assert vm.proc is not None
    vm.proc.kill()  # killed, not stopped
    vm.proc.wait()
    vm.proc = None
    time.sleep(1.5)
    first = _lag_s(g)
    time.sleep(4)
    second = _lag_s(g)
    assert second - first >= 3  # scraped every 500 ms: the lag follows the wall clock
    assert second >= 4.5
    vm.start()  # back: the queue catches up and the lag falls back
    deadline = time.time() + 30
    while _lag_s(g) > 2.5:
        assert time.time() < deadline, f"lag still {_lag_s(g)} s after the receiver came back"
        time.sleep(0.3)
