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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from guardia.audit import access
from guardia.audit.finding import Finding, Severity
from guardia.audit.inputs import AuditInput
from guardia.audit.live import Live, LiveError, auth_headers, redact_url
from guardia.audit.notify_tests import TestEvidence
from guardia.audit.routing import Delivery
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
    tests: TestEvidence | None = None  # recorded `guardia notify test` outcomes
    delivery: list[Delivery] | None = None  # serve's live integration status
    serving: bool = False  # the checklist of the running guardia itself: web_config_file is what it uses
    slo_list: Callable[[], list[dict[str, Any]]] | None = None  # serve's SLOs, as /api/v1/slos lists them


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
    """Per receiver a route uses: a passing ``guardia notify test`` in the window, or a
    notification the Alertmanager delivered in it (its counters, or serve's live status)."""
    title = f"Alert delivery: every receiver delivered a notification in the last {p.delivery_days} days"
    am = s.inp.alertmanager
    if am is None:
        return Item("delivery", title, UNKNOWN, "no alertmanager configuration was given")
    broken = [f for f in s.findings if f.check in ("receiver/placeholder", "receiver/failing")]
    ev = [Evidence(f"{f.check}: {f.message}", file=f.file, line=f.line) for f in broken]
    used = _used_receivers(s)
    horizon = s.now - p.delivery_days * DAY
    window = f"{p.delivery_days}d"
    tested = _tested(s, used, horizon, ev)
    live_sent = {d.receiver for d in s.delivery or [] if d.last_attempt_s >= horizon and not d.error}
    counted: dict[str, float] = {}
    q_ok = ""
    live_error = ""
    if s.live is not None:
        sent = f"sum by (receiver_name) (increase(alertmanager_notifications_total[{window}]))"
        failed = f"sum by (receiver_name) (increase(alertmanager_notifications_failed_total[{window}]))"
        # no failure series at all means no failure (guardia creates them on the first failure)
        q_ok = f"{sent} - ({failed} or {sent} * 0)"
        try:
            counted = {labels.get("receiver_name", ""): v for labels, v in s.live.query(q_ok)}
        except LiveError as e:
            live_error = f"{s.live.name} did not answer: {e}"
            ev.append(Evidence(live_error, timestamp=s.now))
    unproven: list[str] = []
    unknown: list[str] = []
    for name in sorted(used):
        if s.live is not None and not live_error:
            v = counted.get(name)
            ev.append(Evidence(f'receiver "{name}": '
                               f'{"delivered" if v is not None and v >= 1 else "no successful delivery"}',
                               query=q_ok, value="no data" if v is None else f"{v:.0f}", timestamp=s.now))
        if name in live_sent:
            last = max(d.last_attempt_s for d in s.delivery or [] if d.receiver == name and not d.error)
            ev.append(Evidence(f'receiver "{name}": the running Alertmanager delivered a notification',
                               timestamp=last))
        if tested.get(name) or name in live_sent or counted.get(name, 0.0) >= 1:
            continue
        # a record that could not be read at all (no access, not a file) proves nothing either way
        tests_read = s.tests is not None and not any(x.line is None for x in s.tests.problems)
        known = (s.live is not None and not live_error) or tests_read or s.delivery is not None
        (unproven if known or tested.get(name) is False else unknown).append(name)
    hint = "send one with `guardia notify test --receiver NAME`"
    if broken or unproven:
        names = sorted({f.arg for f in broken if f.check == "receiver/failing"} | set(unproven))
        return Item("delivery", title, FAIL, f"{len(names) or len(broken)} receivers not proven to "
                    f"deliver in the last {window}{': ' + ', '.join(names) if names else ''} ({hint})", ev)
    if unknown:
        return Item("delivery", title, UNKNOWN, f"no delivery evidence for {', '.join(unknown)}: give --url "
                    f"(the Alertmanager's counters) or --storage.tsdb.path (recorded tests), or {hint}", ev)
    return Item("delivery", title, PASS,
                f"{len(used)} receivers delivered or passed a test in the last {window}", ev)


def _tested(s: Sources, used: set[str], horizon: float, ev: list[Evidence]) -> dict[str, bool]:
    """receiver -> True when its newest test in the window passed on every integration it has
    now, False when it failed; receivers without a test in the window are absent."""
    am = s.inp.alertmanager
    if s.tests is None or am is None:
        return {}
    last = s.tests.latest()
    out: dict[str, bool] = {}
    for name in sorted(used):
        rc = am.receiver(name)
        integs = [f"{k}[{i}]" for k, i, _ in rc.integrations()] if rc is not None else []
        recs = [last[(name, i)] for i in integs if (name, i) in last and last[(name, i)].time >= horizon]
        for o in recs:
            ev.append(Evidence(f'receiver "{name}" ({o.integration}): `guardia notify test` '
                               f"{'delivered' if o.ok else 'FAILED: ' + o.error}"
                               + (f" (by {o.by})" if o.by else ""),
                               file=s.tests.source, value="ok" if o.ok else "error", timestamp=o.time))
        if recs:
            passed = all(o.ok for o in recs)
            out[name] = passed and len(recs) == len(integs)
            if passed and not out[name]:
                untested = [i for i in integs if not any(o.integration == i for o in recs)]
                ev.append(Evidence(f'receiver "{name}": {", ".join(untested)} not tested in the window',
                                   file=s.tests.source, timestamp=s.now))
    return out


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
    where = "--storage.tsdb.retention.time" if s.serving else "--retention"
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
    ok, text = _restored(newest)
    ev.append(Evidence(text, file=str(newest), timestamp=s.now))
    age_days = (s.now - taken) / DAY
    if not ok:
        return Item("snapshots", title, FAIL, f"the newest snapshot does not restore: {text}", ev)
    if age_days > p.snapshot_max_age_days:
        return Item("snapshots", title, FAIL, f"the newest snapshot is {age_days:.1f} days old "
                    f"(at most {p.snapshot_max_age_days:g} allowed)", ev)
    return Item("snapshots", title, PASS, f"{newest.name} ({age_days * 24:.1f} h old) restored: {text}", ev)


_RESTORED: dict[tuple[Any, ...], tuple[bool, str]] = {}


def _restored(snapshot: Path) -> tuple[bool, str]:
    """``restore_check``, once per state of the snapshot's files: ``serve`` answers the readiness
    page without copying gigabytes on every view, and a changed file is restored again."""
    files = sorted((str(f), f.stat().st_size, f.stat().st_mtime_ns)
                   for f in snapshot.rglob("*") if f.is_file())
    key = (str(snapshot), tuple(files))
    if key not in _RESTORED:
        if len(_RESTORED) > 16:
            _RESTORED.clear()
        _RESTORED[key] = restore_check(snapshot)
    return _RESTORED[key]


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
    source = "/api/v1/slos" if s.slo_list is not None else f"{redact_url(s.url)}/api/v1/slos"
    if s.slo_list is not None:
        data = s.slo_list()
    elif not s.url:
        return Item("slos", title, UNKNOWN, f"{len(s.inp.slos)} SLOs defined; their budgets need --url "
                    "pointing at guardia (/api/v1/slos)", ev, required=p.slos_required)
    else:
        import httpx  # here: ~2 MiB resident, and most servers never make this request (#28)

        try:
            r = httpx.get(s.url.rstrip("/") + "/api/v1/slos", timeout=15, headers=auth_headers())
            data = r.json()["data"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as e:
            return Item("slos", title, UNKNOWN, f"{redact_url(s.url)} has no /api/v1/slos (a Prometheus has "
                        f"no SLOs): {type(e).__name__}", ev, required=p.slos_required)
    spent = []
    for d in data:
        left = (d.get("status") or {}).get("errorBudgetRemaining")
        ev.append(Evidence(f'{d.get("service")}/{d.get("name")}: budget left',
                           query=source, value="no data" if left is None else f"{left:.1%}",
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
    """guardia's own web config (TLS, users and roles, no anonymous admin), each fact at its
    file:line, and what the server at ``--url`` does (an unauthenticated request to an
    admin-only route, the certificate it serves)."""
    title = "Access: the web endpoints require authentication and serve TLS"
    req = p.auth_tls_required
    found: list[access.Access] = []
    if s.web_config_file:
        found.append(access.from_web_config(s.web_config_file, s.now))
    elif s.serving:
        found.append(access.Access(False, False, [access.Fact(
            False, "guardia serves without --web.config.file: plain HTTP and no sign-in, so anyone who "
                   "reaches the port is admin (see docs/auth.md)")]))
    if s.url:
        found.append(access.from_url(s.url, found[0].cert_file if found else ""))
    if not found:
        return Item("auth-tls", title, UNKNOWN, "give --web.config.file (the file guardia serves with) or "
                    "--url to check access", required=req)
    facts = [f for a in found for f in a.facts or []]
    ev = [Evidence(f.text, query=f.query, value=f.value, file=f.file, line=f.line,
                   timestamp=s.now if f.query else None) for f in facts]
    tls, auth = _all(a.tls for a in found), _all(a.auth for a in found)
    bad = [f for f in facts if f.ok is False]
    off = [w for w, on in (("authentication", auth), ("TLS", tls)) if on is False]
    if off or bad:
        others = len(bad) - len(off)
        summary = (f"{' and '.join(off)} off" if off else "") \
            + ("; " if off and others > 0 else "") + (f"{others} problems" if others > 0 else "")
        return Item("auth-tls", title, FAIL, summary or f"{len(bad)} problems", ev, required=req)
    if tls is None or auth is None:
        missing = " and ".join(w for w, on in (("authentication", auth), ("TLS", tls)) if on is None)
        return Item("auth-tls", title, UNKNOWN, f"{missing} could not be checked", ev, required=req)
    return Item("auth-tls", title, PASS, "authentication and TLS are on, and no anonymous request is admin",
                ev, required=req)


def _all(values: Any) -> bool | None:
    """False if any source says off, True if one says on and none off, None if none knows."""
    vs = [v for v in values if v is not None]
    return None if not vs else all(vs)


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

