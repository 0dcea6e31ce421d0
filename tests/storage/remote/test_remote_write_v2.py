"""Remote write 2.0 out: guardia sends ``io.prometheus.write.v2.Request`` to a receiver that
takes it (another guardia, whose receiver speaks 2.0) and the receiver holds exactly what the
sender holds, the sender counting what the receiver's ``X-Prometheus-Remote-Write-Samples-Written``
says; a 1.x receiver (Debian's Prometheus 2.42, VictoriaMetrics 1.79) does not take 2.0, and the
sender falls back to 1.0 without losing a sample."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.storage.remote.peers import (
    Proc,
    free_port,
    guardia,
    guardia_receiver,
    prometheus_receiver,
    victoria,
)
from tests.storage.remote.test_remote_write_out import (
    _eventually_same,
    _raw_from_api,
    _raw_from_victoria,
    _wait_for_sample_at,
    _window,
)


def _config(tmp: Path, port: int, url: str, name: str) -> Path:
    cfg = tmp / f"sender-{name}.yml"
    cfg.write_text(f"""
global: {{scrape_interval: 500ms, external_labels: {{site: lab}}}}
scrape_configs:
  - job_name: guardia
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {url}/api/v1/write
    name: {name}
    protobuf_message: io.prometheus.write.v2.Request
    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 400ms}}
    metadata_config: {{send_interval: 1s}}
""")
    return cfg


def _metric(g: Proc, name: str, remote: str) -> float:
    res = g.query(f'{name}{{remote_name="{remote}"}}', time.time())["result"]
    return float(res[0]["value"][1]) if res else 0.0


def test_guardia_sends_2_0_to_a_receiver_that_takes_it(tmp_path: Path, procs: list[Proc]) -> None:
    rx = guardia_receiver(tmp_path)
    procs.append(rx.start())
    port = free_port()
    g = guardia(tmp_path, _config(tmp_path, port, rx.url, "g2"), port)
    procs.append(g.start())
    time.sleep(4)
    t = time.time() - 0.5
    _wait_for_sample_at(rx, t)
    lo, hi = round((t - 3) * 1000), round(t * 1000)
    mine = _window(_raw_from_api(g, '{job="guardia"}', t, 5), lo, hi)
    assert len(mine) > 100
    _eventually_same(mine, lambda: _window(_raw_from_api(rx, '{job="guardia",site="lab"}', t, 5), lo, hi))
    log = g.log.read_text()
    assert "remote_write_v2_refused" not in log  # it stayed on 2.0 ...
    # ... and counted what the receiver's Samples-Written header said it wrote, all of it
    sent = _metric(g, "prometheus_remote_storage_samples_total", "g2")
    assert sent > 0 and _metric(g, "prometheus_remote_storage_samples_failed_total", "g2") == 0
    from prometheus_client.parser import text_string_to_metric_families

    received = next(s.value for f in text_string_to_metric_families(rx.http.get("/metrics").text)
                    for s in f.samples if s.name == "guardia_remote_write_samples_received_total")
    assert received >= sent


@pytest.mark.parametrize("receiver", ["prometheus", "victoria-metrics"])
def test_a_1_x_receiver_gets_1_0_after_the_fall_back(tmp_path: Path, procs: list[Proc],
                                                     receiver: str) -> None:
    rx = prometheus_receiver(tmp_path) if receiver == "prometheus" else victoria(tmp_path)
    procs.append(rx.start())
    port = free_port()
    g = guardia(tmp_path, _config(tmp_path, port, rx.url, "old"), port)
    procs.append(g.start())
    time.sleep(4)
    t = time.time() - 0.5
    _wait_for_sample_at(rx, t)
    assert "event=remote_write_v2_refused" in g.log.read_text()
    # from the first sample on: the batches sent as 2.0 were sent again as 1.0
    lo, hi = 0, round(t * 1000)
    mine = _window(_raw_from_api(g, '{job="guardia"}', t, 60), lo, hi)
    if receiver == "prometheus":
        _eventually_same(mine, lambda: _window(_raw_from_api(rx, '{job="guardia"}', t, 60), lo, hi))
    else:
        _eventually_same(mine, lambda: _window(_raw_from_victoria(rx, '{job="guardia"}', t - 60, t), lo, hi))
