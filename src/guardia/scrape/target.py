"""Targets: from discovered labels to a scrape URL, and the state /api/v1/targets shows.

``populate_labels`` is Prometheus's recipe: add ``job``, ``__scheme__``, ``__metrics_path__``,
``__scrape_interval__``, ``__scrape_timeout__`` and ``__param_*`` where discovery did not set
them, run relabel_configs, refuse a target without ``__address__``, drop ``__meta_*`` labels
and default ``instance`` to the address.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from guardia.config.prometheus import ScrapeConfig
from guardia.model import Labels, format_duration, parse_duration
from guardia.model.durations import DurationError
from guardia.model.labels import is_valid_label_name
from guardia.model.relabel import process


class TargetError(ValueError):
    """A discovered target that cannot be scraped (e.g. no address after relabeling)."""


def populate_labels(
    discovered: dict[str, str], cfg: ScrapeConfig
) -> tuple[dict[str, str] | None, dict[str, str]]:
    """(final labels or None when relabeling drops the target, labels before relabeling)."""
    lb = dict(discovered)
    defaults = {
        "job": cfg.job_name,
        "__scrape_interval__": format_duration(cfg.interval_ms),
        "__scrape_timeout__": format_duration(cfg.timeout_ms),
        "__metrics_path__": cfg.metrics_path,
        "__scheme__": cfg.scheme,
    }
    for k, v in defaults.items():
        if not lb.get(k):
            lb[k] = v
    for k, vals in (cfg.params or {}).items():
        if vals:
            lb["__param_" + k] = vals[0]
    pre = dict(lb)
    out = process(lb, cfg.relabel_configs)
    if out is None:
        return None, pre
    addr = out.get("__address__", "")
    if not addr:
        raise TargetError("no address")
    if "/" in addr or any(c.isspace() for c in addr):
        raise TargetError(f"invalid address {addr!r}: it must be host:port")
    for key in ("__scrape_interval__", "__scrape_timeout__"):
        try:
            parse_duration(out.get(key, ""))
        except DurationError as e:
            raise TargetError(f"error parsing {key} label: {e}") from None
    if parse_duration(out["__scrape_timeout__"]) > parse_duration(out["__scrape_interval__"]):
        raise TargetError(
            f"scrape timeout cannot be greater than scrape interval "
            f"({out['__scrape_timeout__']} > {out['__scrape_interval__']})"
        )
    for k in [k for k in out if k.startswith("__meta_")]:
        del out[k]
    if not out.get("instance"):
        out["instance"] = addr
    for k in out:
        # internal labels are not checked: ``params: {"match[]": ...}`` (federation, as
        # Prometheus's docs configure it) makes ``__param_match[]``, which Prometheus accepts
        if not k.startswith("__") and not is_valid_label_name(k):
            raise TargetError(f"{k!r} is not a valid label name")
    return out, pre


def scrape_url(labels: dict[str, str], params: Mapping[str, Sequence[str]] | None = None) -> str:
    """The URL to scrape.  Every value of the job's ``params`` is sent (federation lists several
    ``match[]``); a ``__param_<name>`` label, set by relabeling or defaulted from the first
    value, replaces that first value, as Prometheus does."""
    query: dict[str, list[str]] = {k: list(v) for k, v in (params or {}).items() if v}
    for k, v in labels.items():
        if k.startswith("__param_"):
            name = k[len("__param_"):]
            query[name] = [v, *query.get(name, [])[1:]]
    scheme = labels.get("__scheme__", "http")
    url = f"{scheme}://{labels['__address__']}{labels.get('__metrics_path__', '/metrics')}"
    if query:
        url += ("&" if "?" in url else "?") + urlencode(query, doseq=True)
    return url


def public_labels(labels: dict[str, str]) -> list[tuple[str, str]]:
    """The labels attached to scraped series: everything not starting with ``__``."""
    return sorted((k, v) for k, v in labels.items() if not k.startswith("__"))


@dataclass(slots=True)
class Target:
    """One scrape target and what its last scrape did (the /api/v1/targets entry)."""

    job: str
    labels: dict[str, str]
    discovered_labels: dict[str, str]
    url: str = ""
    health: str = "unknown"
    last_error: str = ""
    last_scrape: float = 0.0  # unix seconds
    last_scrape_duration: float = 0.0
    interval_ms: int = 0
    timeout_ms: int = 0
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.url:
            self.url = scrape_url(self.labels)
        if not self.interval_ms:
            self.interval_ms = parse_duration(self.labels["__scrape_interval__"])
        if not self.timeout_ms:
            self.timeout_ms = parse_duration(self.labels["__scrape_timeout__"])

    @property
    def public(self) -> Labels:
        return Labels(public_labels(self.labels))

    def key(self) -> str:
        """Identity: same labels (including __address__, __param_*) and URL = same target."""
        h = hashlib.blake2b(digest_size=16)
        for k, v in sorted(self.labels.items()):
            h.update(f"{k}\xff{v}\xff".encode())
        h.update(self.url.encode())
        return h.hexdigest()

    def offset_ms(self, seed: int = 0) -> int:
        """Stable phase within the interval, so a restart scrapes at the same moments."""
        h = int(self.key()[:16], 16) ^ seed
        return h % max(self.interval_ms, 1)

    def report(self, health: str, error: str, started: float, duration: float) -> None:
        self.health = health
        self.last_error = error
        self.last_scrape = started
        self.last_scrape_duration = duration

    def as_api(self, scrape_pool: str | None = None) -> dict[str, object]:
        """The JSON shape of an active target in Prometheus's /api/v1/targets."""
        return {
            "discoveredLabels": dict(sorted(self.discovered_labels.items())),
            "labels": dict(public_labels(self.labels)),
            "scrapePool": scrape_pool or self.job,
            "scrapeUrl": self.url,
            "globalUrl": self.url,
            "lastError": self.last_error,
            "lastScrape": _rfc3339(self.last_scrape),
            "lastScrapeDuration": self.last_scrape_duration,
            "health": self.health,
            "scrapeInterval": format_duration(self.interval_ms),
            "scrapeTimeout": format_duration(self.timeout_ms),
        }


@dataclass(frozen=True, slots=True)
class DroppedTarget:
    job: str
    discovered_labels: dict[str, str]
    reason: str = "dropped by relabeling"

    def as_api(self) -> dict[str, object]:
        return {"discoveredLabels": dict(sorted(self.discovered_labels.items())), "scrapePool": self.job}


def _rfc3339(t: float) -> str:
    if t <= 0:
        return "0001-01-01T00:00:00Z"
    ms = int(t * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{ms:03d}Z"
