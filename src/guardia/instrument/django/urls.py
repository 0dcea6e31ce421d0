"""``path("", include("guardia.instrument.django.urls"))``: the ``metrics`` page."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import path

from guardia.instrument.django import metrics


def exposition_view(request: Any) -> HttpResponse:
    _, exposition = metrics()
    body, content_type = exposition.render(request.META.get("HTTP_ACCEPT", ""))
    return HttpResponse(body, content_type=content_type)


urlpatterns = [path("metrics", exposition_view, name="prometheus-django-metrics")]
