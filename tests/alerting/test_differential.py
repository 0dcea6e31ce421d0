"""Differential test: the same alertmanager.yml and alert stream to the real Alertmanager
(Debian 0.25) and to guardia, each delivering to a local webhook sink.

Per (receiver, groupKey) the sequences of notifications must be identical: status, alerts
(labels, status, startsAt, endsAt, fingerprint), groupLabels, common labels, truncation.
Timing tolerance: corresponding notifications arrive within 0.9 s of each other, measured
from the moment the stream started (timers are 0.5-2 s, so a missed or extra flush shows).
Only notifications before the scenario's end minus that tolerance are compared: one due at the
cut-off can fall on either side of it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from guardia.alerting import Alertmanager
from guardia.alerting.types import format_time
from guardia.config import parse_yaml
from guardia.config.alertmanager import parse_alertmanager_config
from guardia.web.alertmanager_v2 import alerts_from_postable, parse_api_silence
from tests.alerting.amproc import RealAlertmanager
from tests.alerting.sinks import HTTPSink, Request

DATA = Path(__file__).parent / "data" / "differential"
SCENARIOS = sorted(DATA.glob("*.yml"))
TOLERANCE_S = 0.9


def _iso(t_s: float) -> str:
    return format_time(round(t_s * 1000) * 1_000_000)


def _normalise(reqs: list[Request], prefix: str, t0: float) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in reqs:
        if not r.path.startswith(prefix):
            continue
        body = r.json()
        entry = {
            "at": round(r.at - t0, 2),
            "status": body["status"],
            "receiver": body["receiver"],
            "path": r.path[len(prefix):],
            "groupLabels": body["groupLabels"],
            "commonLabels": body["commonLabels"],
            "truncatedAlerts": body["truncatedAlerts"],
            "version": body["version"],
            "alerts": [
                (a["status"], sorted(a["labels"].items()), a["startsAt"], a["endsAt"], a["fingerprint"])
                for a in body["alerts"]
            ],
        }
        out.setdefault((body["receiver"], body["groupKey"]), []).append(entry)
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_same_notifications_as_alertmanager(scenario: Path, tmp_path: Path) -> None:
    """A scenario runs a second time, from scratch, only if the first run differs: on a machine
    so loaded that a 1 s timer fires over a second late, either process can miss a repeat.
    A real difference in behaviour differs both times."""
    try:
        await _run(scenario, tmp_path / "first")
    except AssertionError as first:
        try:
            await _run(scenario, tmp_path / "second")
        except AssertionError:
            raise first from None


async def _run(scenario: Path, tmp_path: Path) -> None:
    tmp_path.mkdir()
    spec = yaml.safe_load(scenario.read_text())
    sink = await HTTPSink().start()
    am_cfg = tmp_path / "am.yml"
    am_cfg.write_text(spec["config"].replace("{SINK}", f"{sink.url}/am"))
    g_cfg = parse_alertmanager_config(parse_yaml(spec["config"].replace("{SINK}", f"{sink.url}/g"), "g.yml"))
    real = RealAlertmanager(am_cfg, tmp_path / "am-data")
    guardia = Alertmanager(g_cfg, data_dir=tmp_path / "g-data")
    try:
        await real.ready()
        await guardia.start()
        async with httpx.AsyncClient(base_url=real.url) as client:
            wall0 = time.time()
            for s in spec.get("silences", []):
                body = {**s, "startsAt": _iso(wall0 - 1), "endsAt": _iso(wall0 + 3600), "createdBy": "test"}
                (await client.post("/api/v2/silences", json=body)).raise_for_status()
                guardia.silences.set(**parse_api_silence(body))
            t0 = time.monotonic()
            wall0 = time.time()
            silence_ids: dict[str, tuple[str, str]] = {}
            for step in spec["steps"]:
                await asyncio.sleep(max(0.0, t0 + step["at"] - time.monotonic()))
                if "silence" in step:
                    body = {"matchers": step["silence"]["matchers"], "startsAt": _iso(time.time() - 1),
                            "endsAt": _iso(time.time() + 3600), "createdBy": "test", "comment": "diff"}
                    resp = await client.post("/api/v2/silences", json=body)
                    resp.raise_for_status()
                    silence_ids[step["silence"]["name"]] = (
                        resp.json()["silenceID"], guardia.silences.set(**parse_api_silence(body)))
                    continue
                if "expire" in step:
                    ref_id, our_id = silence_ids[step["expire"]]
                    (await client.delete(f"/api/v2/silence/{ref_id}")).raise_for_status()
                    guardia.silences.expire(our_id)
                    continue
                batch = []
                for a in step.get("post", []):
                    starts = wall0 + a.get("starts", step["at"])
                    batch.append({"labels": a["labels"], "startsAt": _iso(starts)})
                for a in step.get("resolve", []):
                    batch.append({"labels": a["labels"], "startsAt": _iso(wall0 + a["starts"]),
                                  "endsAt": _iso(time.time())})
                resp, _ = await asyncio.gather(client.post("/api/v2/alerts", json=batch),
                                               guardia.put(alerts_from_postable(batch)))
                resp.raise_for_status()
            await asyncio.sleep(max(0.0, t0 + spec["end"] - time.monotonic()))
        ref = _normalise(sink.requests, "/am", t0)
        got = _normalise(sink.requests, "/g", t0)
        assert ref, "the reference Alertmanager sent nothing: the scenario is broken"
        assert sorted(got) == sorted(ref), f"group keys differ:\nref={sorted(ref)}\ngot={sorted(got)}"
        for key in ref:
            # A notification due in the last TOLERANCE_S before the end may land on either side
            # of it in one process and not the other: only what both had time to send is compared.
            horizon = spec["end"] - TOLERANCE_S
            r_seq = [e for e in ref[key] if e["at"] <= horizon]
            g_seq = [e for e in got[key] if e["at"] <= horizon]
            if len(g_seq) == len(r_seq) + 1 and g_seq[-1]["at"] > horizon - TOLERANCE_S:
                g_seq.pop()
            if len(r_seq) == len(g_seq) + 1 and r_seq[-1]["at"] > horizon - TOLERANCE_S:
                r_seq.pop()
            strip = [{k: v for k, v in e.items() if k != "at"} for e in r_seq]
            assert [{k: v for k, v in e.items() if k != "at"} for e in g_seq] == strip, (key, r_seq, g_seq)
            for re_, ge in zip(r_seq, g_seq, strict=True):
                assert abs(re_["at"] - ge["at"]) <= TOLERANCE_S, (key, re_["at"], ge["at"])
    finally:
        real.stop()
        await guardia.stop()
        await sink.stop()
