"""Request headers and parser choice (pure functions of the job config and the response)."""

from __future__ import annotations

import pytest

from guardia.scrape.ingest import ScrapeError
from guardia.scrape.request import (
    OPENMETRICS,
    PROTOBUF,
    TEXT,
    accept_header,
    choose_parser,
    request_headers,
)
from tests.scrape.helpers import job


def test_default_accept_prefers_openmetrics_then_text() -> None:
    # Prometheus 3's header for its default protocols and escaping (scrape_test.go's expectation)
    assert accept_header(None, "allow-utf-8") == (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
    )


def test_protobuf_first_when_asked() -> None:
    assert accept_header(("PrometheusProto", "OpenMetricsText1.0.0", "OpenMetricsText0.0.1",
                          "PrometheusText1.0.0", "PrometheusText0.0.4"), "dots") == (
        "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,"
        "application/openmetrics-text;version=1.0.0;escaping=dots;q=0.5,"
        "application/openmetrics-text;version=0.0.1;q=0.4,"
        "text/plain;version=1.0.0;escaping=dots;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
    )


@pytest.mark.parametrize(
    ("content_type", "fallback", "fmt"),
    [
        ("application/openmetrics-text; version=1.0.0; charset=utf-8", None, OPENMETRICS),
        ("text/plain; version=0.0.4; charset=utf-8", None, TEXT),
        ("Text/Plain", None, TEXT),
        ("", "OpenMetricsText1.0.0", OPENMETRICS),
        ("application/json", "PrometheusText0.0.4", TEXT),
        ("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
         None, PROTOBUF),
        ("", "PrometheusProto", PROTOBUF),
    ],
)
def test_parser_from_content_type(content_type: str, fallback: str | None, fmt: str) -> None:
    assert choose_parser(content_type, fallback) == fmt


def test_protobuf_other_than_delimited_metric_families_is_refused() -> None:
    with pytest.raises(ScrapeError, match="encoding='text'"):
        choose_parser("application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; "
                      "encoding=text", None)


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
