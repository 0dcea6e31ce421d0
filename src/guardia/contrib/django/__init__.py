"""guardia for Django apps: signals as alerts, ERROR logs as alerts, checks from ``manage.py``.

Add ``"guardia.contrib.django"`` to ``INSTALLED_APPS`` and configure it in settings::

    GUARDIA = {
        "URL": "http://127.0.0.1:9090",           # guardia (or any Alertmanager API v2)
        "SIGNALS": {                              # signals the app already sends
            "dora_metrics.alerts.critical_alert": {"severity": "critical"},
            "dora_metrics.alerts.warning_alert": {"severity": "warning"},
        },
        "CONFIG": BASE_DIR / "guardia.yml",       # for ``manage.py guardia_checks``
        "LABELS": {"service": "callcentersite"},   # added to every alert
    }

and, for ERROR records, the handler ``guardia.contrib.django.logging.GuardiaAlertHandler`` in
``LOGGING``.  Alerts are sent from a background thread (a request never waits for guardia)
with the client's retries and local spool.
"""
