"""Acknowledgements and escalation over HTTP: ``/api/v1/acks``, ``/api/v1/escalations`` and the
``/ack/{token}`` page that the link in an escalating route's notifications opens.

``POST /api/v1/acks`` takes ``{"matchers": "alertname=DiskFull,host=db1" | [...], "fingerprints":
[hex], "by": "ana", "comment": "on it"}``; ``GET`` lists who acknowledged what, when and why;
``DELETE /api/v1/acks/{id}`` takes one back.  The page shows the alert and a two-field form;
its token is the authority to acknowledge that one alert (see ``alerting.acks``).
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from guardia.alerting import Alertmanager
from guardia.alerting.acks import Ack, AckError
from guardia.model.am_matchers import parse_am_matchers
from guardia.model.matchers import MatcherError
from guardia.web.envelope import json_response, success


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def ack_json(a: Ack) -> dict[str, Any]:
    return {"id": a.id, "by": a.by, "comment": a.comment, "at": _iso(a.at_ns),
            "fingerprints": sorted(f"{f:016x}" for f in a.fingerprints), "matchers": list(a.matchers)}


def _bad(msg: str, status: int = 400) -> Response:
    return json_response({"status": "error", "errorType": "bad_data", "error": msg}, status)


def routes(am: Alertmanager) -> list[Route]:
    async def post_ack(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            return _bad("the body must be JSON: {matchers, by, comment}")
        if not isinstance(body, dict):
            return _bad("the body must be a JSON object: {matchers, by, comment}")
        raw = body.get("matchers") or []
        texts = [raw] if isinstance(raw, str) else raw
        try:
            ms = [m for t in texts for m in parse_am_matchers(str(t))]
            fps = [int(str(f), 16) for f in body.get("fingerprints") or []]
        except (MatcherError, ValueError) as e:
            return _bad(f"bad matchers or fingerprints: {e}")
        if not ms and not fps:
            return _bad("name the alerts: matchers (alertname=DiskFull) or fingerprints")
        try:
            ack = am.acknowledge(by=str(body.get("by") or ""), comment=str(body.get("comment") or ""),
                                 matchers=ms or None, fingerprints=fps or None)
        except AckError as e:
            return _bad(str(e))
        return success(ack_json(ack))

    async def list_acks(request: Request) -> Response:
        items = sorted(am.escalator.acks.items.values(), key=lambda a: a.at_ns)
        return success([ack_json(a) for a in items])

    async def delete_ack(request: Request) -> Response:
        if not am.escalator.acks.remove(request.path_params["id"]):
            return _bad("no such acknowledgement", 404)
        am.escalator.save()
        return success(None)

    async def escalations(request: Request) -> Response:
        out = []
        for key, _route, steps in am.escalations():
            out.append({"groupKey": key, "steps": [
                {"after": s.after_ms / 1000, "receiver": s.receiver, "reached": s.reached,
                 "due": _iso(s.due_ns) if s.due_ns else None} for s in steps]})
        return success(out)

    async def ack_page(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            fp = am.ack_links.verify(token)
        except AckError as e:
            return HTMLResponse(_page("Invalid link", f"<p>{html.escape(str(e))}</p>"), 404)
        alert = am.alert_by_fingerprint(fp)
        done = ""
        if request.method == "POST":
            # a two-field urlencoded form: parsed here, no multipart dependency for it
            form = {k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
            try:
                by, comment = form.get("by", ""), form.get("comment", "")
                ack = am.acknowledge_link(token, by=by, comment=comment)
                done = (f"<p class=ok>Acknowledged by {html.escape(ack.by)} at {_iso(ack.at_ns)}: escalation "
                        "stops for this alert.</p>")
            except AckError as e:
                done = f"<p class=err>{html.escape(str(e))}</p>"
        current = am.escalator.acks.of(fp)
        labels = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                         for k, v in (alert.labels if alert else ()))
        state = (f"<p>Acknowledged by <b>{html.escape(current.by)}</b> at {_iso(current.at_ns)}"
                 f"{': ' + html.escape(current.comment) if current.comment else ''}</p>") if current else ""
        body = (f"{done}<table>{labels}</table>{state}"
                "<form method=post><label>Who <input name=by required></label> "
                "<label>Comment <input name=comment></label> <button>Acknowledge</button></form>")
        return HTMLResponse(_page("Acknowledge alert", body))

    return [
        Route("/api/v1/acks", post_ack, methods=["POST"]),
        Route("/api/v1/acks", list_acks, methods=["GET"]),
        Route("/api/v1/acks/{id}", delete_ack, methods=["DELETE"]),
        Route("/api/v1/escalations", escalations, methods=["GET"]),
        Route("/ack/{token}", ack_page, methods=["GET", "POST"]),
    ]


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)} - guardia</title>"
            "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}th{text-align:left;"
            "padding-right:1em}.ok{color:#070}.err{color:#a00}</style></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
