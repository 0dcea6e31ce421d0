"""The Django middleware and URL include, in a Django process of their own (Django's settings are
once per process), driven by Django's test client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.instrument.asgi_driver import samples, value

REPO = Path(__file__).resolve().parents[2]

_DRIVE = """
import sys
from tests.instrument.apps import django_app
from django.test import Client
c = Client(raise_request_exception=False)
for i in range(3):
    assert c.get(f"/work/{i}").status_code == 200
assert c.post("/work/9", data=b"x" * 500, content_type="application/octet-stream").status_code == 200
assert c.get("/boom").status_code == 500
for p in ("/wp-admin.php", "/.env", "/a/b/c/d"):
    assert c.get(p).status_code == 404
sys.stdout.write(c.get("/metrics").content.decode())
"""


def drive(naming: str, extra: str = "") -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}", "NAMING": naming}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    out = subprocess.run([sys.executable, "-c", extra or _DRIVE], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_instrumentator_naming_uses_the_url_pattern_and_none_for_unmatched() -> None:
    rc, text, err = drive("")
    assert rc == 0, err
    assert value(text, "http_requests_total", handler="/work/<int:n>", method="GET", status="2xx") == 3
    assert value(text, "http_requests_total", handler="/work/<int:n>", method="POST", status="2xx") == 1
    assert value(text, "http_requests_total", handler="/boom", method="GET", status="5xx") == 1
    assert value(text, "http_requests_total", handler="none", method="GET", status="4xx") == 3
    assert value(text, "http_exceptions_total", handler="/boom", type="LookupError") == 1
    assert value(text, "http_request_size_bytes_sum", handler="/work/<int:n>") == 500
    handlers = {dict(labels).get("handler") for name, labels in samples(text)
                if name == "http_requests_total"}
    assert handlers == {"/work/<int:n>", "/boom", "none"}


def test_django_prometheus_naming_uses_view_names() -> None:
    rc, text, err = drive("django")
    assert rc == 0, err
    boom = "tests.instrument.apps.django_app.boom"  # Django's view_name of an unnamed pattern
    assert value(text, "django_http_requests_total_by_view_transport_method_total",
                 view="work", transport="http", method="GET") == 3
    assert value(text, "django_http_responses_total_by_status_view_method_total",
                 status="500", view=boom, method="GET") == 1
    assert value(text, "django_http_exceptions_total_by_type_total", type="LookupError") == 1
    assert value(text, "django_http_exceptions_total_by_view_total", view=boom) == 1
    assert value(text, "django_http_requests_latency_seconds_by_view_method_count",
                 view="work", method="POST") == 1
    assert value(text, "django_http_requests_before_middlewares_total") == 8
    assert value(text, "django_http_responses_total_by_status_total", status="404") == 3


@pytest.mark.parametrize("setting, words", [
    ("{'naming': 'prometheus'}", "naming='prometheus'"),
    ("{'bukets': [1]}", "unknown key(s) bukets"),
    ("['django']", "must be a dict"),
])
def test_a_bad_setting_names_the_setting(setting: str, words: str) -> None:
    script = (
        "import guardia.instrument\n"
        "from django.conf import settings\n"
        f"settings.configure(ROOT_URLCONF=[], GUARDIA_INSTRUMENT={setting}, SECRET_KEY='x')\n"
        "import django; django.setup()\n"
        "from guardia.instrument.django import PrometheusMiddleware\n"
        "PrometheusMiddleware(lambda r: None)\n"
    )
    rc, _, err = drive("", script)
    assert rc == 1
    assert "InstrumentError" in err and words in err, err
