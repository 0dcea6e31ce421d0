"""The ASGI middleware on a real FastAPI app, driven in-process."""

from __future__ import annotations

import asyncio
import random
import string

import pytest
from fastapi import FastAPI, HTTPException
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from guardia.instrument import InstrumentError, instrument
from tests.instrument.asgi_driver import call, run, samples, value


def make_app(**kw: object) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.post("/upload")
    def upload() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("missing")

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(status_code=418)

    instrument(app, registry=CollectorRegistry(), **kw)  # type: ignore[arg-type]
    return app


def scrape(app: object) -> str:
    status, body = run(app, "GET", "/metrics")
    assert status == 200
    return body.decode()


def test_requests_are_counted_by_route_template_method_and_grouped_status() -> None:
    app = make_app()
    for i in range(3):
        assert run(app, "GET", f"/items/{i}")[0] == 200
    assert run(app, "POST", "/upload", b"x" * 1234)[0] == 200
    assert run(app, "GET", "/teapot")[0] == 418
    text = scrape(app)
    assert value(text, "http_requests_total", handler="/items/{item_id}", method="GET", status="2xx") == 3
    assert value(text, "http_requests_total", handler="/upload", method="POST", status="2xx") == 1
    assert value(text, "http_requests_total", handler="/teapot", method="GET", status="4xx") == 1
    assert value(text, "http_request_duration_seconds_count", handler="/items/{item_id}", method="GET") == 3
    assert value(text, "http_request_size_bytes_sum", handler="/upload") == 1234
    assert value(text, "http_response_size_bytes_sum", handler="/items/{item_id}") == 3 * len(b'{"id":0}')
    assert value(text, "http_requests_inprogress") == 0
    assert value(text, "http_request_duration_highr_seconds_count") == 5


def test_exceptions_are_counted_by_type_and_answered_as_500() -> None:
    app = make_app()
    with pytest.raises(KeyError):
        run(app, "GET", "/boom")
    text = scrape(app)
    assert value(text, "http_exceptions_total", handler="/boom", type="KeyError") == 1
    assert value(text, "http_requests_total", handler="/boom", method="GET", status="5xx") == 1


def test_ten_thousand_random_paths_add_no_series_beyond_handler_none() -> None:
    app = make_app()
    run(app, "GET", "/items/1")
    scrape(app)  # the scrape's own series exist from here on
    before = {k for k in samples(scrape(app)) if not k[0].endswith("_created")}
    rng = random.Random(23)

    async def scan() -> None:
        for _ in range(10_000):
            depth = rng.randint(1, 4)
            path = "/" + "/".join(
                "".join(rng.choices(string.ascii_letters + string.digits + "-._~%", k=rng.randint(1, 12)))
                for _ in range(depth))
            status, _ = await call(app, rng.choice(["GET", "POST", "HEAD"]), path)
            assert status in (404, 405)

    asyncio.run(scan())
    text = scrape(app)
    after = {k for k in samples(text) if not k[0].endswith("_created")}
    new = after - before
    handlers = {dict(labels).get("handler") for _, labels in new}
    assert handlers <= {"none"}, sorted(handlers)[:10]
    total_none = sum(v for (n, labels), v in samples(text).items()
                     if n == "http_requests_total" and dict(labels).get("handler") == "none")
    assert total_none == 10_000


def test_status_codes_kept_exact_and_buckets_configurable() -> None:
    app = make_app(group_status=False, buckets=(0.1, 1.0))
    run(app, "GET", "/teapot")
    text = scrape(app)
    assert value(text, "http_requests_total", handler="/teapot", method="GET", status="418") == 1
    assert value(text, "http_request_duration_seconds_bucket", handler="/teapot", method="GET", le="1.0") == 1
    assert ("http_request_duration_seconds_bucket",
            frozenset({"handler": "/teapot", "method": "GET", "le": "0.5"}.items())) not in samples(text)


def test_django_prometheus_naming_by_flag() -> None:
    app = make_app(naming="django")
    run(app, "GET", "/items/7")
    text = scrape(app)
    assert value(text, "django_http_requests_total_by_view_transport_method_total",
                 view="/items/{item_id}", transport="http", method="GET") == 1
    assert value(text, "django_http_responses_total_by_status_view_method_total",
                 status="200", view="/items/{item_id}", method="GET") == 1
    assert value(text, "django_http_requests_latency_seconds_by_view_method_count",
                 view="/items/{item_id}", method="GET") == 1
    assert "http_requests_total{" not in text


def test_mounted_routes_get_the_mount_prefix_and_plain_asgi_apps_are_wrapped() -> None:
    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("hi")

    inner = Starlette(routes=[Route("/users/{uid}", hello)])
    app = Starlette(routes=[Mount("/api", app=inner)])
    instrument(app, registry=CollectorRegistry())
    assert run(app, "GET", "/api/users/9")[0] == 200
    text = scrape(app)
    assert value(text, "http_requests_total", handler="/api/users/{uid}", method="GET", status="2xx") == 1

    async def bare(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await send({"type": "http.response.start", "status": 204, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    wrapped = instrument(bare, registry=CollectorRegistry())
    assert run(wrapped, "GET", "/anything/at/all")[0] == 204
    assert value(scrape(wrapped), "http_requests_total", handler="none", method="GET", status="2xx") == 1


def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    app = make_app()

    async def get() -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        sent: list[dict] = []  # type: ignore[type-arg]
        scope = {"type": "http", "method": "GET", "path": "/metrics", "root_path": "",
                 "headers": [(b"accept", b"application/openmetrics-text; version=1.0.0")]}

        async def send(m: dict) -> None:  # type: ignore[type-arg]
            sent.append(m)

        await app(scope, None, send)  # type: ignore[arg-type]
        return sent[0]["status"], sent[1]["body"], sent[0]["headers"]

    status, body, headers = asyncio.run(get())
    assert status == 200 and body.endswith(b"# EOF\n")
    assert dict(headers)[b"content-type"].startswith(b"application/openmetrics-text")


@pytest.mark.parametrize("kw, words", [
    ({"naming": "flask"}, "naming='flask'"),
    ({"buckets": (1.0, 0.5)}, "strictly increasing"),
    ({"buckets": ()}, "non-empty"),
    ({"metrics_path": "metrics"}, "must start with '/'"),
    ({"websocket_prefix": "ggrt-"}, "websocket prefix"),
    ({"websocket_labels": {"handler": "x"}}, "const label 'handler'"),
])
def test_bad_settings_say_what_to_fix(kw: dict[str, object], words: str) -> None:
    with pytest.raises(InstrumentError, match=words.replace("(", r"\(").replace(")", r"\)")):
        instrument(FastAPI(), registry=CollectorRegistry(), **kw)  # type: ignore[arg-type]
