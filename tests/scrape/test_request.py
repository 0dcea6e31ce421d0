"""Request headers and parser choice (pure functions of the job config and the response)."""

from __future__ import annotations

import pytest

from guardia.scrape.ingest import ScrapeError
from guardia.scrape.request import accept_header, choose_parser, request_headers
from tests.scrape.helpers import job


def test_default_accept_prefers_openmetrics_then_text() -> None:
    assert accept_header(None) == (
        "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.9,"
        "text/plain;version=1.0.0;q=0.8,text/plain;version=0.0.4;q=0.7,*/*;q=0.1"
    )


def test_protobuf_is_never_requested() -> None:
    assert accept_header(("PrometheusProto", "PrometheusText0.0.4")) == "text/plain;version=0.0.4,*/*;q=0.1"


@pytest.mark.parametrize(
    ("content_type", "fallback", "openmetrics"),
    [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", None, True),
        ("text/plain; version=0.0.4; charset=utf-8", None, False),
        ("Text/Plain", None, False),
        ("", "OpenMetricsText1.0.0", True),
        ("application/json", "PrometheusText0.0.4", False),
    ],
)
def test_parser_from_content_type(content_type: str, fallback: str | None, openmetrics: bool) -> None:
    assert choose_parser(content_type, fallback) is openmetrics


@pytest.mark.parametrize(
    ("content_type", "reason"), [("", "blank Content-Type"), ("text/html", "'text/html'")]
)
def test_unusable_content_type_is_an_error(content_type: str, reason: str) -> None:
    with pytest.raises(ScrapeError, match=reason):
        choose_parser(content_type, None)


def test_credentials_and_compression_headers() -> None:
    cfg = job("scrape_configs:\n  - job_name: j\n    basic_auth: {username: a, password: b}\n"
              "    enable_compression: false\n    static_configs: [{targets: ['h:1']}]\n")
    h = request_headers(cfg)
    assert h["Authorization"] == "Basic YTpi"
    assert h["Accept-Encoding"] == "identity"
