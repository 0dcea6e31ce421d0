"""The probe sections of a guardia.yml, and a Blackbox exporter blackbox.yml taken as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardia.config.errors import ConfigError
from guardia.config.loader import load_config
from guardia.probes.config import load_probes
from guardia.probes.modules import default_modules, load_modules_file

GOOD = """
scrape_configs: []
probe_modules:
  api_json:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: [200]
      fail_if_body_not_matches_regexp: ['"status":\\s*"UP"']
probes:
  - name: api
    module: api_json
    targets: [https://api.example.com/health]
    interval: 15s
    retries: 2
    conditions: ["[STATUS] == 200", "[RESPONSE_TIME] < 300", "[BODY].status == UP"]
  - name: websocket
    prober: websocket
    websocket: {send: ping, expect: pong}
    targets: [wss://api.example.com/ws]
  - name: backup
    heartbeat: {token: nightly-backup-7f3a9c2e, period: 24h, grace: 1h}
status_pages:
  - slug: public
    title: GRUPO GAD status
    groups:
      - name: API
        probes: [api, websocket]
      - name: Jobs
        probes: [backup]
"""


def write(tmp_path: Path, text: str, name: str = "guardia.yml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_a_full_guardia_yml_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    load_config(path)  # the Prometheus side accepts the new sections
    cfg = load_probes(path)
    assert [m.name for m in cfg.monitors] == ["api", "websocket", "backup"]
    api = cfg.monitor("api")
    assert api is not None and api.module is not None and api.module.timeout == 5000
    assert api.interval_ms == 15000 and api.retries == 2 and len(api.conditions) == 3
    assert api.labels["job"] == "api"
    ws = cfg.monitor("websocket")
    assert ws is not None and ws.module is not None and ws.module.prober == "websocket"
    backup = cfg.monitor("backup")
    assert backup is not None and backup.is_heartbeat and backup.heartbeat is not None
    assert backup.heartbeat.period == 24 * 3600 * 1000
    assert "http_2xx" in cfg.modules and "api_json" in cfg.modules
    assert cfg.status_pages[0].groups[1].probes == ("backup",)


def test_the_debian_blackbox_yml_loads_as_is() -> None:
    path = Path("/etc/prometheus/blackbox.yml")
    if not path.exists():
        pytest.skip("no /etc/prometheus/blackbox.yml (Debian prometheus-blackbox-exporter)")
    mods = load_modules_file(str(path))
    assert set(mods) <= set(default_modules())
    assert mods["irc_banner"].tcp.query_response[2].send == "PONG ${1}"


def test_default_modules_are_the_exporters() -> None:
    for name in ("http_2xx", "http_post_2xx", "tcp_connect", "pop3s_banner", "grpc", "ssh_banner",
                 "irc_banner", "icmp", "dns_udp"):
        assert name in default_modules()


def test_modules_file_by_reference(tmp_path: Path) -> None:
    write(tmp_path, "modules:\n  tls_only:\n    prober: tcp\n    tcp: {tls: true}\n", "blackbox.yml")
    path = write(tmp_path, "probe_modules: {file: blackbox.yml}\nprobes:\n"
                           "  - {name: db, module: tls_only, targets: ['db:5432']}\n")
    assert load_probes(path).modules["tls_only"].tcp.tls


@pytest.mark.parametrize(("text", "where", "what"), [
    ("probes:\n  - {name: a, module: htp_2xx, targets: [x]}\n", ":2:", "unknown module 'htp_2xx'"),
    ("probe_modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_matches_regexp: ['(']\n",
     ":5:", "invalid regular expression"),
    ("probe_modules:\n  m:\n    prober: dns\n", ":3:", "query_name"),
    ("probe_modules:\n  m:\n    prober: smtp\n", ":3:", "prober"),
    ("probes:\n  - {name: a, module: http_2xx}\n", ":2:", "needs targets"),
    ("probes:\n  - name: a\n    heartbeat: {token: short}\n", ":3:", "at least 16"),
    ("probes:\n  - name: a\n    module: http_2xx\n    targets: [x]\n    conditions: ['[STATUS] = 200']\n",
     ":5:", "LEFT OPERATOR RIGHT"),
    ("probes:\n  - name: a\n    module: http_2xx\n    targets: [x]\n    conditions: ['[STAUS] == 200']\n",
     ":5:", "unknown placeholder [STAUS]"),
    ("status_pages:\n  - slug: Public Page\n    title: x\n", ":2:", "slug 'Public Page'"),
    ("status_pages:\n  - slug: p\n    title: x\n    groups: [{name: g, probes: [nope]}]\n", ":4:",
     "no probe named 'nope'"),
    ("status_pages:\n  - {slug: p, title: x, public: false}\n", ":2:", "needs auth"),
])
def test_bad_sections_name_file_line_and_fix(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_probes(path)
    msg = str(err.value)
    assert "guardia.yml" + where in msg and what in msg, msg


def test_check_config_reports_probe_mistakes_with_file_and_line(tmp_path: Path) -> None:
    from guardia.cli.check_config import collect

    path = write(tmp_path, "scrape_configs: []\nprobes:\n  - {name: a, module: htp_2xx, targets: [x]}\n")
    _, issues = collect([Path(path)])
    assert [(i.line, i.path) for i in issues] == [(3, "probes[0].module")]
    assert "unknown module 'htp_2xx'" in issues[0].message
    good = write(tmp_path, GOOD, "good.yml")
    assert collect([Path(good)])[1] == []
