"""guardia and a real Prometheus (Debian 2.42, ``--enable-feature=native-histograms``, which
makes it ask for the protobuf format first) scrape the same protobuf target (written in
``test_protobuf``): the same series, the same float values, the same native histogram."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

from guardia.model import Labels, Matcher
from guardia.scrape.loop import ScrapeLoop
from guardia.scrape.target import Target, populate_labels
from guardia.storage.memory import MemoryStorage
from guardia.web.format import histogram_json
from tests.scrape.helpers import close, job, wait_for
from tests.scrape.peers import prometheus, prometheus_get
from tests.scrape.test_protobuf import Target_

REPORT = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
          "scrape_series_added"}


def _query(base: str, q: str) -> list[dict[str, object]]:
    data = prometheus_get(base, "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
    assert isinstance(data, dict)
    return data["result"]  # type: ignore[no-any-return]


async def test_same_series_values_and_histogram_as_prometheus(tmp_path: Path) -> None:
    target = Target_(native=True, fixed=3)
    addr = target.sink.address
    prom_cfg = (f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: t\n"
                f"    static_configs: [{{targets: ['{addr}']}}]\n")
    try:
        with prometheus(prom_cfg, tmp_path, "--enable-feature=native-histograms") as prom:
            cfg = job(prom_cfg.replace("    static_configs", "    scrape_native_histograms: true\n"
                                       "    static_configs"))
            final, pre = populate_labels({"__address__": addr}, cfg)
            assert final is not None
            storage = MemoryStorage()
            loop = ScrapeLoop(Target("t", final, pre), cfg, storage)
            try:
                await loop.scrape_once()
            finally:
                await close(loop)
            assert loop.target.health == "up", loop.target.last_error
            await wait_for(lambda: bool(_query(prom, "rpc_seconds")), timeout=30)
            theirs = {Labels(d) for d in prometheus_get(  # type: ignore[union-attr]
                prom, "/api/v1/series?" + urllib.parse.urlencode({"match[]": '{job="t"}'}))}
            floats = {Labels(r["metric"]): float(r["value"][1])  # type: ignore[index, arg-type]
                      for r in _query(prom, '{job="t"}') if "value" in r}
            [hist] = _query(prom, "rpc_seconds")
    finally:
        target.sink.close()
    # Prometheus asked for protobuf first, as guardia did
    accepts = [r["accept"] for r in target.sink.requests]
    assert all(a.startswith("application/vnd.google.protobuf;") for a in accepts), accepts
    q = storage.querier(0, 2**62)
    ours = {s.labels: s for s in q.select([Matcher.equal("job", "t")])}
    assert set(ours) == theirs
    for lb, v in floats.items():
        if lb.get("__name__") in REPORT or lb.get("__name__") == "rpc_seconds":
            continue
        assert float(ours[lb].values[-1]) == v, lb
    ours_h = ours[Labels(hist["metric"])].histograms  # type: ignore[arg-type]
    assert ours_h is not None and ours_h[-1] is not None
    assert json.loads(histogram_json(ours_h[-1])) == hist["histogram"][1]  # type: ignore[index]
