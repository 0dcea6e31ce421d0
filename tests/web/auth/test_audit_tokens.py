"""The audit log (append-only, fsynced, chained, kept across restarts, queryable) and API
tokens (hashed at rest, shown once, revocable, expiring), with the CLI that manages them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from guardia.web.auth import AuditLog, AuditQuery, TokenStore
from tests.web.auth.conftest import PASSWORDS, running, web_yaml

REPO = Path(__file__).resolve().parents[3]


def test_entries_are_kept_across_restarts_and_queried_newest_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    log.append("silence.create", "eve", request={"comment": "db upgrade", "password": "hunter2"})
    log.append("silence.expire", "eve", path="/api/v2/silence/abc")
    log.append("config.reload", "ada", status=200)
    again = AuditLog(tmp_path)  # a new process
    assert [e["action"] for e in again.query(AuditQuery())] == [
        "config.reload",
        "silence.expire",
        "silence.create",
    ]
    assert [e["action"] for e in again.query(AuditQuery(action="silence."))] == [
        "silence.expire",
        "silence.create",
    ]
    assert [e["user"] for e in again.query(AuditQuery(user="ada"))] == ["ada"]
    assert len(again.query(AuditQuery(limit=1))) == 1
    first = again.query(AuditQuery(action="silence.create"))[0]
    assert first["request"] == {"comment": "db upgrade", "password": "<secret>"}
    assert "hunter2" not in again.path.read_text()
    assert oct(again.path.stat().st_mode & 0o777) == "0o600"
    assert again.verify() is None


def test_an_edited_or_removed_line_breaks_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    for i in range(4):
        log.append("dashboard.save", "eve", uid=f"d{i}")
    lines = log.path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["user"] = "someone-else"
    log.path.write_text(
        "\n".join([lines[0], json.dumps(edited, separators=(",", ":"), sort_keys=True), *lines[2:]]) + "\n"
    )
    assert log.verify() == 3
    log.path.write_text("\n".join([lines[0], *lines[2:]]) + "\n")
    assert log.verify() == 2


def test_tokens_are_hashed_at_rest_expire_and_revoke(tmp_path: Path) -> None:
    store = TokenStore(tmp_path)
    token, text = store.create("ci-deploy", "editor")
    assert text.startswith(f"gdt_{token.id}_") and text not in store.path.read_text()
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    assert (
        store.verify(text) == token and store.verify(text + "x") is None and store.verify("gdt_x_y") is None
    )
    _, short_text = store.create("once", "viewer", ttl_s=0.05)
    time.sleep(0.1)
    assert store.verify(short_text) is None
    assert [t.name for t in TokenStore(tmp_path).list()] == ["ci-deploy", "once"]
    store.revoke(token.id)
    assert store.verify(text) is None


def _cli(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "guardia.cli.main", "token", *args, "--storage.tsdb.path", str(data)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_the_cli_token_works_on_a_running_server_and_is_audited(tmp_path: Path) -> None:
    async with running(tmp_path, web_yaml()) as proc:
        data = tmp_path / "data"
        out = _cli("create", "--name", "grafana", "--role", "viewer", "--expires", "30d", data=data)
        assert out.returncode == 0, out.stderr
        text = out.stdout.strip()
        assert text.startswith("gdt_") and "shown only now" in out.stderr
        async with httpx.AsyncClient(base_url=f"http://{proc.listen}") as c:
            bearer = {"Authorization": f"Bearer {text}"}
            assert (await c.get("/api/v1/labels", headers=bearer)).status_code == 200
            assert (await c.post("/-/reload", headers=bearer)).status_code == 403
            listed = _cli("list", data=data)
            assert "grafana" in listed.stdout and "viewer" in listed.stdout and text not in listed.stdout
            token_id = text.split("_")[1]
            assert _cli("revoke", token_id, data=data).returncode == 0
            assert (await c.get("/api/v1/labels", headers=bearer)).status_code == 401
            assert _cli("revoke", "nope", data=data).returncode == 1
            bad = _cli("create", "--name", "x", "--role", "root", data=data)
            assert bad.returncode != 0 and "unknown role 'root'" in bad.stderr
            r = await c.get("/api/v1/audit/log", params={"action": "token."}, auth=("ada", PASSWORDS["ada"]))
            assert [e["action"] for e in r.json()["data"]] == ["token.revoke", "token.create"]
            assert r.json()["data"][1]["name"] == "grafana" and r.json()["data"][1]["user"].startswith("cli")
            r = await c.get("/api/v1/audit/log", auth=("vic", PASSWORDS["vic"]))
            assert r.status_code == 403  # the audit log is for admins
            r = await c.get(
                "/api/v1/audit/log", params={"since": "yesterday"}, auth=("ada", PASSWORDS["ada"])
            )
            assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
            page = await c.get("/audit-log", params={"action": "token."}, auth=("ada", PASSWORDS["ada"]))
            assert page.status_code == 200 and "token.create" in page.text and "grafana" in page.text
        assert proc.auth.audit.verify() is None
