"""Fuzzing (hypothesis) the API's parameters, the sign-in form, credentials and write bodies
on a signed-in guardia: never a 500, never a stack trace, never a secret (a password, a bcrypt
hash, an API token, a session id) in an answer or in the server's log.

The server is ``guardia serve`` in its own process, as users run it, with its log in a file."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.web.auth.conftest import CONFIG, PASSWORDS, web_yaml

REPO = Path(__file__).resolve().parents[3]
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class Server:
    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        (tmp / "guardia.yml").write_text(CONFIG)
        self.web = web_yaml(guardia="  failed_logins: {per_account: 1000000, per_address: 1000000}\n")
        (tmp / "web.yml").write_text(self.web)
        self.log = tmp / "serve.log"
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "guardia.cli.main",
                "serve",
                "--config",
                str(tmp / "guardia.yml"),
                "--web.config.file",
                str(tmp / "web.yml"),
                "--storage.tsdb.path",
                str(tmp / "data"),
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
                "--web.enable-admin-api",
                "--log.level",
                "debug",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
            env=env,
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http.get("/-/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("guardia serve did not start: " + self.log.read_text()[-2000:])
        r = self.http.post("/-/auth/login", data={"username": "eve", "password": PASSWORDS["eve"]})
        self.session = r.cookies["guardia_session"]
        self.csrf = r.cookies["guardia_csrf"]
        self.http.cookies.clear()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "guardia.cli.main",
                "token",
                "create",
                "--name",
                "fuzz",
                "--role",
                "admin",
                "--storage.tsdb.path",
                str(tmp / "data"),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        self.token = out.stdout.strip()
        hashes = [line.split(": ", 1)[1] for line in self.web.splitlines() if ": $2" in line]
        self.secrets = [*PASSWORDS.values(), *hashes, self.token, self.session]

    def check(self, r: httpx.Response) -> None:
        assert r.status_code < 500 or r.status_code == 503, (
            r.request.method,
            r.request.url,
            r.status_code,
            r.text,
        )
        body = r.text
        assert "Traceback" not in body and 'File "' not in body, body[:500]
        for s in self.secrets:
            assert s not in body, (r.request.url, "secret in the answer")

    def close(self) -> None:
        self.http.close()
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("fuzz"))
    try:
        yield s
    finally:
        s.close()
        log = s.log.read_text()
        assert "Traceback" not in log, log[-3000:]
        for secret in s.secrets:
            assert secret not in log, "a secret reached the server's log"


def _admin() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"ada:{PASSWORDS['ada']}".encode()).decode()}


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
PARAMS = [
    "query",
    "time",
    "start",
    "end",
    "step",
    "timeout",
    "match[]",
    "limit",
    "since",
    "until",
    "user",
    "action",
    "stats",
    "lookback_delta",
    "direction",
]
GETS = [
    "/api/v1/query",
    "/api/v1/query_range",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/job/values",
    "/api/v1/audit/log",
    "/api/v1/targets",
    "/api/v1/rules",
    "/api/v2/silences",
    "/api/v2/alerts",
    "/loki/api/v1/query_range",
    "/federate",
    "/audit-log",
    "/targets",
    "/explore",
    "/probe",
]


@FUZZ
@given(
    path=st.sampled_from(GETS), params=st.lists(st.tuples(st.sampled_from(PARAMS) | text, text), max_size=5)
)
def test_api_parameters(server: Server, path: str, params: list[tuple[str, str]]) -> None:
    server.check(server.http.get(path, params=params, headers=_admin()))


@FUZZ
@given(username=text, password=text, next_=text)
def test_the_sign_in_form(server: Server, username: str, password: str, next_: str) -> None:
    r = server.http.post("/-/auth/login", data={"username": username, "password": password, "next": next_})
    server.check(r)
    assert r.status_code in (200, 303), r.status_code
    if r.status_code == 303:
        assert r.headers["location"].startswith("/") and not r.headers["location"].startswith("//")
    server.http.cookies.clear()


@FUZZ
@given(value=text | st.binary(max_size=40).map(lambda b: "Basic " + base64.b64encode(b).decode()))
def test_authorization_headers(server: Server, value: str) -> None:
    try:
        r = server.http.get("/api/v1/labels", headers={"Authorization": value})
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # not a header value a client can send
    server.check(r)
    assert r.status_code in (200, 400, 401, 429)  # 400: a header value the HTTP parser refuses


json_value: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
WRITES = [
    "/api/v2/silences",
    "/api/dashboards/db",
    "/api/ui/dashboards/import",
    "/status/public/manage/incidents",
    "/status/public/manage/maintenance",
    "/api/v2/alerts",
]


@FUZZ
@given(
    path=st.sampled_from(WRITES),
    body=json_value,
    form=st.dictionaries(text, text, max_size=4),
    as_form=st.booleans(),
)
def test_write_bodies_from_a_signed_in_editor(
    server: Server, path: str, body: Any, form: dict[str, str], as_form: bool
) -> None:
    headers = {"Cookie": f"guardia_session={server.session}", "X-CSRF-Token": server.csrf}
    if as_form:
        r = server.http.post(path, data=form, headers=headers)
    else:
        r = server.http.post(path, json=body, headers=headers)
    server.check(r)
    assert r.status_code not in (401, 403), r.text
