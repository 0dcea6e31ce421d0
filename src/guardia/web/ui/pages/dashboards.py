"""Dashboards: ``/dashboards`` (list, search, upload), ``/d/{uid}`` (Grafana's URL shape:
``var-NAME=``, ``from=``, ``to=``, ``refresh=``), and the JSON the page draws panels from
(``/api/ui/dashboards/{uid}/panels?panels=[...]``, all of a page's panels in one streamed
answer, and ``/api/ui/dashboards/{uid}/panels/{id}``, one panel; both with the page's own
query string)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from guardia.promql.memo import Memo
from guardia.web.ui.dashboards.layout import allowed_repeat, layout, scoped
from guardia.web.ui.dashboards.model import Dashboard, DashboardError, Panel, load_text
from guardia.web.ui.dashboards.panel_data import DashboardContext, context, panel_data
from guardia.web.ui.dashboards.reader import StoreReader
from guardia.web.ui.dashboards.results_cache import CachingReader, ResultsCache
from guardia.web.ui.dashboards.shared_reads import SharedReads
from guardia.web.ui.dashboards.store import DashboardStore, SaveError, StoredDashboard
from guardia.web.ui.dashboards.timerange import TimeRangeError
from guardia.web.ui.render import Page, render
from guardia.web.ui.sources import UiSources

TIME_CHOICES = [("now-15m", "Last 15 minutes"), ("now-1h", "Last 1 hour"), ("now-6h", "Last 6 hours"),
                ("now-24h", "Last 24 hours"), ("now-7d", "Last 7 days")]
REFRESH_CHOICES = ["", "5s", "10s", "30s", "1m", "5m", "15m"]
VIEW_TTL_S = 60.0
VIEWS_WITH_READS = 2
MAX_BATCH = 500  # panels in one batch request
# panels of one batch computed at once: one per core, so a panel's numpy work is not
# interleaved with five others' (their temporaries would no longer fit the caches)
BATCH_WORKERS = max(1, min(4, os.cpu_count() or 1))


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in request.query_params.multi_items():
        out.setdefault(k, []).append(v)
    return out


@dataclass
class View:
    """One view of a dashboard (its variables, time range and ``now``): the page and its
    panel requests share its resolved context and its reads of the store."""

    ctx: DashboardContext
    reader: StoreReader
    shared: SharedReads
    memo: Memo
    now: int
    made: float
    # panel requests the page will make (0: not known); once all are answered, the reads
    # are let go rather than held until newer views push them out
    expected: int = 0
    served: int = 0
    released: bool = False
    # panel key -> its data being computed since the page was sent (see ``_prefetch``)
    prefetched: dict[str, Future[bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered(self) -> None:
        with self.lock:
            self.served += 1
            done = 0 < self.expected <= self.served
        if done:
            # subexpression results are of no use to another view: let go of them now; the
            # reads stay a minute for the next view (a reload, a refresh) to start from
            self.memo.clear()
            timer = threading.Timer(VIEW_TTL_S, self.release)
            timer.daemon = True
            timer.start()

    def release(self) -> None:
        """Let go of the store reads and subexpression results the view holds."""
        self.released = True
        self.shared.clear()
        self.memo.clear()


class _Views:
    """Views kept a minute: the page names its ``now`` and every panel request repeats it,
    so a page's panels (one request each) see the same range and share one read per
    selector."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[tuple[Any, ...], View] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> View | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit.made > VIEW_TTL_S:
                return None
            return hit

    def newest_with_reads(self, storage: Any) -> View | None:
        """The newest view over ``storage`` that still holds its reads."""
        with self._lock:
            for view in reversed(self._items.values()):
                fresh = time.monotonic() - view.made <= VIEW_TTL_S
                if view.shared.storage is storage and fresh and not view.released:
                    return view
        return None

    def put(self, key: tuple[Any, ...], view: View) -> None:
        """Only the newest few views keep their reads of the store (they are what loading
        pages still ask for); older ones keep their context alone."""
        with self._lock:
            self._items[key] = view
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
            for old in list(self._items.values())[:-VIEWS_WITH_READS]:
                old.release()


_views = _Views()
# panels are computed here: a few at a time for the whole process, whichever page asked
_pool = ThreadPoolExecutor(max_workers=BATCH_WORKERS, thread_name_prefix="guardia-panels")
# one results cache per store: a process may serve several (tests, embedding)
_results: weakref.WeakKeyDictionary[Any, ResultsCache] = weakref.WeakKeyDictionary()


def _store(ui: UiSources) -> DashboardStore | None:
    store = ui.dashboards
    return store if isinstance(store, DashboardStore) else None


def _now(ui: UiSources) -> int:
    return ui.now_ms() if ui.now_ms is not None else int(time.time() * 1000)


def view_now(ui: UiSources, params: Mapping[str, Sequence[str]]) -> int:
    """The ``now`` a panel request names (its page's), never later than the clock; without
    one (an older page, a script), the clock's, to the 5 seconds so neighbours share it."""
    clock = _now(ui)
    raw = (params.get("now") or [""])[0]
    if raw.isdigit():
        return min(int(raw), clock)
    return clock // 5000 * 5000


def dashboard_view(ui: UiSources, s: StoredDashboard, params: Mapping[str, Sequence[str]], now: int) -> View:
    """Raises ``TimeRangeError``."""
    relevant = tuple(sorted(
        (k, tuple(v)) for k, v in params.items() if k.startswith("var-") or k in ("from", "to")
    ))
    key = (id(ui.storage), id(ui.engine), s.uid, s.dashboard.version, relevant, now)
    view = _views.get(key)
    if view is None:
        # the newest view over the same store lends its settled reads (a reload, a refresh)
        parent = _views.newest_with_reads(ui.storage)
        shared = SharedReads(ui.storage, parent=None if parent is None else parent.shared,
                             parent_settled=0 if parent is None else parent.now - settle_ms(ui))
        memo = Memo()
        reader = StoreReader(shared, ui.engine, ui.query_timeout_s, memo)
        ctx = context(s.dashboard, params, reader, now, ui.remote_readers())
        view = View(ctx, reader, shared, memo, now, time.monotonic())
        _views.put(key, view)
    return view


def settle_ms(ui: UiSources) -> int:
    """How long after ``now`` samples may still arrive: two scrape intervals, a minute at
    least.  Steps (and read samples) older than that are reused by later views."""
    return max(60_000, 2 * ui.scrape_interval_ms())


def panel_reader(ui: UiSources, view: View) -> CachingReader:
    """Panel queries of ``view`` through the results cache: steps older than two scrape
    intervals (a minute at least) are settled and reused by later loads."""
    settle = settle_ms(ui)
    try:
        cache = _results.setdefault(ui.storage, ResultsCache())
    except TypeError:  # a store that cannot be weakly referenced: no cache across views
        cache = ResultsCache()
    return CachingReader(view.reader, cache, view.now, view.now - settle)


async def dashboards_page(request: Request, ui: UiSources) -> Response:
    store = _store(ui)
    items = [] if store is None else store.search(request.query_params.get("query", ""),
                                                  request.query_params.getlist("tag"))
    folder = request.query_params.get("folder")
    if folder is not None:
        items = [s for s in items if s.folder == folder]
    return render(request, ui, "dashboards.html", title="Dashboards", items=items,
                  has_store=store is not None, errors=[] if store is None else store.errors,
                  query=request.query_params.get("query", ""))


async def dashboard_page(request: Request, ui: UiSources) -> Response:
    store = _store(ui)
    uid = request.path_params["uid"]
    s = None if store is None else store.get(uid)
    if s is None:
        return render(request, ui, "dashboard_missing.html", status_code=404, title="Dashboard not found",
                      uid=uid)
    params = _params(request)
    error = ""
    ctx: DashboardContext | None = None
    now = _now(ui) // 1000 * 1000
    view: View | None = None
    try:
        view = await asyncio.to_thread(dashboard_view, ui, s, params, now)
        ctx = view.ctx
    except TimeRangeError as e:
        error = str(e)
    d = s.dashboard
    sections = layout(d, ctx.scope if ctx else {})
    if view is not None:
        items = [(v.dom_id, v.panel.id, dict(v.repeat)) for sec in sections for v in sec.panels
                 if v.panel.supported and v.panel.type != "text"]
        view.expected = len(items)
        if request.headers.get("sec-fetch-dest") == "document" and s.dashboard.version == d.version:
            _prefetch(ui, s, view, params, items)
    return render(
        request, ui, "dashboard.html", title=d.title, stored=s, dash=d, ctx=ctx,
        sections=sections,
        error=error, time_from=(params.get("from") or [d.time_from])[0],
        time_to=(params.get("to") or [d.time_to])[0],
        refresh=(params.get("refresh") or [d.refresh])[0], time_choices=TIME_CHOICES,
        refresh_choices=REFRESH_CHOICES, now=now,
        keep={k: v for k, v in params.items() if k.startswith("var-")},
    )


def _answer(ui: UiSources, s: StoredDashboard, panel: Panel, params: Mapping[str, Sequence[str]],
            asked: Mapping[str, str]) -> dict[str, Any]:
    """One panel's data in its view (``asked``: a repeated copy's variable values)."""
    try:
        view = dashboard_view(ui, s, params, view_now(ui, params))
    except TimeRangeError as e:
        return {"state": "error", "error": str(e)}
    ctx = view.ctx
    try:
        if asked:  # one copy of a repeated panel: its variable stands for one value
            fixed = allowed_repeat(s.dashboard, panel, ctx.scope, asked)
            if isinstance(fixed, str):
                return {"state": "error", "error": fixed}
            ctx = replace(ctx, scope=scoped(ctx.scope, fixed))
        return panel_data(panel, ctx, panel_reader(ui, view), ui.scrape_interval_ms(), ui.remote_readers())
    finally:
        view.answered()


async def panel_endpoint(request: Request, ui: UiSources) -> Response:
    store = _store(ui)
    uid = request.path_params["uid"]
    s = None if store is None else store.get(uid)
    if s is None:
        return JSONResponse({"state": "error", "error": f"dashboard {uid!r} not found"}, status_code=404)
    try:
        panel_id = int(request.path_params["panel"])
    except ValueError:
        return JSONResponse({"state": "error", "error": "the panel id must be an integer"}, status_code=400)
    panel = s.dashboard.panel(panel_id)
    if panel is None:
        return JSONResponse({"state": "error", "error": f"dashboard {uid!r} has no panel {panel_id}"},
                            status_code=404)
    if not panel.supported or panel.type == "text":
        return JSONResponse({"state": "unsupported" if not panel.supported else "ok", "series": []})
    params = _params(request)
    asked = {k[len("repeat-"):]: v[0] for k, v in params.items() if k.startswith("repeat-") and v}
    return JSONResponse(await asyncio.to_thread(_answer, ui, s, panel, params, asked))


_Item = tuple[str, int, dict[str, str]]  # a batch's panel: key, id, repeat values


def _batch_items(raw: str) -> list[_Item] | str:
    """``panels=`` of a batch request: a JSON list of ``{"key", "id", "repeat"}`` (``key``
    is the panel element's ``data-panel-id``, ``repeat`` a copy's variable values), or the
    reason it is not one."""
    try:
        data = json.loads(raw)
    except ValueError:
        return "panels= must be a JSON list of {key, id, repeat} objects"
    if not isinstance(data, list) or len(data) > MAX_BATCH:
        return f"panels= must be a JSON list of at most {MAX_BATCH} {{key, id, repeat}} objects"
    out = []
    for i, item in enumerate(data):
        ok = isinstance(item, dict) and type(item.get("id")) is int and isinstance(item.get("key", ""), str)
        repeat = (item.get("repeat") or {}) if isinstance(item, dict) else None
        if not ok or not isinstance(repeat, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in repeat.items()):
            return (f"panels[{i}]: expected {{\"key\": \"3\", \"id\": 3, \"repeat\": {{\"VAR\": \"value\"}}}}"
                    f" (repeat only for a repeated panel's copies), got {json.dumps(item)[:200]}")
        out.append((str(item.get("key") or item["id"]), int(item["id"]), dict(repeat)))
    return out


_METRIC = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{")


def in_read_order(dash: Dashboard, items: list[_Item]) -> list[_Item]:
    """Panels that read the same metric next to each other (in the order each metric first
    appears): the view keeps its reads within a bound, least recently used out first, so
    a metric read for the first panel is still held when the last one that needs it runs
    rather than read again after the others pushed it out."""
    first: dict[str, int] = {}

    def key(item: _Item) -> int:
        panel = dash.panel(item[1])
        exprs = [t.expr for t in panel.targets if not t.hide] if panel is not None else []
        found = next((m.group(1) for e in exprs for m in _METRIC.finditer(e)), None)
        name = found or "\0".join(exprs)
        return first.setdefault(name, len(first))

    return sorted(items, key=key)


def _panel_line(ui: UiSources, s: StoredDashboard, params: Mapping[str, Sequence[str]], item: _Item) -> bytes:
    """One line of a batch answer: the panel's key and its data (or its error)."""
    key, panel_id, asked = item
    panel = s.dashboard.panel(panel_id)
    if panel is None:
        body: dict[str, Any] = {"state": "error", "error": f"dashboard {s.uid!r} has no panel {panel_id}"}
    elif not panel.supported or panel.type == "text":
        body = {"state": "unsupported" if not panel.supported else "ok", "series": []}
    else:
        try:
            body = _answer(ui, s, panel, params, asked)
        except Exception as e:  # one panel's failure is that panel's error, not the batch's
            body = {"state": "error", "error": str(e) or type(e).__name__}
    return orjson.dumps({"key": key, **body}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"


def _prefetch(ui: UiSources, s: StoredDashboard, view: View, params: Mapping[str, Sequence[str]],
              items: list[_Item]) -> None:
    """Start computing the panels of a page a browser navigated to, while it loads the
    page's scripts: the batch request the page then makes (same view, same ``now``) takes
    these results instead of starting.  Only for navigations (``Sec-Fetch-Dest:
    document``), so a script or a link checker fetching the page costs no queries."""
    with_now = {**params, "now": [str(view.now)]}
    for item in in_read_order(s.dashboard, items):
        if item[0] not in view.prefetched:
            fut = _pool.submit(_panel_line, ui, s, with_now, item)
            fut.item = item  # type: ignore[attr-defined]
            view.prefetched[item[0]] = fut


async def panels_endpoint(request: Request, ui: UiSources) -> Response:
    """Every panel of a page in one request: one JSON line per panel (its ``key`` and what
    the single-panel endpoint answers), each sent as soon as it is computed.

    A browser opens at most six connections to a host, so twenty panel requests queued
    behind the slowest ones; one streamed answer lets the server run the panels back to
    back (a few at a time, sharing the view's reads and subexpressions) and the page draw
    each as its line arrives."""
    store = _store(ui)
    uid = request.path_params["uid"]
    s = None if store is None else store.get(uid)
    if s is None:
        return JSONResponse({"state": "error", "error": f"dashboard {uid!r} not found"}, status_code=404)
    items = _batch_items(request.query_params.get("panels", "[]"))
    if isinstance(items, str):
        return JSONResponse({"state": "error", "error": items}, status_code=400)
    params = {k: v for k, v in _params(request).items() if k != "panels"}
    items = in_read_order(s.dashboard, items)
    try:
        view: View | None = await asyncio.to_thread(dashboard_view, ui, s, params, view_now(ui, params))
    except TimeRangeError:
        view = None  # each line says so
    futures = []
    taken = 0
    for item in items:
        ready = None if view is None else view.prefetched.get(item[0])
        if ready is None or ready.cancelled() or ready.item != item:  # type: ignore[attr-defined]
            ready = _pool.submit(_panel_line, ui, s, params, item)
        else:
            taken += 1
        futures.append(asyncio.wrap_future(ready))

    async def lines() -> AsyncIterator[bytes]:
        try:
            for done in asyncio.as_completed(futures):
                yield await done
        finally:
            for f in futures:
                f.cancel()

    # how many panels were already being computed since the page was sent
    return StreamingResponse(lines(), media_type="application/x-ndjson",
                             headers={"X-Guardia-Prefetched": str(taken)})


async def import_endpoint(request: Request, ui: UiSources) -> Response:
    """The upload form posts the file's text here; JSON and YAML are both accepted."""
    store = _store(ui)
    if store is None:
        return JSONResponse({"message": "dashboards are not available in this guardia"}, status_code=503)
    name = request.query_params.get("filename", "")
    try:
        text = (await request.body()).decode("utf-8")
        data = load_text(text, name)
        overwrite = request.query_params.get("overwrite") == "1"
        saved = await asyncio.to_thread(store.save, data, overwrite=overwrite)
    except UnicodeDecodeError:
        return JSONResponse({"message": f"{name or 'the file'} is not UTF-8 text"}, status_code=400)
    except DashboardError as e:
        return JSONResponse({"message": str(e), "problems": e.problems}, status_code=400)
    except SaveError as e:
        return JSONResponse({"message": e.message, "status": e.status}, status_code=e.http_status)
    return JSONResponse({"uid": saved.uid, "url": ui.route_prefix + saved.url,
                         "version": saved.dashboard.version})


PAGES = [
    Page("/dashboards", "Dashboards", dashboards_page),
    Page("/d/{uid}", "", dashboard_page),
    Page("/d/{uid}/{slug}", "", dashboard_page),
    Page("/api/ui/dashboards/{uid}/panels", "", panels_endpoint),
    Page("/api/ui/dashboards/{uid}/panels/{panel}", "", panel_endpoint),
    Page("/api/ui/dashboards/import", "", import_endpoint, methods=("POST",)),
]
