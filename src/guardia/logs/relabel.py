"""relabel_configs of log scrape jobs, as Promtail applies them.

A job's relabel rules (Prometheus's, the same model as the scrape config's) see the source's
own labels under ``__`` names: a tailed file's ``__path__`` and ``filename`` (and Docker's
``container_id``/``container``), a syslog message's ``__syslog_message_hostname``,
``__syslog_message_app_name``, ``__syslog_message_severity``, ``__syslog_message_facility``,
``__syslog_message_proc_id``, ``__syslog_message_msg_id`` and ``__syslog_message_sd_<id>_<key>``,
a journal record's fields as ``__journal_<field in lower case>`` (``__journal__systemd_unit``).
What a rule does not copy to a plain name is dropped with the other ``__`` labels; a ``drop``
or ``keep`` that refuses the set drops the file, message or record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guardia.config.relabel import RelabelConfig
from guardia.config.schema import ValidationError
from guardia.model import relabel


def parse_relabel_configs(raw: Any, where: str, err: Any) -> tuple[RelabelConfig, ...]:
    """Each rule checked as Prometheus checks it; problems reported with their index."""
    if raw is None:
        return ()
    if not isinstance(raw, list | tuple):
        err(where, "must be a list of relabel rules")
        return ()
    out: list[RelabelConfig] = []
    for i, r in enumerate(raw):
        try:
            out.append(RelabelConfig.model_validate(r))
        except ValidationError as e:
            for d in e.errors():
                loc = "".join(f".{p}" for p in d["loc"])
                err(f"{where}[{i}]{loc}", d["msg"])
    return tuple(out)


def relabeled(labels: Mapping[str, str], rules: Sequence[RelabelConfig]) -> dict[str, str] | None:
    """``labels`` after ``rules`` without the ``__`` labels; None when a rule drops them."""
    out = relabel.process(dict(labels), rules)
    if out is None:
        return None
    return {k: v for k, v in out.items() if not k.startswith("__") and v != ""}
