from __future__ import annotations

from django.apps import AppConfig


class GuardiaConfig(AppConfig):
    name = "guardia.contrib.django"
    label = "guardia_django"
    verbose_name = "guardia"

    def ready(self) -> None:
        from guardia.contrib.django.signals import connect_configured

        connect_configured()
