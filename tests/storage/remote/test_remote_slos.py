"""An SLO whose ``source`` names a ``remote_read`` entry is checked, recorded, budgeted and
alerted on from Debian's VictoriaMetrics, holding data this guardia never stored: the same
SLO reading guardia's own store is rejected (no such series here)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.storage.remote.peers import Proc, flush_victoria, guardia, victoria

CONFIG = """
global: {{evaluation_interval: 1s}}
remote_read:
  - name: central
    url: {vm}/api/v1/read
slos:
  - name: checkout-availability
    service: shop
    objective: 99
    window: 30d
    source: central
    indicator:
      ratio:
        errors: http_requests_total{{job="shop",code=~"5.."}}
        total: http_requests_total{{job="shop"}}
  - name: checkout-local
    service: shop
    objective: 99
    window: 30d
    indicator:
      ratio:
        errors: http_requests_total{{job="shop",code=~"5.."}}
        total: http_requests_total{{job="shop"}}
  - name: nowhere
    service: shop
    objective: 99
    source: elsewhere
    indicator:
      ratio:
        errors: http_requests_total{{job="shop",code=~"5.."}}
        total: http_requests_total{{job="shop"}}
"""


def _slo(g: Proc, name: str) -> dict[str, Any]:
    r = g.http.get(f"/api/v1/slos/shop/{name}").json()
    return dict(r["data"])


def test_an_slo_on_a_remote_engine(tmp_path: Path, procs: list[Proc]) -> None:
    vm = victoria(tmp_path)
    procs.append(vm.start())
    now = int(time.time()) // 15 * 15
    lines = []
    # 4 h every 15 s to now, and 10 min on (a slow start must not leave the last 5 min empty):
    # 1 request/s, 10% failing
    for k in range(4 * 240 + 1 + 40):
        t = (now - 4 * 3600 + 15 * k) * 1000
        lines.append(f'http_requests_total{{job="shop",code="200"}} {13.5 * k} {t}')
        lines.append(f'http_requests_total{{job="shop",code="500"}} {1.5 * k} {t}')
    vm.http.post("/api/v1/import/prometheus", content="\n".join(lines)).raise_for_status()
    flush_victoria(vm)
    cfg = tmp_path / "guardia.yml"
    cfg.write_text(CONFIG.format(vm=vm.url))
    g = guardia(tmp_path, cfg)
    procs.append(g.start())
    deadline = time.time() + 120
    while True:
        remote = _slo(g, "checkout-availability")
        st = remote.get("status") or {}
        if remote["state"] == "ok" and st.get("burnRates", {}).get("5m") is not None and any(
                a["name"] == "SLOErrorBudgetBurn" and a["state"] == "firing" for a in remote["alerts"]):
            break
        assert time.time() < deadline, remote
        time.sleep(0.5)
    # the period's ratio came from VictoriaMetrics: 10% of the requests failed
    assert st["errorRatio"] == pytest.approx(0.1, rel=0.02)
    assert st["errorBudgetRemaining"] == pytest.approx(1 - 0.1 / 0.01, rel=0.02)
    assert st["burnRates"]["5m"] == pytest.approx(10, rel=0.05)  # from the SLI recordings
    firing = {(a["name"], a["labels"].get("slo_severity"), a["state"]) for a in remote["alerts"]}
    assert ("SLOErrorBudgetBurn", "page", "firing") in firing, remote["alerts"]
    groups = {g_["name"]: g_ for g_ in g.http.get("/api/v1/rules").json()["data"]["groups"]}
    sli = next(v for k, v in groups.items() if k.endswith("-sli"))
    assert all(r["health"] == "ok" for r in sli["rules"]), sli

    local = _slo(g, "checkout-local")  # the same SLI on guardia's own store: nothing there
    assert local["state"] == "rejected" and "no series named http_requests_total" in local["problems"][0]
    nowhere = _slo(g, "nowhere")
    assert nowhere["state"] == "rejected"
    assert nowhere["problems"] == ["source 'elsewhere' names no remote_read entry (known: central)"]
