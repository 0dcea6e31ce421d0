"""Alerting throughput: alerts received (validated, merged, routed, grouped, persisted) per
second, and a full notification pass (inhibition + silences + dedupe for every group).

Workload: the GRUPO_GAD routing tree and inhibition rules, 20 silences, and 5,000 firing
alerts over 50 alert names × 100 instances, posted in batches of 500 as Prometheus does.
Notifications go to a notifier that accepts everything, so the figure is guardia's cost.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

from guardia.alerting import Alertmanager
from guardia.alerting.receivers.base import Notifier, NotifyContext
from guardia.alerting.types import Alert
from guardia.config import parse_yaml
from guardia.config.alertmanager import (
    AlertmanagerConfig,
    NotifierConfig,
    parse_alertmanager_config,
    parse_am_matchers,
)
from guardia.web.alertmanager_v2 import alerts_from_postable, gettable_alerts

CONFIG = """
route:
  receiver: default-receiver
  group_by: [alertname, instance]
  group_wait: 1h
  group_interval: 1h
  routes:
    - {matchers: [severity="critical"], receiver: critical-alerts, continue: true}
    - {matchers: [severity="warning"], receiver: warning-alerts}
    - {matchers: [component="database"], receiver: database-team}
    - {matchers: [component="api"], receiver: api-team}
receivers:
  - {name: default-receiver, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}
  - {name: critical-alerts, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}
  - {name: warning-alerts, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}
  - {name: database-team, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}
  - {name: api-team, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}
inhibit_rules:
  - {source_matchers: [severity="critical", alertname="APIDown"],
     target_matchers: [severity="warning", component="api"], equal: [instance]}
  - {source_matchers: [severity="critical", alertname="InstanceDown"],
     target_matchers: [severity="warning"], equal: [instance]}
"""


class Accept:
    async def send(self, ctx: NotifyContext, alerts: list[Alert]) -> None:
        return None


def accept(kind: str, cfg: NotifierConfig, am: AlertmanagerConfig) -> Notifier:
    return Accept()


def alerts() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    sev = ["critical", "warning", "info"]
    comp = ["api", "database", "cache", "infra"]
    for n in range(50):
        name = "InstanceDown" if n == 0 else "APIDown" if n == 1 else f"Alert{n}"
        for i in range(100):
            out.append({"labels": {"alertname": name, "instance": f"host-{i}", "severity": sev[n % 3],
                                   "component": comp[n % 4], "job": "node"},
                        "annotations": {"summary": f"{name} on host-{i}"}})
    return out


async def main() -> None:
    cfg = parse_alertmanager_config(parse_yaml(CONFIG, "bench.yml"))
    batch = alerts()
    with tempfile.TemporaryDirectory() as tmp:
        am = Alertmanager(cfg, data_dir=tmp, notifier_factory=accept)
        for i in range(20):
            now = time.time_ns()
            am.silences.set(matchers=parse_am_matchers(f'alertname="Alert{i + 10}",instance="host-{i}"'),
                            starts_at=now, ends_at=now + 3600 * 10**9)
        await am.start()
        t0 = time.perf_counter()
        for i in range(0, len(batch), 500):
            await am.put(alerts_from_postable(batch[i:i + 500]))  # as POST /api/v2/alerts does
        put_s = time.perf_counter() - t0
        assert am._dispatcher is not None
        groups = list(am._dispatcher.groups.values())
        t0 = time.perf_counter()
        for g in groups:
            await g._flush(asyncio.get_running_loop().time() + 60)
        flush_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        listed = gettable_alerts(am.alerts())
        list_s = time.perf_counter() - t0
        await am.stop()
    print(f"groups: {len(groups)}; notification pass over all groups: {flush_s:.2f}s; "
          f"API list of {len(listed)} alerts: {list_s * 1000:.0f} ms")
    print(f"alerting put (route+group+persist): {len(batch) / put_s:,.0f} alerts/s")


if __name__ == "__main__":
    asyncio.run(main())
