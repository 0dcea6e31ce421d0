"""The SLO pages and API behind a route prefix (``--web.external-url http://host/guardia``):
every link on the pages answers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from guardia.promql import Engine
from guardia.rules import RuleManager
from guardia.slo.service import SLOService
from guardia.web import AppDeps, create_app, slo_api, slo_pages
from guardia.web.api_v1 import ApiDeps
from tests.slo.synth import HOUR, T0, Traffic
from tests.web.conftest import LiveServer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module", params=["", "/guardia"], ids=["root", "prefix"])
def site(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, str]]:
    prefix = str(request.param)
    storage = Traffic.steady(2).store()
    rules = RuleManager(storage, run_in_thread=False)
    rules.update([])
    svc = SLOService(storage, Engine(), rules, clock=lambda: (T0 + 2 * HOUR) / 1000)
    cfg = tmp_path_factory.mktemp("cfg") / "guardia.yml"
    cfg.write_text(f"slos:\n  - file: {DATA / 'api.yml'}\n")
    svc.apply_config(SimpleNamespace(file=str(cfg), slos=("x",)))
    svc.tick(T0 + 2 * HOUR)
    app = create_app(AppDeps(api=ApiDeps(storage=storage, engine=Engine()), route_prefix=prefix,
                             extra_routes=[*slo_api.routes(svc), *slo_pages.routes(svc, prefix)]))
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        yield c, prefix


def test_every_link_on_the_slo_pages_answers(site: tuple[httpx.Client, str]) -> None:
    c, prefix = site
    listing = c.get(f"{prefix}/slos")
    assert listing.status_code == 200
    links = set(re.findall(r'href="([^"]+)"', listing.text))
    slo_links = [h for h in links if h.startswith(f"{prefix}/slos/")]
    assert slo_links
    for href in slo_links:
        page = c.get(href)
        assert page.status_code == 200, href
        for inner in set(re.findall(r'href="([^"]+)"', page.text)):
            if inner.startswith(f"{prefix}/slos"):
                assert c.get(inner.replace("&amp;", "&")).status_code == 200, inner
            if "/explore?" in inner:
                assert inner.startswith(f"{prefix}/explore?")
    assert c.get(f"{prefix}/api/v1/slos").json()["status"] == "success"
