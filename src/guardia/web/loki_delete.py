"""Loki's log deletion API (``/loki/api/v1/delete``): delete requests that really remove lines.

``POST`` (or ``PUT``) ``?query={app="x"} |= "secret"&start=...&end=...`` records a request and
answers 204; after ``cancel_period_s`` (0 by default: at once) the store rewrites every chunk
holding a line of the matching streams in ``[start, end]`` that passes the query's line filters,
without those lines (``LogStore.delete``), and the request is listed as ``processed``.  ``GET``
lists the requests in Loki's shape; ``DELETE ?request_id=`` cancels one not yet processed
(``force=true`` also drops a processed one from the list, as Loki's does; the lines stay gone).
Requests are kept in ``delete_requests.json`` beside the store, so the list survives restarts
and a request recorded but not processed before a stop is processed at the next start.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from guardia.logs.chunk import Lines
from guardia.logs.errors import LogsError
from guardia.logs.logql import ast as logql_ast
from guardia.logs.logql import parse
from guardia.logs.logql.linefilter import Mask, chunk_filter
from guardia.logs.store import LogStore
from guardia.web.envelope import json_response
from guardia.web.loki_params import NS, BadRequest, parse_time_ns
from guardia.web.params import read_params

log = logging.getLogger("guardia.web.loki")


def _seconds(ns: int) -> float | int:
    return ns // NS if ns % NS == 0 else round(ns / NS, 3)


def delete_selector(query: str) -> logql_ast.LogSelector:
    """The query of a delete request: a stream selector with line filters only."""
    expr = parse(query)
    if not isinstance(expr, logql_ast.LogSelector):
        raise BadRequest(f"a delete query must be a log stream selector, not a metric query: {query!r}")
    for st in expr.stages:
        if not isinstance(st, logql_ast.LineFilter):
            raise BadRequest(
                "a delete query takes a stream selector and line filters only "
                '(|=, !=, |~, !~), e.g. {app="shop"} |= "card_number"'
            )
    return expr


class LokiDeleteApi:
    def __init__(self, store: LogStore, cancel_period_s: float = 0.0) -> None:
        self.store = store
        self.cancel_period_s = cancel_period_s
        self.path = Path(store.path) / "delete_requests.json"
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = self._load()
        self._tasks: set[asyncio.Task[None]] = set()

    def _load(self) -> list[dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.error("event=logs_delete_requests_unreadable path=%s error=%s", self.path, e)
            return []
        return [r for r in data if isinstance(r, dict) and "request_id" in r]

    def _save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._requests, indent=1))
        os.replace(tmp, self.path)

    def resume(self) -> None:
        """Process the requests a stop left unprocessed (call from a running event loop)."""
        for r in list(self._requests):
            if r["status"] == "received":
                self._schedule(r)

    def _schedule(self, r: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._process(r))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, r: dict[str, Any]) -> None:
        wait = r["_not_before"] - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        with self._lock:
            if r not in self._requests or r["status"] != "received":
                return  # cancelled meanwhile
            r["status"] = "processing"
        try:
            removed = await asyncio.to_thread(self.run, r["query"], r["_start_ns"], r["_end_ns"])
        except Exception:
            log.exception("event=logs_delete_failed request_id=%s", r["request_id"])
            with self._lock:
                r["status"] = "received"
            return
        with self._lock:
            r["status"] = "processed"
            r["_deleted_lines"] = removed
            self._save()
        log.info("event=logs_delete_processed request_id=%s lines=%d", r["request_id"], removed)

    def run(self, query: str, start: int, end: int) -> int:
        """Delete now: the number of lines removed."""
        sel = delete_selector(query)
        filters = [chunk_filter(st) for st in sel.stages if isinstance(st, logql_ast.LineFilter)]

        def match(lines: Lines) -> Mask:
            mask = np.ones(len(lines), dtype=np.bool_)
            for f in filters:
                mask &= f(lines)
            return mask

        return self.store.delete(list(sel.matchers), start, end, match if filters else None)

    async def create(self, request: Request) -> Response:
        try:
            p = await read_params(request)
            query = p.get("query") or ""
            if not query:
                raise BadRequest('query is required: a stream selector such as {app="shop"}')
            delete_selector(query)
            if not p.get("start"):
                raise BadRequest("start is required (RFC 3339 or Unix seconds)")
            now = time.time_ns()
            start = parse_time_ns(p.get("start"), 0)
            end = parse_time_ns(p.get("end"), now)
            if end < start:
                raise BadRequest("end must not be before start")
        except (LogsError, BadRequest) as e:
            return PlainTextResponse(f"{e}\n", 400)
        r = {
            "request_id": secrets.token_hex(4),
            "start_time": _seconds(start),
            "end_time": _seconds(end),
            "query": query,
            "status": "received",
            "created_at": _seconds(now // 1_000_000 * 1_000_000),
            "_start_ns": start,
            "_end_ns": end,
            "_not_before": time.time() + self.cancel_period_s,
        }
        with self._lock:
            self._requests.append(r)
            self._save()
        self._schedule(r)
        return Response(status_code=204)

    async def list_requests(self, request: Request) -> Response:
        with self._lock:
            out = [
                {k: v for k, v in r.items() if not k.startswith("_")}
                | {"status": "received" if r["status"] == "processing" else r["status"]}
                for r in self._requests
            ]
        return json_response(out)

    async def cancel(self, request: Request) -> Response:
        p = request.query_params
        rid = p.get("request_id") or ""
        force = (p.get("force") or "").lower() == "true"
        with self._lock:
            found = [r for r in self._requests if r["request_id"] == rid]
            if not found:
                return PlainTextResponse(f"no delete request with request_id {rid!r}\n", 404)
            r = found[0]
            if r["status"] != "received" and not force:
                return PlainTextResponse(
                    "deletion of request which is in process or already processed is not allowed "
                    "(force=true drops it from the list; deleted lines stay deleted)\n", 400)
            self._requests.remove(r)
            self._save()
        return Response(status_code=204)

    def routes(self) -> list[BaseRoute]:
        path = "/loki/api/v1/delete"
        return [
            Route(path, self.create, methods=["POST", "PUT"], name=f"{path} (create)"),
            Route(path, self.list_requests, methods=["GET"], name=f"{path} (list)"),
            Route(path, self.cancel, methods=["DELETE"], name=f"{path} (cancel)"),
        ]
