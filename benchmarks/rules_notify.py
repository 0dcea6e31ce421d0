"""Alerts from rule evaluation into the embedded Alertmanager: ``Notifier.notify`` (what a rule
group calls, external labels and generator URL added) then ``flush`` into ``Alertmanager.put``.

Workload: 2,000 firing alerts with a summary and a description, one group per alert name (50).
The alerts travel in-process as ``Alert`` objects; no JSON and no RFC 3339 round trip.  The last
line is alerts per second (best of five passes).
"""

from __future__ import annotations

import asyncio
import time

from guardia.alerting import Alertmanager
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.config.yamlsource import parse_yaml
from guardia.model import Labels
from guardia.rules.alerting import Alert, AlertState
from guardia.rules.notifier import Notifier

CONFIG = "route: {receiver: x, group_wait: 1h, group_by: [alertname]}\nreceivers: [{name: x}]\n"
ALERTS = 2000


def rule_alerts() -> list[Alert]:
    now = int(time.time() * 1000)
    return [
        Alert(Labels({"alertname": f"A{i % 50}", "instance": f"host-{i}:9100", "job": "node",
                      "severity": "critical"}),
              {"summary": f"host-{i} is down", "description": "long text " * 5}, AlertState.FIRING,
              active_at_ms=now - 60_000, value=1.0, fired_at_ms=now, valid_until_ms=now + 240_000)
        for i in range(ALERTS)
    ]


async def main() -> None:
    am = Alertmanager(parse_alertmanager_config(parse_yaml(CONFIG, "am.yml")))
    await am.start()
    alerts = rule_alerts()
    notifier = Notifier(external_labels={"site": "madrid"}, external_url="http://guardia:9090",
                        local=am.put, capacity=100_000)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        notifier.notify("up == 0", alerts)
        await notifier.flush()
        best = min(best, time.perf_counter() - t0)
    await am.stop()
    print(f"rules -> embedded Alertmanager: {ALERTS / best:,.0f} alerts/s")


if __name__ == "__main__":
    asyncio.run(main())
