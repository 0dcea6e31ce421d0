"""A browser at `/`, and every link a notification carries, gets a readable page, not JSON.

Links are followed the way a person clicking them would: over real HTTP, redirects followed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from guardia.model import Labels
from guardia.promql import Engine
from guardia.rules.alerting import Alert, AlertState
from guardia.rules.notifier import to_postable
from guardia.storage.memory import MemoryStorage
from guardia.web import AppDeps, create_app
from guardia.web.adapters import ProcessStatus
from guardia.web.api_v1 import ApiDeps
from guardia.web.protocols import RuntimeView

from .conftest import LiveServer


@pytest.fixture(scope="module", params=["", "/guardia"], ids=["root", "prefix"])
def site(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, str]]:
    prefix = str(request.param)
    now = int(time.time() * 1000)
    st = MemoryStorage()
    st.add_series(Labels.of(__name__="up", job="api", instance="a:1"), [now - 15_000, now], [1.0, 0.0])
    status = ProcessStatus(lambda: "global: {}\n", {}, lambda: RuntimeView(now, "/", True, now, "", "15d"))
    app = create_app(AppDeps(api=ApiDeps(storage=st, engine=Engine(), status=status), route_prefix=prefix))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10, follow_redirects=True) as c:
        yield c, prefix


def _html(r: httpx.Response) -> str:
    assert r.status_code == 200, (r.url, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def test_home_is_a_small_html_page_with_links(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    page = _html(c.get(prefix + "/"))
    assert "<h1>guardia " in page
    for path in ("/api/v1/targets", "/api/v1/alerts", "/api/v1/rules", "/metrics", "/explore"):
        assert f'href="{prefix}{path}"' in page
    assert "docs/configuration.md" in page


def test_every_local_link_on_the_home_page_answers(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    page = _html(c.get(prefix + "/"))
    hrefs = set(re.findall(r'href="(/[^"]*)"', page))
    assert len(hrefs) >= 8
    for h in hrefs:
        r = c.get(h)
        assert r.status_code in (200, 503), (h, r.status_code)  # 503: the no-Alertmanager answer
        if r.status_code == 503:
            assert h.startswith(prefix + "/api/v2/") and "no Alertmanager is configured" in r.text


def test_generator_url_opens_the_expression(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    alert = Alert(labels=Labels.of(alertname="TargetDown", job="api"), annotations={},
                  state=AlertState.FIRING, active_at_ms=0, fired_at_ms=0, value=0.0)
    external = str(c.base_url).rstrip("/") + prefix
    postable = to_postable(alert, 'up{job="api"} == 0', {}, external)
    url = postable["generatorURL"]
    assert "/graph?g0.expr=" in url  # Prometheus's form, which tools parse
    r = c.get(url)
    page = _html(r)
    assert str(r.url).startswith(external + "/explore?expr=")
    assert 'value="up{job=&quot;api&quot;} == 0"' in page
    assert "a:1" in page  # the series the alert is about, evaluated now


def test_explore_shows_errors_with_their_position(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    page = _html(c.get(prefix + "/explore", params={"expr": "up +"}))
    assert "1:5: parse error: unexpected end of input" in page


def test_external_url_and_alertmanager_links_land_on_a_page(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    external = str(c.base_url).rstrip("/") + prefix
    # externalURL, and Slack's default title_link {{ .ExternalURL }}/#/alerts?receiver=...
    for link in (external, external + "/", external + "/#/alerts?receiver=team"):
        page = _html(c.get(link))
        assert "<h1>guardia " in page


def test_without_an_alertmanager_api_v2_says_why(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    status = c.get(prefix + "/api/v2/status")
    assert status.status_code == 200
    assert "no Alertmanager is configured" in status.json()["config"]["original"]
    for path in ("/api/v2/alerts", "/api/v2/silences", "/api/v2/receivers"):
        r = c.get(prefix + path)
        assert r.status_code == 503
        assert "add an alertmanager: section to guardia.yml" in r.json()
