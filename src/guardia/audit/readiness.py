"""``guardia readiness``: a go/no-go checklist in the spirit of seed 001, from evidence.

Each item is PASS, FAIL or UNKNOWN with the evidence that decided it (the query and the value
it returned, the file and line, the snapshot and when it was taken).  UNKNOWN is never PASS:
an item that cannot be checked (no ``--url``, no data directory, no web config) says what is
missing, and the verdict is GO only when every item of the profile passed.

Profiles set what is required: ``small-team`` (a team's first production) and ``government``
(seed 001's bar: daily restorable snapshots, a year of retention, delivery tested weekly,
SLOs within budget, no Bugs in the audit, auth and TLS on).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import httpx
import yaml

from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError
from guardia.config.placeholders import placeholder_reason

PASS, FAIL, UNKNOWN = "PASS", "FAIL", "UNKNOWN"
DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    delivery_days: int
    retention_days: int
    snapshot_max_age_days: float
    slos_required: bool
    audit_bugs_allowed: bool
    auth_tls_required: bool


PROFILES = {
    "small-team": Profile("small-team", delivery_days=30, retention_days=15, snapshot_max_age_days=7,
                          slos_required=False, audit_bugs_allowed=True, auth_tls_required=False),
    "government": Profile("government", delivery_days=7, retention_days=365, snapshot_max_age_days=1,
                          slos_required=True, audit_bugs_allowed=False, auth_tls_required=True),
}


@dataclass(slots=True)
class Evidence:
    text: str
    query: str = ""
    value: str = ""
    file: str = ""
    line: int | None = None
    timestamp: float | None = None


@dataclass(slots=True)
class Item:
    id: str
    title: str
    status: str
    summary: str
    evidence: list[Evidence] = field(default_factory=list)
    required: bool = True


@dataclass(slots=True)
class Checklist:
    profile: str
    generated: float
    items: list[Item]

    @property
    def verdict(self) -> str:
        required = [i for i in self.items if i.required]
        return "GO" if required and all(i.status == PASS for i in required) else "NO-GO"

    def to_dict(self) -> dict[str, Any]:
        return {"profile": self.profile, "generated": _iso(self.generated), "verdict": self.verdict,
                "items": [asdict(i) for i in self.items]}


def _iso(t: float | None) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else ""


@dataclass(slots=True)
class Sources:
    """What the checklist may look at; any of it may be missing (then items are UNKNOWN)."""

    inp: AuditInput
    findings: list[Finding]
    live: Live | None = None
    url: str = ""
    data_dir: str = ""
    web_config_file: str = ""
    retention_s: float | None = None
    now: float = field(default_factory=time.time)


# -- items -------------------------------------------------------------------------------------

_COVERAGE = ("coverage/up-alert", "coverage/http-metrics", "coverage/probe-alert", "coverage/target-down")


def coverage(s: Sources, p: Profile) -> Item:
    title = "Monitoring coverage: every job, service and probe has an alert and its metrics exist"
    if s.inp.prometheus is None:
        return Item("coverage", title, UNKNOWN, "no prometheus.yml or guardia.yml was given")
    gaps = [f for f in s.findings
            if f.check in _COVERAGE or (f.check == "promql/series" and f.severity is Severity.BUG)]
    ev = [Evidence(f"{f.check}: {f.message}", file=f.file, line=f.line) for f in gaps]
    jobs = len(s.inp.jobs())
    if gaps:
        return Item("coverage", title, FAIL, f"{len(gaps)} gaps in {jobs} jobs", ev)
    if s.live is None:
        return Item("coverage", title, UNKNOWN, "every job has a down alert, but without --url it is "
                    "unknown whether the metrics the alerts read exist",
                    [Evidence(f"{jobs} jobs checked against the rule files", file=s.inp.prometheus_file)])
    return Item("coverage", title, PASS, f"{jobs} jobs covered; every rule's metrics exist on {s.live.name}",
                [Evidence(f"{jobs} jobs, {len(s.inp.alert_names())} alerts", file=s.inp.prometheus_file)])


def delivery(s: Sources, p: Profile) -> Item:
    title = f"Alert delivery: every receiver delivered a notification in the last {p.delivery_days} days"
    am = s.inp.alertmanager
    if am is None:
        return Item("delivery", title, UNKNOWN, "no alertmanager configuration was given")
    broken = [f for f in s.findings if f.check in ("receiver/placeholder", "receiver/failing")]
    ev = [Evidence(f"{f.check}: {f.message}", file=f.file, line=f.line) for f in broken]
    if s.live is None:
        status = FAIL if broken else UNKNOWN
        return Item("delivery", title, status, "receivers with placeholders or failures" if broken else
                    "without --url the delivery history is unknown", ev)
    used = _used_receivers(s)
    window = f"{p.delivery_days}d"
    sent = f"sum by (receiver_name) (increase(alertmanager_notifications_total[{window}]))"
    failed = f"sum by (receiver_name) (increase(alertmanager_notifications_failed_total[{window}]))"
    # no failure series at all means no failure (guardia creates them on the first failure)
    q_ok = f"{sent} - ({failed} or {sent} * 0)"
    try:
        rows = s.live.query(q_ok)
    except LiveError as e:
        return Item("delivery", title, UNKNOWN, f"{s.live.name} did not answer: {e}", ev)
    delivered = {labels.get("receiver_name", ""): v for labels, v in rows}
    for name in sorted(used):
        v = delivered.get(name)
        value = "no data" if v is None else f"{v:.0f}"
        ok = v is not None and v >= 1
        ev.append(Evidence(f'receiver "{name}": {"delivered" if ok else "no successful delivery"}',
                           query=q_ok, value=value, timestamp=s.now))
        if not ok:
            broken.append(Finding("readiness", Severity.BUG, "", None, name))
    if broken:
        return Item("delivery", title, FAIL, f"{len(broken)} receivers not proven to deliver "
                    f"(send one with `guardia notify test --receiver NAME`)", ev)
    return Item("delivery", title, PASS, f"{len(used)} receivers delivered in the last {window}", ev)


def _used_receivers(s: Sources) -> set[str]:
    am = s.inp.alertmanager
    out: set[str] = set()
    stack = [am.route] if am is not None and am.route is not None else []
    while stack:
        r = stack.pop()
        if r.receiver:
            out.add(r.receiver)
        stack.extend(r.routes)
    # a receiver with no integrations (a deliberate black hole) has nothing to deliver
    return {n for n in out if am is not None and (rc := am.receiver(n)) is not None and rc.integrations()}


def retention(s: Sources, p: Profile) -> Item:
    title = f"Retention: at least {p.retention_days} days and every rule range and SLO window"
    have = s.retention_s
    where = "--retention"
    if have is None and s.live is not None:
        have, where = s.live.retention_s(), f"{s.live.name}/api/v1/status/runtimeinfo"
    if have is None:
        return Item("retention", title, UNKNOWN, "the retention is unknown: give --url or --retention")
    ev = [Evidence(f"retention {have / DAY:g} days",
                   query="storageRetention" if "runtimeinfo" in where else "",
                   value=f"{have / DAY:g}d", timestamp=s.now, file="" if "runtimeinfo" in where else where)]
    short = [f for f in s.findings if f.check == "coverage/retention"]
    ev += [Evidence(f.message, file=f.file, line=f.line) for f in short]
    need = p.retention_days * DAY
    if have < need or short:
        return Item("retention", title, FAIL, f"{have / DAY:g} days kept; {p.retention_days} required"
                    + (f", {len(short)} rules or SLOs read further back" if short else ""), ev)
    return Item("retention", title, PASS, f"{have / DAY:g} days kept ({p.retention_days} required)", ev)


def snapshots(s: Sources, p: Profile) -> Item:
    title = (f"Backups: a snapshot younger than {p.snapshot_max_age_days:g} days exists and restores")
    if not s.data_dir:
        return Item("snapshots", title, UNKNOWN, "no data directory given (--storage.tsdb.path)")
    root = Path(s.data_dir) / "snapshots"
    snaps = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime) \
        if root.is_dir() else []
    if not snaps:
        return Item("snapshots", title, FAIL, f"no snapshot under {root} (take one with "
                    "POST /api/v1/admin/tsdb/snapshot or `guardia tsdb snapshot`)",
                    [Evidence(f"{root}: empty or missing", file=str(root), timestamp=s.now)])
    newest = snaps[-1]
    taken = newest.stat().st_mtime
    ev = [Evidence(f"newest of {len(snaps)} snapshots: {newest.name}", file=str(newest), timestamp=taken)]
    ok, text = restore_check(newest)
    ev.append(Evidence(text, file=str(newest), timestamp=s.now))
    age_days = (s.now - taken) / DAY
    if not ok:
        return Item("snapshots", title, FAIL, f"the newest snapshot does not restore: {text}", ev)
    if age_days > p.snapshot_max_age_days:
        return Item("snapshots", title, FAIL, f"the newest snapshot is {age_days:.1f} days old "
                    f"(at most {p.snapshot_max_age_days:g} allowed)", ev)
    return Item("snapshots", title, PASS, f"{newest.name} ({age_days * 24:.1f} h old) restored: {text}", ev)


def restore_check(snapshot: Path) -> tuple[bool, str]:
    """Restore ``snapshot`` into a temporary directory, open it as a store and read it back."""
    from guardia.model.labels import METRIC_NAME
    from guardia.model.matchers import Matcher, MatchType
    from guardia.storage.tsdb.block import is_block_dir
    from guardia.storage.tsdb.db import TSDB

    blocks = [b for b in sorted(snapshot.iterdir()) if is_block_dir(b)]
    if not blocks:
        return False, f"{snapshot} holds no blocks"
    tmp = Path(tempfile.mkdtemp(prefix="guardia-restore-"))
    try:
        for b in blocks:
            shutil.copytree(b, tmp / b.name)
        db = TSDB.open(tmp, read_only=True)
        try:
            metas = [json.loads((b / "meta.json").read_text()) for b in blocks]
            mint = min(int(m["minTime"]) for m in metas)
            maxt = max(int(m["maxTime"]) for m in metas)
            q = db.querier(mint, maxt)
            try:
                series = q.series([Matcher(METRIC_NAME, MatchType.REGEX, ".+")])
            finally:
                q.close()
        finally:
            db.close()
    except Exception as e:
        return False, f"restoring into a temporary directory failed: {type(e).__name__}: {e}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not series:
        return False, "restored, but the blocks hold no series"
    return True, (f"{len(blocks)} blocks restored into a temporary directory and read back: {len(series)} "
                  f"series from {_iso(mint / 1000)} to {_iso(maxt / 1000)}")


def slos(s: Sources, p: Profile) -> Item:
    title = "SLOs: defined for the services and within their error budget"
    if not s.inp.slos:
        return Item("slos", title, FAIL if p.slos_required else UNKNOWN,
                    "no SLOs are defined (slos: in guardia.yml)", required=p.slos_required)
    ev = [Evidence(f'SLO "{getattr(x, "service", "")}/{getattr(x, "name", "")}" '
                   f"{getattr(x, 'objective', 0) * 100:g}%", file=getattr(x, "file", "")) for x in s.inp.slos]
    if not s.url:
        return Item("slos", title, UNKNOWN, f"{len(s.inp.slos)} SLOs defined; their budgets need --url "
                    "pointing at guardia (/api/v1/slos)", ev, required=p.slos_required)
    try:
        data = httpx.get(s.url.rstrip("/") + "/api/v1/slos", timeout=15).json()["data"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
        return Item("slos", title, UNKNOWN, f"{s.url} has no /api/v1/slos (a Prometheus has no SLOs): "
                    f"{type(e).__name__}", ev, required=p.slos_required)
    spent = []
    for d in data:
        left = (d.get("status") or {}).get("errorBudgetRemaining")
        ev.append(Evidence(f'{d.get("service")}/{d.get("name")}: budget left',
                           query=f"{s.url}/api/v1/slos", value="no data" if left is None else f"{left:.1%}",
                           timestamp=s.now))
        if left is None or left <= 0:
            spent.append(f'{d.get("service")}/{d.get("name")}')
    if spent:
        return Item("slos", title, FAIL, f"out of budget or without data: {', '.join(spent)}", ev,
                    required=p.slos_required)
    return Item("slos", title, PASS, f"{len(data)} SLOs within budget", ev, required=p.slos_required)


_SECRET_KEY = re.compile(r"(password|passwd|secret|token|api_key|apikey|routing_key|service_key|"
                         r"credentials|client_secret)$", re.I)
_SECRET_URL = re.compile(r"hooks\.slack\.com/services/|[?&](token|key|apikey)=|//[^/@\s]+:[^/@\s]+@", re.I)


def secrets(s: Sources, p: Profile) -> Item:
    title = "Secrets: none written in the configuration files (use *_file or the environment)"
    files = [f for f in s.inp.files if f.endswith((".yml", ".yaml"))]
    if not files:
        return Item("secrets", title, UNKNOWN, "no configuration files were given")
    ev: list[Evidence] = []
    for f in files:
        src = s.inp.source(f)
        if src is None:
            continue
        for path, value in _walk(src.data, ()):
            key = str(path[-1]) if path else ""
            if not isinstance(value, str) or not value or value.startswith("${"):
                continue
            if _SECRET_KEY.search(key) or _SECRET_URL.search(value):
                what = "a placeholder" if placeholder_reason(value) else "a secret written inline"
                ev.append(Evidence(f"{'.'.join(map(str, path))} is {what}", file=f, line=src.mark(path)[0]))
    if ev:
        return Item("secrets", title, FAIL, f"{len(ev)} secrets in configuration files", ev)
    return Item("secrets", title, PASS, f"{len(files)} files hold no inline secret",
                [Evidence(f"checked {f}", file=f) for f in files])


def _walk(v: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _walk(x, (*path, k))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _walk(x, (*path, i))
    else:
        yield path, v


def auth_tls(s: Sources, p: Profile) -> Item:
    title = "Access: the web endpoints require authentication and serve TLS"
    ev: list[Evidence] = []
    tls = auth = None
    if s.web_config_file:
        try:
            data = yaml.safe_load(Path(s.web_config_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            return Item("auth-tls", title, FAIL, f"the web config file cannot be read: {e}",
                        [Evidence(str(e), file=s.web_config_file)], required=p.auth_tls_required)
        t = data.get("tls_server_config") or {} if isinstance(data, dict) else {}
        tls = bool(t.get("cert_file") and t.get("key_file"))
        users = data.get("basic_auth_users") if isinstance(data, dict) else None
        auth = bool(users) or any(k in data for k in ("users", "tokens", "oidc", "auth")) \
            if isinstance(data, dict) else False
        ev.append(Evidence(f"tls_server_config {'has' if tls else 'lacks'} cert_file and key_file; "
                           f"{'users are' if auth else 'no user is'} defined", file=s.web_config_file))
    if s.url:
        scheme_tls = s.url.startswith("https://")
        tls = scheme_tls if tls is None else (tls and scheme_tls)
        try:
            r = httpx.get(s.url.rstrip("/") + "/api/v1/status/config", timeout=10, verify=False)
            open_ = r.status_code == 200
            auth = (not open_) if auth is None else (auth and not open_)
            ev.append(Evidence("an unauthenticated GET /api/v1/status/config",
                               query=f"{s.url}/api/v1/status/config",
                               value=f"HTTP {r.status_code}", timestamp=s.now))
        except httpx.HTTPError as e:
            ev.append(Evidence(f"{s.url} did not answer: {type(e).__name__}", timestamp=s.now))
    if tls is None or auth is None:
        return Item("auth-tls", title, UNKNOWN,
                    "give --web.config.file (the file guardia serves with) or --url "
                    "to check access", ev, required=p.auth_tls_required)
    if tls and auth:
        return Item("auth-tls", title, PASS, "authentication and TLS are on", ev,
                    required=p.auth_tls_required)
    off = [w for w, on in (("authentication", auth), ("TLS", tls)) if not on]
    return Item("auth-tls", title, FAIL, f"{' and '.join(off)} off", ev, required=p.auth_tls_required)


def audit_clean(s: Sources, p: Profile) -> Item:
    title = "Audit: no Bug in the rule, routing and coverage audit"
    bugs = [f for f in s.findings if f.severity is Severity.BUG]
    ev = [Evidence(f"{f.check}: {f.message}", file=f.file, line=f.line) for f in bugs]
    required = not p.audit_bugs_allowed
    if not s.inp.files:
        return Item("audit", title, UNKNOWN, "no configuration files were given", required=required)
    if bugs:
        return Item("audit", title, FAIL, f"{len(bugs)} bugs (`guardia audit` lists them)", ev,
                    required=required)
    if s.live is None:
        return Item("audit", title, UNKNOWN, "no Bug in the files; the live checks need --url",
                    required=required)
    return Item("audit", title, PASS, "no Bug", required=required)


ITEMS = (coverage, delivery, retention, snapshots, slos, secrets, auth_tls, audit_clean)


def checklist(s: Sources, profile: str) -> Checklist:
    p = PROFILES[profile]
    return Checklist(p.name, s.now, [item(s, p) for item in ITEMS])


# -- rendering -----------------------------------------------------------------------------------


def _where(e: Evidence) -> str:
    parts = []
    if e.file:
        parts.append(f"{e.file}:{e.line}" if e.line else e.file)
    if e.query:
        parts.append(f"query `{e.query}` = {e.value}" if e.value else f"query `{e.query}`")
    elif e.value:
        parts.append(e.value)
    if e.timestamp:
        parts.append(_iso(e.timestamp))
    return "; ".join(parts)


def markdown(c: Checklist) -> str:
    out = [f"# Readiness ({c.profile}): **{c.verdict}**", "", f"Generated {_iso(c.generated)}.", "",
           "| item | status | summary |", "|---|---|---|"]
    for i in c.items:
        flag = "" if i.required else " (advisory)"
        out.append(f"| {i.title}{flag} | **{i.status}** | {i.summary.replace('|', '/')} |")
    for i in c.items:
        out += ["", f"## {i.status}: {i.title}", "", i.summary]
        if i.evidence:
            out.append("")
        out += [f"- {e.text}" + (f" ({_where(e)})" if _where(e) else "") for e in i.evidence]
    return "\n".join(out) + "\n"


def html(c: Checklist) -> str:
    rows = "".join(
        f'<tr class="{i.status.lower()}"><td>{escape(i.title)}'
        f'{"" if i.required else " <em>(advisory)</em>"}</td>'
        f"<td><strong>{i.status}</strong></td><td>{escape(i.summary)}<ul>"
        + "".join(f"<li>{escape(e.text)}"
                  + (f' <span class="ev">{escape(_where(e))}</span>' if _where(e) else "")
                  + "</li>" for e in i.evidence)
        + "</ul></td></tr>" for i in c.items)
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>Readiness</title><style>"
            "body{font-family:sans-serif;margin:2em}"
            "td{vertical-align:top;padding:.4em;border-bottom:1px solid #ddd}"
            ".pass strong{color:#137333}.fail strong{color:#a50e0e}.unknown strong{color:#7a5a00}"
            ".ev{color:#555;font-family:monospace;font-size:.9em}</style></head><body>"
            f"<h1>Readiness ({escape(c.profile)}): {c.verdict}</h1><p>Generated {_iso(c.generated)}.</p>"
            f"<table><thead><tr><th>Item</th><th>Status</th><th>Evidence</th></tr></thead><tbody>{rows}"
            "</tbody></table></body></html>\n")


def render(c: Checklist, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(c.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "html":
        return html(c)
    return markdown(c)

