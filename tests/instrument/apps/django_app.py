"""A one-file Django project the tests run under a real gunicorn."""

from __future__ import annotations

import os

import django
from django.conf import settings

import guardia.instrument  # noqa: F401  before the app's own metrics

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="test-only-not-secret",
    MIDDLEWARE=["guardia.instrument.django.PrometheusMiddleware"],
    GUARDIA_INSTRUMENT=({"naming": os.environ["NAMING"]} if os.environ.get("NAMING") else {}),
)
django.setup()

from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import include, path  # noqa: E402


def work(request: HttpRequest, n: int) -> JsonResponse:
    return JsonResponse({"n": n, "pid": os.getpid()})


def boom(request: HttpRequest) -> JsonResponse:
    raise LookupError("nothing here")


urlpatterns = [
    path("work/<int:n>", work, name="work"),
    path("boom", boom),
    path("", include("guardia.instrument.django.urls")),
]

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
