"""``/federate``: the newest sample of every series matching ``match[]``, in text exposition.

Another Prometheus (or guardia) scrapes this to pull selected series.  Samples older than
the lookback delta and staleness markers are left out, external labels are added where a
series does not carry them, as Prometheus does.  Names that are not legacy-valid (UTF-8 names
such as ``http.server.duration``) are written as the client's ``Accept`` asks
(``guardia.model.escaping``): quoted with ``escaping=allow-utf-8``, escaped to legacy names
otherwise, so a Prometheus 2 federating from guardia reads every series.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from guardia.model import Labels
from guardia.model.escaping import ALLOW_UTF8, escape_labels, metric_text, negotiate, series_text
from guardia.model.samples import is_stale_nan
from guardia.storage.interface import Queryable
from guardia.web.envelope import ApiError
from guardia.web.params import parse_match_params, read_params


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def render(
    storage: Queryable, selectors: list[list[object]], now_ms: int, lookback_ms: int,
    external_labels: Mapping[str, str], escaping: str = ALLOW_UTF8,
) -> str:
    q = storage.querier(now_ms - lookback_ms, now_ms)
    latest: dict[Labels, tuple[int, float]] = {}
    try:
        for ms in selectors:
            for s in q.select(ms):  # type: ignore[arg-type]
                if len(s) == 0:
                    continue
                v = float(s.values[-1])
                if is_stale_nan(v):
                    continue
                latest[s.labels] = (int(s.timestamps[-1]), v)
    finally:
        q.close()
    by_name: dict[str, list[str]] = {}
    for lbl, (t, v) in sorted(latest.items()):
        d = dict(lbl)
        for k, ev in external_labels.items():
            d.setdefault(k, ev)
        pairs = sorted(escape_labels(d.items(), escaping))
        name = next((val for k, val in pairs if k == "__name__"), "")
        inner = [(k, val) for k, val in pairs if k != "__name__"]
        by_name.setdefault(name, []).append(f"{series_text(name, inner)} {_fmt(v)} {t}")
    out = []
    for name in sorted(by_name):
        out.append(f"# TYPE {metric_text(name)} untyped")
        out.extend(by_name[name])
    return "\n".join(out) + ("\n" if out else "")


def federate_endpoint(
    storage: Queryable,
    lookback_ms: int,
    external_labels: Callable[[], Mapping[str, str]],
) -> Callable[[Request], object]:
    async def handle(request: Request) -> Response:
        try:
            params = await read_params(request)
            selectors = parse_match_params(params)
        except ApiError as e:
            return PlainTextResponse(f"{e.message}\n", status_code=e.status)
        if not selectors:
            return PlainTextResponse("no match[] parameter provided; e.g. ?match[]={job=\"node\"}\n", 400)
        now = int(time.time() * 1000)
        version, escaping = negotiate(request.headers.get("accept", ""))
        text = await asyncio.to_thread(
            render, storage, selectors, now, lookback_ms, external_labels(), escaping  # type: ignore[arg-type]
        )
        return PlainTextResponse(
            text, media_type=f"text/plain; version={version}; charset=utf-8; escaping={escaping}")

    return handle
