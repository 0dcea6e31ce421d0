"""A minimal stand-in for the IACT call center's Django settings, with guardia wired in."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "dev-only-not-secret-iact-example")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "dora_metrics",
    "guardia.contrib.django",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
USE_TZ = True

GUARDIA = {
    "URL": os.environ.get("GUARDIA_URL", "http://127.0.0.1:9090"),
    "SPOOL_DIR": os.environ.get("GUARDIA_SPOOL_DIR") or str(BASE_DIR / "guardia-spool"),
    # the signals the team's code already sends become alerts
    "SIGNALS": {
        "dora_metrics.alerts.critical_alert": {"severity": "critical"},
        "dora_metrics.alerts.warning_alert": {"severity": "warning"},
    },
    "LABELS": {"service": "callcentersite"},
    "CONFIG": BASE_DIR.parent / "guardia.yml",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        # ERROR records become alerts: one per logger and message per minute, 30 a minute at most
        "guardia": {"class": "guardia.contrib.django.logging.GuardiaAlertHandler", "level": "ERROR",
                    "interval": 60, "burst": 30},
    },
    "root": {"handlers": ["console", "guardia"], "level": "INFO"},
}
