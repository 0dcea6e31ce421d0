"""What a newcomer reads and runs first: the examples, docs/configuration.md and the links.

- every guardia.yml section has its place in docs/configuration.md (a section added later
  without documentation fails here);
- every example folder has a README and a guardia.yml that checks clean and serves as it is,
  delivering to the local notification sink with no secret set;
- no link in the README or the docs leaves the repository (a clone elsewhere has nothing beside it).
"""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from guardia.cli.check_config import run as check_config
from guardia.config.kinds import GUARDIA_KEYS, PROMETHEUS_KEYS

ROOT = Path(__file__).parents[1]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if p.is_dir())
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_configuration_reference_has_every_section() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    headings = " ".join(line for line in doc.splitlines() if line.startswith("### "))
    missing = sorted(k for k in GUARDIA_KEYS | PROMETHEUS_KEYS if not re.search(rf"\b{k}\b", headings))
    assert not missing, f"docs/configuration.md has no ### heading for: {missing}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_has_a_readme_and_a_clean_guardia_yml(example: Path) -> None:
    assert (example / "README.md").is_file()
    assert "guardia serve --config examples/" in (example / "README.md").read_text(encoding="utf-8")
    out = io.StringIO()
    assert check_config([example / "guardia.yml"], out=out) == 0, out.getvalue()
    assert out.getvalue().startswith("OK, 0 warnings"), out.getvalue()


def _links(md: Path) -> list[str]:
    return re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", md.read_text(encoding="utf-8"))


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *(e / "README.md" for e in EXAMPLES)]


@pytest.mark.parametrize("md", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_links_stay_inside_the_repository_and_resolve(md: Path) -> None:
    for link in _links(md):
        if re.match(r"^[a-z]+://", link) or link.startswith("mailto:"):
            continue
        target = (md.parent / link).resolve()
        assert target.is_relative_to(ROOT.resolve()), f"{md.name}: {link} leaves the repository"
        assert target.exists(), f"{md.name}: {link} does not exist"


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 40
    while time.time() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(url + "/-/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(log.read_text())


def test_the_runnable_example_serves_and_notifies_the_local_sink(tmp_path: Path) -> None:
    http_port, smtp_port, port = _free_port(), _free_port(), _free_port()
    sink = subprocess.Popen([sys.executable, "-u", str(ROOT / "examples" / "notification-sink.py"),
                             str(http_port), str(smtp_port)], stdout=subprocess.PIPE, text=True)
    log = tmp_path / "serve.log"
    env = {**ENV, "GAD_SLACK_WEBHOOK_URL": f"http://127.0.0.1:{http_port}/slack"}
    env.pop("GAD_SMTP_PASSWORD", None)
    with log.open("wb") as out:
        cmd = [sys.executable, "-m", "guardia.cli.main", "serve",
               "--config", "examples/grupo-gad/guardia.yml", "--web.listen-address", f"127.0.0.1:{port}",
               "--storage.tsdb.path", str(tmp_path / "d")]
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        assert sink.stdout is not None and sink.stdout.readline().startswith("notification sink:")
        _wait(url, proc, log)
        status = httpx.get(url + "/api/v2/status").json()
        assert "critical-alerts" in status["config"]["original"]
        assert httpx.get(url + "/api/v1/alertmanagers").json()["data"]["activeAlertmanagers"] == [
            {"url": f"{url}/api/v2/alerts"}]
        sent = httpx.post(url + "/api/v2/alerts", json=[{
            "labels": {"alertname": "APIDown", "severity": "critical", "component": "api"},
            "annotations": {"summary": "API down"}}])
        assert sent.status_code == 200
        got = sink.stdout.readline()  # blocks until the sink prints (test timeout bounds it)
        assert got.startswith("--- HTTP POST /slack"), got
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        sink.kill()
        sink.wait()


def test_a_plain_prometheus_yml_says_there_is_no_alertmanager(tmp_path: Path) -> None:
    port = _free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("scrape_configs:\n  - job_name: self\n"
                   f"    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "guardia.cli.main", "serve", "--config", str(cfg),
                                 "--web.listen-address", f"127.0.0.1:{port}", "--storage.tsdb.path",
                                 str(tmp_path / "d")], stdout=out, stderr=subprocess.STDOUT, env=ENV)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc, log)
        assert "event=no_alertmanager" in log.read_text()
        status = httpx.get(url + "/api/v2/status").json()
        assert "no Alertmanager is configured" in status["config"]["original"]
        assert httpx.get(url + "/api/v2/alerts").status_code == 503
    finally:
        proc.terminate()
        proc.wait(timeout=20)
